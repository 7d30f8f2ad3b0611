//! The web app at `/`: the page and every file it loads (followed through the modules'
//! imports) served by the gateway with their types and the strict policy, no inline
//! script or style and no string turned into markup, the QR route for TOTP, and the
//! REST API's answers left as they were.

use std::collections::{BTreeSet, VecDeque};

use bookshelf_test_support::InProcessStack;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

/// Each directive the app's answers must carry, as the policy spells it.
const DIRECTIVES: [&str; 8] = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "require-trusted-types-for 'script'",
];

/// The same-origin files `text` refers to: `src` and `href` attributes in HTML,
/// `from '...'` and `import('...')` in modules, resolved against `base`'s folder.
fn references(text: &str, base: &str) -> Vec<String> {
    let folder = &base[..=base.rfind('/').expect("an absolute path")];
    let mut found = Vec::new();
    for marker in ["src=\"", "href=\"", "from '", "import('"] {
        for piece in text.split(marker).skip(1) {
            let end = piece.find(['"', '\'']).expect("a closing quote");
            let target = &piece[..end];
            if target.starts_with("data:") || target.starts_with('#') || target == "/docs/" {
                continue;
            }
            assert!(
                !target.contains("//"),
                "{base} refers to another host: {target}"
            );
            found.push(match target.strip_prefix("./") {
                Some(relative) => format!("{folder}{relative}"),
                None => target.to_owned(),
            });
        }
    }
    found
}

fn expected_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "text/html; charset=utf-8",
    }
}

#[tokio::test]
async fn the_page_and_every_file_it_loads_are_served_with_their_type_and_the_policy() {
    let stack = InProcessStack::spawn().await;
    let client = reqwest::Client::new();
    let mut queue = VecDeque::from(["/".to_owned()]);
    let mut seen = BTreeSet::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = client
            .get(format!("{}{path}", stack.http))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(
            headers[header::CONTENT_TYPE],
            expected_type(&path),
            "{path}"
        );
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        let given: BTreeSet<&str> = policy.split(';').map(str::trim).collect();
        for directive in DIRECTIVES {
            assert!(given.contains(directive), "{path}: {directive} in {policy}");
        }
        // Covers are named by the public URL, here the gateway's own address.
        let images = format!("img-src 'self' {} data:", stack.http);
        assert!(
            given.contains(images.as_str()),
            "{path}: {images} in {policy}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        let text = response.text().await.unwrap();
        if path == "/" {
            assert!(text.contains("<script type=\"module\" src=\"/app/app.js\">"));
            // Everything inline is refused by the policy, so none may be written.
            for inline in ["<style", " style=", "<script>", " onclick=", " onload="] {
                assert!(!text.contains(inline), "inline {inline} in the page");
            }
        }
        if path.ends_with(".js") {
            // Markup is never built from strings: data stays text.
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
            ] {
                assert!(!text.contains(sink), "{path} uses {sink}");
            }
        }
        queue.extend(references(&text, &path));
    }
    for file in [
        "/app/app.js",
        "/app/app.css",
        "/app/api.js",
        "/app/books.js",
    ] {
        assert!(seen.contains(file), "{file} is reached from the page");
    }
}

#[tokio::test]
async fn a_totp_url_is_drawn_as_an_svg_qr_code_and_other_text_is_refused() {
    let stack = InProcessStack::spawn().await;
    let client = reqwest::Client::new();
    let url = "otpauth://totp/Bookshelf:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Bookshelf";
    let response = client
        .post(format!("{}/app/qr.svg", stack.http))
        .json(&json!({"text": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    assert!(
        response
            .headers()
            .contains_key(header::CONTENT_SECURITY_POLICY)
    );
    let svg = response.text().await.unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");

    for body in [
        json!({"text": "https://example.com/"}),
        json!({"text": format!("otpauth://{}", "a".repeat(600))}),
        json!({}),
    ] {
        let response = client
            .post(format!("{}/app/qr.svg", stack.http))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(answer["error"]["text"].is_string(), "{answer}");
    }
}

#[tokio::test]
async fn the_rest_api_answers_as_before_without_the_apps_headers() {
    let stack = InProcessStack::spawn().await;
    let client = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/healthz"),
        (reqwest::Method::GET, "/books/"),
        (reqwest::Method::GET, "/no/such/route"),
        (reqwest::Method::GET, "/app/no-such-file.js"),
    ] {
        let response = client
            .request(method, format!("{}{path}", stack.http))
            .send()
            .await
            .unwrap();
        assert!(
            !response
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY),
            "{path}"
        );
        if path != "/healthz" {
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/json",
                "{path}"
            );
        }
    }
}
