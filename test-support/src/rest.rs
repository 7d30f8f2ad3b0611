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

    /// Registers a user with a unique email and logs in; returns the user's JSON and
    /// a client carrying its token.
    pub async fn signed_up(&self, name: &str) -> (Value, Rest) {
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let registered = self
            .json(
                Method::POST,
                "/users/",
                json!({"name": name, "email": email, "password": strong_password()}),
            )
            .await;
        assert_eq!(registered.status, 201, "{:?}", registered.body);
        let login = self
            .json(
                Method::POST,
                "/users/login",
                json!({"email": email, "password": strong_password()}),
            )
            .await;
        assert_eq!(login.status, 200, "{:?}", login.body);
        let mut signed_in = self.clone();
        signed_in.token = Some(login.data()["token"].as_str().expect("a token").to_owned());
        (registered.data().clone(), signed_in)
    }
}
