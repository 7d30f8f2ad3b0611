//! Prometheus metrics read back as a scraper reads them, and checked by `promtool`
//! when a test run names it.

use std::{io::Write, process::Stdio};

/// The variable naming a `promtool` binary; when set, every scrape must pass
/// `promtool check metrics`.
pub const PROMTOOL_VARIABLE: &str = "BOOKSHELF_PROMTOOL";

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name (`_bucket`, `_sum`, `_count` included for histograms).
    pub name: String,
    /// The labels, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// What one `/metrics` answered.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The exposition text as served.
    pub text: String,
    /// Its samples.
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Scrapes `url` over HTTP, asserting 200 and the Prometheus text content type,
    /// and, when [`PROMTOOL_VARIABLE`] names `promtool`, that it passes its check.
    pub async fn fetch(url: &str) -> Self {
        let response = reqwest::get(url)
            .await
            .expect("the metrics listener answers");
        assert_eq!(response.status(), 200, "{url}");
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let text = response.text().await.expect("a body");
        if let Some(promtool) = std::env::var_os(PROMTOOL_VARIABLE) {
            promtool_check(&promtool, &text);
        }
        Self::parse(&text)
    }

    /// Parses exposition text.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| parse_sample(line).unwrap_or_else(|| panic!("malformed line: {line}")))
            .collect();
        Self {
            text: text.to_owned(),
            samples,
        }
    }

    /// The samples of `name` that carry every label of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |sample| {
            sample.name == name
                && labels.iter().all(|(key, value)| {
                    sample
                        .labels
                        .iter()
                        .any(|(have_key, have_value)| have_key == key && have_value == value)
                })
        })
    }

    /// The sum of the samples of `name` that carry every label of `labels`, or `None`
    /// when there is no such sample.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut matching = self.matching(name, labels).peekable();
        matching.peek()?;
        Some(matching.map(|sample| sample.value).sum())
    }

    /// Like [`Scrape::value`], panicking with the scrape when there is no such sample.
    pub fn expect(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or_else(|| {
            panic!("no sample {name} {labels:?} in:\n{}", self.text);
        })
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Some(Sample {
            name: series.to_owned(),
            labels: Vec::new(),
            value,
        });
    };
    let mut labels = Vec::new();
    let mut chars = rest.strip_suffix('}')?.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            break;
        }
        if chars.next()? != '"' {
            return None;
        }
        let mut label_value = String::new();
        loop {
            match chars.next()? {
                '\\' => label_value.push(chars.next()?),
                '"' => break,
                c => label_value.push(c),
            }
        }
        labels.push((key.trim_start_matches(',').to_owned(), label_value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn promtool_check(promtool: &std::ffi::OsStr, text: &str) {
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("a stdin")
        .write_all(text.as_bytes())
        .expect("promtool reads the scrape");
    let output = child.wait_with_output().expect("promtool ends");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\non:\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::Scrape;

    #[test]
    fn labels_with_braces_commas_and_escapes_parse() {
        let scrape = Scrape::parse(
            "# HELP x y\n# TYPE x counter\n\
             x{route=\"/books/{id}\",note=\"a,b \\\"c\\\"\"} 3\n\
             x{route=\"/users\"} 2\nplain 1.5\n",
        );
        assert_eq!(scrape.expect("x", &[("route", "/books/{id}")]), 3.0);
        assert_eq!(scrape.expect("x", &[("note", "a,b \"c\"")]), 3.0);
        assert_eq!(scrape.expect("x", &[]), 5.0);
        assert_eq!(scrape.expect("plain", &[]), 1.5);
        assert!(scrape.value("x", &[("route", "/nope")]).is_none());
    }
}
