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

/// The policy of every answer of the app. `{images}` becomes the sources of images:
/// this origin, the public URL's (covers' `image_url` name it, and a browser may have
/// opened the app by another name, `localhost` for `127.0.0.1`), and `data:` for the
/// QR codes drawn from the SVG that `POST /app/qr.svg` answers.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src {images}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/// The app's Content-Security-Policy for a gateway whose covers are under `public_url`.
/// A public URL that is not a plain http(s) origin adds nothing.
pub(crate) fn content_security_policy(public_url: &str) -> HeaderValue {
    let origin = public_url
        .parse::<axum::http::Uri>()
        .ok()
        .and_then(|uri| match (uri.scheme_str(), uri.authority()) {
            (Some(scheme @ ("http" | "https")), Some(authority)) => {
                Some(format!("{scheme}://{authority}"))
            }
            _ => None,
        })
        // A host, a port, brackets for IPv6: nothing that could end the directive.
        .filter(|origin| {
            origin
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:/[]".contains(c))
        });
    let images = match origin {
        Some(origin) => format!("'self' {origin} data:"),
        None => "'self' data:".to_owned(),
    };
    HeaderValue::from_str(&POLICY.replace("{images}", &images))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

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

/// The headers every answer of the app carries: `policy`, and the fixed ones.
fn guarded(mut response: Response, policy: HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    let fixed = [
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

/// `/`, the app's files under `/app/`, and its QR route, for a gateway whose public
/// URL is `public_url`.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(public_url: &str) -> Router<S> {
    let policy = content_security_policy(public_url);
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
        .layer(axum::middleware::map_response(move |response: Response| {
            let policy = policy.clone();
            async move { guarded(response, policy) }
        }))
}

#[cfg(test)]
mod tests {
    use super::content_security_policy;

    fn images(public_url: &str) -> String {
        let policy = content_security_policy(public_url);
        let policy = policy.to_str().unwrap();
        let directive = policy
            .split(';')
            .map(str::trim)
            .find(|directive| directive.starts_with("img-src"))
            .expect("an img-src directive");
        directive.to_owned()
    }

    #[test]
    fn images_come_from_this_origin_the_public_urls_and_data_urls_only() {
        assert_eq!(
            images("https://books.example.com/shelf/"),
            "img-src 'self' https://books.example.com data:"
        );
        assert_eq!(
            images("http://127.0.0.1:8080"),
            "img-src 'self' http://127.0.0.1:8080 data:"
        );
        for odd in ["", "not a url", "ftp://example.com", "/relative"] {
            assert_eq!(images(odd), "img-src 'self' data:", "{odd:?}");
        }
        // Nothing in the URL can end the directive and start another.
        for hostile in [
            "http://a;script-src *",
            "http://a;b",
            "http://a,b",
            "http://a'b",
        ] {
            assert_eq!(images(hostile), "img-src 'self' data:", "{hostile:?}");
        }
    }
}
