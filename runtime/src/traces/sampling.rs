//! Which requests are traced, decided once where a request enters a part and before
//! any span is made. A request that is not sampled builds no span at all, neither its
//! server span nor the client and database spans under it, so sampling 1% of
//! requests costs about 1% of what tracing every one does. Left to the SDK, the
//! decision would come only after every span and its attributes had been built and
//! handed through the `tracing` layer, to be dropped there.
//!
//! The sampler is the one the standard variables name (`OTEL_TRACES_SAMPLER`,
//! `OTEL_TRACES_SAMPLER_ARG`), with the specification's meaning: a parent-based
//! sampler follows the caller's sampled flag and decides itself only for a request
//! that arrives without one; `traceidratio` keeps a trace when its id falls under
//! the ratio, so every part that sees the id decides alike. A part that does not
//! sample a request passes the flag on unset, so the parts it calls do not start a
//! fragment of a trace the caller left out.

use std::sync::OnceLock;

use crate::trace_context::TraceParent;

/// What the sampler does with a request that arrives with no caller's decision, or
/// with every request when it is not parent-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Always,
    Never,
    /// Kept when the trace id's random part (its last 63 bits, as the
    /// specification's `TraceIdRatioBased` reads them) is below this bound.
    Ratio(u64),
}

/// The sampler of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sampler {
    parent_based: bool,
    root: Root,
}

/// Why a sampler setting was not taken as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SamplerWarning {
    /// A sampler this build does not have; the default is used.
    #[error("OTEL_TRACES_SAMPLER={0:?} is not supported here: sampling as parentbased_always_on")]
    Unknown(String),
    /// A ratio that is not a number from 0 to 1; 1 is used.
    #[error("OTEL_TRACES_SAMPLER_ARG={0:?} is not a ratio from 0 to 1: sampling every trace")]
    Ratio(String),
}

impl Default for Sampler {
    /// The specification's default: follow the caller, keep every new trace.
    fn default() -> Self {
        Self {
            parent_based: true,
            root: Root::Always,
        }
    }
}

impl Sampler {
    /// The sampler the variables `var` reads name, and what was not understood.
    pub(crate) fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> (Self, Option<SamplerWarning>) {
        let set = |name: &str| {
            var(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let Some(name) = set("OTEL_TRACES_SAMPLER") else {
            return (Self::default(), None);
        };
        let mut warning = None;
        let mut ratio = || match set("OTEL_TRACES_SAMPLER_ARG") {
            None => Root::Always,
            Some(text) => match text.parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => Root::ratio(ratio),
                _ => {
                    warning = Some(SamplerWarning::Ratio(text));
                    Root::Always
                }
            },
        };
        let (parent_based, root) = match name.to_ascii_lowercase().as_str() {
            "always_on" => (false, Root::Always),
            "always_off" => (false, Root::Never),
            "traceidratio" => (false, ratio()),
            "parentbased_always_on" => (true, Root::Always),
            "parentbased_always_off" => (true, Root::Never),
            "parentbased_traceidratio" => (true, ratio()),
            _ => return (Self::default(), Some(SamplerWarning::Unknown(name))),
        };
        (Self { parent_based, root }, warning)
    }

    /// Whether the request whose caller's context is `caller` is traced here.
    pub(crate) fn samples(&self, caller: Option<&TraceParent>) -> bool {
        match (self.parent_based, caller) {
            (true, Some(caller)) => caller.sampled(),
            (_, caller) => match self.root {
                Root::Always => true,
                Root::Never => false,
                Root::Ratio(bound) => {
                    // A new trace's id is drawn by the SDK once the span is made, so
                    // the draw here stands for it: one random number either way.
                    let random =
                        caller.map_or_else(rand::random::<u64>, |caller| caller.trace_id_low());
                    (random >> 1) < bound
                }
            },
        }
    }
}

impl Root {
    fn ratio(ratio: f64) -> Self {
        if ratio >= 1.0 {
            Self::Always
        } else {
            // Exactly the specification's bound: ratio x 2^63, truncated.
            Self::Ratio((ratio * (1u64 << 63) as f64) as u64)
        }
    }
}

/// The sampler, set once when traces are turned on.
static SAMPLER: OnceLock<Sampler> = OnceLock::new();

/// Sets the process's sampler; the first one set stays.
pub(crate) fn install(sampler: Sampler) {
    let _ = SAMPLER.set(sampler);
}

/// Whether this part traces the request whose caller sent `caller`: never while
/// traces are off.
pub fn sampled(caller: Option<&TraceParent>) -> bool {
    super::enabled() && SAMPLER.get().copied().unwrap_or_default().samples(caller)
}

/// The context a request this part does not trace passes on, for the log lines of
/// every part it reaches: the caller's, or a new trace. With traces on here, it says
/// "not sampled", so the parts called leave the request out too; with traces off,
/// the caller's flag goes on unchanged (a new trace is marked sampled, as the parts
/// called would have decided alone).
pub fn passed_on(caller: Option<TraceParent>) -> TraceParent {
    let context = caller.unwrap_or_else(TraceParent::start);
    if super::enabled() {
        context.with_sampled(false)
    } else {
        context
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{Root, Sampler, SamplerWarning};
    use crate::trace_context::TraceParent;

    fn sampler(pairs: &[(&str, &str)]) -> (Sampler, Option<SamplerWarning>) {
        let vars: HashMap<&str, &str> = pairs.iter().copied().collect();
        Sampler::from_vars(|name| vars.get(name).map(|value| value.to_string()))
    }

    fn caller(trace_id: &str, flags: &str) -> TraceParent {
        TraceParent::parse(&format!("00-{trace_id}-00f067aa0ba902b7-{flags}")).unwrap()
    }

    const LOW: &str = "4bf92f3577b34da60000000000000001";
    const HIGH: &str = "4bf92f3577b34da6fffffffffffffffe";

    #[test]
    fn the_standard_samplers_are_read_by_name() {
        assert_eq!(sampler(&[]), (Sampler::default(), None));
        let (on, _) = sampler(&[("OTEL_TRACES_SAMPLER", "always_on")]);
        assert!(!on.parent_based && on.root == Root::Always);
        let (ratio, warning) = sampler(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        ]);
        assert_eq!(warning, None);
        assert!(ratio.parent_based);
        assert_eq!(ratio.root, Root::Ratio(1 << 62));
        let (unknown, warning) = sampler(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]);
        assert_eq!(unknown, Sampler::default());
        assert!(matches!(warning, Some(SamplerWarning::Unknown(_))));
        let (bad, warning) = sampler(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ]);
        assert_eq!(bad.root, Root::Always);
        assert!(matches!(warning, Some(SamplerWarning::Ratio(_))));
    }

    #[test]
    fn a_parent_based_sampler_follows_the_caller_and_decides_new_traces_alone() {
        let (never_alone, _) = sampler(&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")]);
        assert!(never_alone.samples(Some(&caller(LOW, "01"))));
        assert!(!never_alone.samples(Some(&caller(LOW, "00"))));
        assert!(!never_alone.samples(None));
        let (always_alone, _) = sampler(&[]);
        assert!(!always_alone.samples(Some(&caller(LOW, "00"))));
        assert!(always_alone.samples(None));
    }

    #[test]
    fn a_ratio_keeps_the_traces_whose_ids_fall_under_it_whatever_the_caller_says() {
        let (ratio, _) = sampler(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.01"),
        ]);
        assert!(ratio.samples(Some(&caller(LOW, "00"))));
        assert!(!ratio.samples(Some(&caller(HIGH, "01"))));
        let kept = (0..100_000).filter(|_| ratio.samples(None)).count();
        assert!(
            (700..1_300).contains(&kept),
            "{kept} of 100,000 new traces kept"
        );
    }
}
