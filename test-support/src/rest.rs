//! A typed REST client for the gateway, as the tutorial's clients use it.

use reqwest::{Client, Method, RequestBuilder, Response, multipart};
use serde_json::{Value, json};

use crate::strong_password;

/// A response read whole: status, headers and JSON body (or `Null` when empty).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON, `Null` when empty, a string when not JSON.
    pub body: Value,
}

impl Answer {
    async fn read(response: Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// `data` of the envelope.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// `message` of the envelope.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    /// Whether the body is the tutorial's envelope, `{"message", "data", "error"}`.
    pub fn is_envelope(&self) -> bool {
        self.body.as_object().is_some_and(|body| {
            body["message"].is_string() && body.contains_key("data") && body.contains_key("error")
        })
    }
}

/// A multipart book form; `cover` is (file name, bytes).
pub fn book_form(fields: &[(&str, &str)], cover: Option<(&str, Vec<u8>)>) -> multipart::Form {
    let mut form = multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    if let Some((file_name, bytes)) = cover {
        form = form.part(
            "cover_image",
            multipart::Part::bytes(bytes).file_name(file_name.to_owned()),
        );
    }
    form
}

/// A multipart book form with its cover first and the text fields after it, the order
/// of clients that write form fields alphabetically (`cover_image` before `title`).
pub fn cover_first_form(cover: (&str, Vec<u8>), fields: &[(&str, &str)]) -> multipart::Form {
    let (file_name, bytes) = cover;
    let mut form = multipart::Form::new().part(
        "cover_image",
        multipart::Part::bytes(bytes).file_name(file_name.to_owned()),
    );
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    form
}

/// The gateway at `base`, with an optional token.
#[derive(Clone)]
pub struct Rest {
    client: Client,
    base: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
}

impl Rest {
    /// A client of the gateway at `base`.
    pub fn new(base: &str) -> Self {
        Self {
            client: Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    /// The gateway's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The same client, sending `token` instead of its own.
    pub fn with_token(&self, token: &str) -> Rest {
        let mut other = self.clone();
        other.token = Some(token.to_owned());
        other
    }

    /// `method path` with `body` as is, under `content_type` (no header when `None`).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self.request(method, path).body(body);
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        self.send(request).await
    }

    /// A builder for `method path`, with the token if any.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends a request and reads the answer.
    pub async fn send(&self, builder: RequestBuilder) -> Answer {
        Answer::read(builder.send().await.expect("the gateway answers")).await
    }

    /// Sends a request the server may refuse before reading its body whole (too large,
    /// no token): its answer, or `None` when the server closed the connection while
    /// the client was still writing, which is a refusal too. The connection is not
    /// kept, so no later request meets it half-closed.
    pub async fn send_refusable(&self, builder: RequestBuilder) -> Option<Answer> {
        let builder = builder.header(reqwest::header::CONNECTION, "close");
        match builder.send().await {
            Ok(response) => Some(Answer::read(response).await),
            Err(error) if error.is_request() || error.is_body() => None,
            Err(error) => panic!("the gateway failed: {error}"),
        }
    }

    /// `method path` with a JSON body.
    pub async fn json(&self, method: Method, path: &str, body: Value) -> Answer {
        self.send(self.request(method, path).json(&body)).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// `method path` with a multipart form.
    pub async fn form(&self, method: Method, path: &str, form: multipart::Form) -> Answer {
        self.send(self.request(method, path).multipart(form)).await
    }

    /// Creates a book with a small real JPEG cover, asserting 201; the answer.
    pub async fn create_book(&self, title: &str, category: &str) -> Answer {
        let cover = crate::images::jpeg(30, 30);
        let form = book_form(
            &[("title", title), ("category", category)],
            Some(("cover.jpg", cover)),
        );
        let created = self.form(Method::POST, "/books/", form).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        created
    }

    /// `POST /users/login` with `email` and `password`, whatever the answer.
    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.json(
            Method::POST,
            "/users/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers a user with a unique email and logs in; returns the user's JSON and
    /// a client carrying its token.
    pub async fn signed_up(&self, name: &str) -> (Value, Rest) {
        match self.try_signed_up(name).await {
            Ok(signed_up) => signed_up,
            Err(refused) => panic!("sign-up refused: {} {:?}", refused.status, refused.body),
        }
    }

    /// As [`Rest::signed_up`], for a load that counts refusals rather than stops on
    /// them: the answer that refused the sign-up or the login, if one did.
    pub async fn try_signed_up(&self, name: &str) -> Result<(Value, Rest), Answer> {
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let registered = self
            .json(
                Method::POST,
                "/users/",
                json!({"name": name, "email": email, "password": strong_password()}),
            )
            .await;
        if registered.status != 201 {
            return Err(registered);
        }
        let login = self.login(&email, &strong_password()).await;
        if login.status != 200 {
            return Err(login);
        }
        let mut signed_in = self.clone();
        signed_in.token = Some(login.data()["token"].as_str().expect("a token").to_owned());
        Ok((registered.data().clone(), signed_in))
    }
}

/// An upload whose cover arrives only as the test sends it: the form's text fields go
/// at once, then each `Bytes` sent on the returned channel; dropping the sender ends
/// the cover and the request. The handle yields the answer (or the transport error).
pub fn slow_upload(
    rest: &Rest,
    method: Method,
    path: &str,
    fields: &[(&str, &str)],
) -> (
    tokio::sync::mpsc::Sender<bytes::Bytes>,
    tokio::task::JoinHandle<Result<Answer, reqwest::Error>>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    let chunks = futures::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(receiver),
        Ok::<_, std::io::Error>,
    );
    let mut form = multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    form = form.part(
        "cover_image",
        multipart::Part::stream(reqwest::Body::wrap_stream(chunks)).file_name("slow.jpg"),
    );
    let request = rest.request(method, path).multipart(form);
    let task = tokio::spawn(async move {
        let response = request.send().await?;
        Ok(Answer::read(response).await)
    });
    (sender, task)
}

/// Waits until the gateway at `base` answers `/healthz` with success: both backends
/// serve.
pub async fn wait_healthy(base: &str) {
    let client = reqwest::Client::new();
    crate::eventually("the stack to become healthy", || async {
        is_healthy(&client, base).await.then_some(())
    })
    .await;
}

/// Whether the gateway at `base` answers `/healthz` with success now.
pub async fn is_healthy(client: &reqwest::Client, base: &str) -> bool {
    let response = client.get(format!("{base}/healthz")).send().await;
    response.is_ok_and(|response| response.status().is_success())
}
