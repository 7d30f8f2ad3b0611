//! Every request gets an `x-request-id` (the client's, when it sent a sane one), kept
//! for the request's whole life: in its access line, in the metadata of each backend
//! call, in the response headers, and in the body of a 500.

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

/// The header and metadata key.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: HeaderValue;
}

/// The id of the request being served, if any.
pub(crate) fn current() -> Option<HeaderValue> {
    CURRENT.try_with(Clone::clone).ok()
}

/// A client's id is kept when it is short and plain; anything else is replaced, so a
/// client cannot stuff the logs.
fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(byte))
}

/// A random (version 4) UUID. Its bits come from the thread's own generator, seeded
/// once by the system: a request id is a label, not a secret, and asking the kernel
/// for every one costs a system call per request.
fn fresh_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
        .expect("a UUID is a valid header value")
}

/// The middleware.
pub(crate) async fn middleware(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|value| acceptable(value))
        .cloned()
        .unwrap_or_else(fresh_id);
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let mut response = CURRENT.scope(id.clone(), next.run(request)).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{acceptable, fresh_id};

    #[test]
    fn fresh_ids_are_distinct_version_4_uuids_the_gateway_would_accept_back() {
        let ids: HashSet<_> = (0..10_000).map(|_| fresh_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            let text = id.to_str().expect("ASCII");
            let uuid = uuid::Uuid::parse_str(text).expect("a UUID");
            assert_eq!(uuid.get_version(), Some(uuid::Version::Random), "{text}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{text}");
            assert_eq!(
                text,
                uuid.hyphenated().to_string(),
                "lower-case, hyphenated"
            );
            assert!(acceptable(id), "{text}");
        }
    }
}
