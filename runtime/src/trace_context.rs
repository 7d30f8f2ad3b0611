//! The W3C Trace Context `traceparent` header: which trace a request belongs to, so
//! its log lines can be followed from the gateway through each service it calls.
//!
//! Only `traceparent` is read; a value that does not parse starts a new trace, as the
//! specification asks, rather than being passed on.

use std::fmt;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// The header (and gRPC metadata key) that carries the trace context.
pub const TRACEPARENT: &str = "traceparent";

/// One hop's trace context: the trace it belongs to, the caller's span, and the
/// caller's sampling decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: u128,
    parent_id: u64,
    flags: u8,
}

/// `len` lower-case hex digits, as the specification requires (upper case is invalid).
fn hex(text: &str, len: usize) -> Option<u128> {
    if text.len() != len
        || !text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

impl TraceParent {
    /// Parses a `traceparent` value. Versions after `00` are read by their first four
    /// fields, as the specification asks; `ff`, all-zero ids and malformed values are
    /// refused.
    pub fn parse(value: &str) -> Option<Self> {
        let version = hex(value.get(..2)?, 2)?;
        if version == 0xff || (version == 0 && value.len() != 55) {
            return None;
        }
        if value.len() > 55 && value.as_bytes()[55] != b'-' {
            return None;
        }
        let fields = value.get(..55)?;
        let mut parts = fields.split('-');
        let (_, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let trace_id = hex(trace_id, 32)?;
        let parent_id = u64::try_from(hex(parent_id, 16)?).ok()?;
        let flags = u8::try_from(hex(flags, 2)?).ok()?;
        if trace_id == 0 || parent_id == 0 {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new trace, sampled (this process records every request it serves).
    pub fn start() -> Self {
        Self {
            trace_id: nonzero(rand::random()),
            parent_id: nonzero(rand::random::<u64>().into()) as u64,
            flags: 0x01,
        }
    }

    /// The context this hop passes on: the same trace, with a span id of its own.
    pub fn child(&self) -> Self {
        Self {
            parent_id: nonzero(rand::random::<u64>().into()) as u64,
            ..*self
        }
    }

    /// Whether the caller traced its part of the request (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.flags & 0x01 != 0
    }

    /// The same context with the `sampled` flag set or cleared; the other flags stay.
    pub fn with_sampled(self, sampled: bool) -> Self {
        Self {
            flags: if sampled {
                self.flags | 0x01
            } else {
                self.flags & !0x01
            },
            ..self
        }
    }

    /// The trace id's last eight bytes, where its randomness is.
    pub(crate) fn trace_id_low(&self) -> u64 {
        self.trace_id as u64
    }

    /// The trace id as 32 hex digits, as it appears in every hop's log lines.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The caller's span as the remote parent of this hop's span.
    pub(crate) fn remote_parent(&self) -> SpanContext {
        SpanContext::new(
            TraceId::from(self.trace_id),
            SpanId::from(self.parent_id),
            TraceFlags::new(self.flags),
            true,
            TraceState::default(),
        )
    }

    /// The context that makes `span` the parent of the callee's span, when `span` is
    /// a real one.
    pub(crate) fn of_span(span: &SpanContext) -> Option<Self> {
        span.is_valid().then(|| Self {
            trace_id: u128::from_be_bytes(span.trace_id().to_bytes()),
            parent_id: u64::from_be_bytes(span.span_id().to_bytes()),
            flags: span.trace_flags().to_u8(),
        })
    }
}

/// Ids are never all zeros (the specification reserves that as invalid).
fn nonzero(id: u128) -> u128 {
    id.max(1)
}

impl fmt::Display for TraceParent {
    /// The header value, always version `00`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_is_continued_with_a_new_span() {
        let parent = TraceParent::parse(VALID).expect("valid");
        assert_eq!(parent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.to_string(), VALID);
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.to_string(), VALID);
        assert!(TraceParent::parse(&child.to_string()).is_some());
    }

    #[test]
    fn a_span_context_round_trips_through_the_header() {
        let parent = TraceParent::parse(VALID).expect("valid");
        let remote = parent.remote_parent();
        assert!(remote.is_remote() && remote.is_sampled());
        assert_eq!(format!("{:032x}", remote.trace_id()), parent.trace_id());
        assert_eq!(TraceParent::of_span(&remote), Some(parent));
        let unsampled = TraceParent::parse(&VALID.replace("-01", "-00")).expect("valid");
        assert!(!unsampled.remote_parent().is_sampled());
        assert_eq!(parent.with_sampled(false), unsampled);
        assert!(parent.sampled() && !unsampled.sampled());
        assert_eq!(unsampled.with_sampled(true), parent);
        assert_eq!(
            TraceParent::of_span(&opentelemetry::trace::SpanContext::NONE),
            None
        );
    }

    #[test]
    fn later_versions_are_read_by_their_first_fields() {
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        let parent = TraceParent::parse(future).expect("a later version");
        // Passed on as version 00, the only version this code writes.
        assert_eq!(parent.to_string(), VALID);
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "00",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad:?}");
        }
    }
}
