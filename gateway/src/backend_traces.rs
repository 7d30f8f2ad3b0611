//! The client span of each backend call a request makes (OpenTelemetry's RPC
//! conventions), and the `traceparent` that makes it the parent of the service's
//! server span. A call made outside a traced request (the health watchdog's) passes
//! through untouched.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bookshelf_runtime::{
    trace_context::TRACEPARENT,
    traces::{ClientCall, record_grpc_status},
};
use bytes::Bytes;
use futures::future::{BoxFuture, Either};
use http_body::{Body, Frame, SizeHint};
use tonic::Code;
use tower::Service;

/// Put in a backend request's extensions by the request being served: the span its
/// call's client span is a child of.
#[derive(Clone)]
pub(crate) struct CallParent(pub(crate) tracing::Span);

/// A channel whose calls, each made for a traced request, get a client span.
#[derive(Clone)]
pub(crate) struct Traced<S> {
    inner: S,
    address: Arc<str>,
    port: u16,
}

impl<S> Traced<S> {
    /// `inner`, a channel to the backend at `url`.
    pub(crate) fn new(inner: S, url: &str) -> Self {
        let uri: http::Uri = url.parse().unwrap_or_default();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        Self {
            inner,
            address: uri.host().unwrap_or_default().into(),
            port,
        }
    }
}

impl<S> Service<http::Request<tonic::body::Body>> for Traced<S>
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<Self::Response, Self::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        let Some(CallParent(parent)) = request.extensions_mut().remove::<CallParent>() else {
            return Either::Left(self.inner.call(request));
        };
        let call = ClientCall::start(&parent, request.uri().path(), &self.address, self.port);
        if let Some(value) = call
            .traceparent
            .as_deref()
            .and_then(|value| http::HeaderValue::from_str(value).ok())
        {
            request.headers_mut().insert(TRACEPARENT, value);
        }
        let span = call.span;
        let answered = span.in_scope(|| self.inner.call(request));
        Either::Right(Box::pin(async move {
            let response = match answered.await {
                Ok(response) => response,
                Err(error) => {
                    record_grpc_status(&span, Code::Unavailable, false);
                    return Err(error);
                }
            };
            // A call refused at once carries its status in the headers (and the
            // client may never read its body); any other in the trailers, at the end
            // of the body.
            if let Some(code) = grpc_status(response.headers()) {
                record_grpc_status(&span, code, false);
                return Ok(response);
            }
            Ok(response.map(|body| {
                tonic::body::Body::new(Watched {
                    inner: body,
                    span: Some(span),
                })
            }))
        }))
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(Code::from_i32)
}

/// A response body that records its call's status on the client span when it ends.
struct Watched {
    inner: tonic::body::Body,
    span: Option<tracing::Span>,
}

impl Watched {
    fn end(&mut self, code: Option<Code>) {
        if let Some(span) = self.span.take() {
            record_grpc_status(&span, code.unwrap_or(Code::Unknown), false);
        }
    }
}

impl Body for Watched {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = grpc_status(trailers);
                    self.end(code);
                }
            }
            Some(Err(_)) => self.end(Some(Code::Unknown)),
            None => self.end(None),
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
