//! The web app at `/`: a page and its ES modules and stylesheet, written by hand and
//! compiled into the binary (nothing fetched at run time, no build step), speaking the
//! same REST API as every other client. Every answer here carries a strict
//! Content-Security-Policy: scripts and styles only from these files, no inline ones,
//! Trusted Types required so that no string ever becomes markup, and no framing.
//!
//! `POST /app/qr.svg` draws an `otpauth://` URL as a QR code (SVG, by the `qrcode`
//! crate) for the TOTP enrolment: the secret travels in a body, never in a URL that
//! access logs or the history would keep.

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;

use crate::{error::ApiError, extract::JsonBody};

/// The policy of every answer of the app. `data:` images are the QR codes drawn from
/// the SVG `POST /app/qr.svg` answers; covers come from `/covers/` on this origin.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'; \
     trusted-types 'none'";

/// The longest text drawn as a QR code: an otpauth URL is about 150 bytes.
const MAX_QR_TEXT: usize = 512;

/// One file of the app: where it is served, its type, and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page (at `/`) and everything it loads.
const ASSETS: [Asset; 11] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../webapp/index.html"),
    },
    Asset {
        path: "/app/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../webapp/app.css"),
    },
    Asset {
        path: "/app/app.js",
        content_type: JS,
        body: include_str!("../webapp/app.js"),
    },
    Asset {
        path: "/app/api.js",
        content_type: JS,
        body: include_str!("../webapp/api.js"),
    },
    Asset {
        path: "/app/dom.js",
        content_type: JS,
        body: include_str!("../webapp/dom.js"),
    },
    Asset {
        path: "/app/sign-in.js",
        content_type: JS,
        body: include_str!("../webapp/sign-in.js"),
    },
    Asset {
        path: "/app/books.js",
        content_type: JS,
        body: include_str!("../webapp/books.js"),
    },
    Asset {
        path: "/app/account.js",
        content_type: JS,
        body: include_str!("../webapp/account.js"),
    },
    Asset {
        path: "/app/security.js",
        content_type: JS,
        body: include_str!("../webapp/security.js"),
    },
    Asset {
        path: "/app/second-factor.js",
        content_type: JS,
        body: include_str!("../webapp/second-factor.js"),
    },
    Asset {
        path: "/app/webauthn.js",
        content_type: JS,
        body: include_str!("../webapp/webauthn.js"),
    },
];

/// The headers every answer of the app carries.
async fn guarded(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Older browsers that ignore `frame-ancestors`.
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // A deployment's new files are seen at the next load; they are small.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache"));
    response
}

/// `POST /app/qr.svg`'s body.
#[derive(Deserialize)]
struct QrText {
    #[serde(default)]
    text: String,
}

/// Draws an `otpauth://` URL as an SVG QR code, never cached (it holds a secret).
async fn qr(JsonBody(body): JsonBody<QrText>) -> Result<Response, ApiError> {
    let refuse = |why: &str| ApiError::InvalidFields([("text".to_owned(), why.to_owned())].into());
    if !body.text.starts_with("otpauth://") {
        return Err(refuse("text must be an otpauth:// URL"));
    }
    if body.text.len() > MAX_QR_TEXT {
        return Err(refuse("text is too long"));
    }
    let code = qrcode::QrCode::with_error_correction_level(&body.text, qrcode::EcLevel::M)
        .map_err(|_| refuse("text does not fit a QR code"))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

/// `/`, the app's files under `/app/`, and its QR route.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for asset in &ASSETS {
        let (content_type, body) = (asset.content_type, asset.body);
        router = router.route(
            asset.path,
            get(move || async move { ([(header::CONTENT_TYPE, content_type)], body) }),
        );
    }
    router
        .route(
            "/app/qr.svg",
            post(qr).layer(DefaultBodyLimit::max(4 * 1024)),
        )
        .layer(axum::middleware::map_response(guarded))
}
