//! Telling an upload its client cut off from a whole one. tonic ends a request stream
//! cleanly when the client cancels the call (HTTP/2 `RST_STREAM` with `CANCEL`), just
//! as when the client finishes it, so a cover cut short would pass for a whole one
//! (and a cover cut after its image's end still decodes). [`NoteCutOffs`] records, for
//! each call, whether its request body ended in an error, where the handler checks it.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
};

use http_body::{Body, Frame, SizeHint};
use tonic::{
    Request, Status,
    codegen::{Service, http},
    server::NamedService,
};

/// Whether a call's request body ended in an error rather than at its end.
#[derive(Debug, Clone, Default)]
pub struct CutOff(Arc<AtomicBool>);

impl CutOff {
    /// The mark of `request`'s body (none, so never cut off, outside [`NoteCutOffs`]).
    pub fn of<T>(request: &Request<T>) -> Self {
        request
            .extensions()
            .get::<Self>()
            .cloned()
            .unwrap_or_default()
    }

    /// CANCELLED if the body was cut off: what was read of it is not the whole.
    pub fn check(&self) -> Result<(), Status> {
        if self.0.load(Ordering::Acquire) {
            Err(Status::cancelled("the upload was cut off before its end"))
        } else {
            Ok(())
        }
    }
}

/// A service whose requests carry their [`CutOff`] in their extensions.
#[derive(Debug, Clone)]
pub struct NoteCutOffs<S> {
    inner: S,
}

impl<S> NoteCutOffs<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for NoteCutOffs<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for NoteCutOffs<S>
where
    S: Service<http::Request<NotingBody<B>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let cut_off = CutOff::default();
        let (mut parts, inner) = request.into_parts();
        parts.extensions.insert(cut_off.clone());
        let body = NotingBody { inner, cut_off };
        self.inner.call(http::Request::from_parts(parts, body))
    }
}

/// A request body that marks its [`CutOff`] when it ends in an error.
#[derive(Debug)]
pub struct NotingBody<B> {
    inner: B,
    cut_off: CutOff,
}

impl<B: Body + Unpin> Body for NotingBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if matches!(frame, Some(Err(_))) {
            self.cut_off.0.store(true, Ordering::Release);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
