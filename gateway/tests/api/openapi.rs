//! The OpenAPI description against the routes the gateway really serves, and the
//! interactive reference with its assets served by the gateway itself.

use std::collections::BTreeSet;

use bookshelf_test_support::InProcessStack;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Every path the router registers, read from the function that builds it, with the
/// trailing slash dropped (each is served with and without it).
fn routed_paths() -> BTreeSet<String> {
    let source = include_str!("../../src/lib.rs");
    let start = source.find("fn router(").expect("the router function");
    let body = &source[start..];
    let end = body.find("\n}\n").expect("its end");
    body[..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.starts_with('/'))
        .map(normalise)
        .collect()
}

fn normalise(path: &str) -> String {
    match path.strip_suffix('/') {
        Some(bare) if !bare.is_empty() => bare.to_owned(),
        _ => path.to_owned(),
    }
}

async fn description(stack: &InProcessStack) -> Value {
    let response = reqwest::get(format!("{}/openapi.json", stack.http))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_description_covers_every_route_and_only_real_ones() {
    let stack = InProcessStack::spawn().await;
    let api = description(&stack).await;
    assert!(api["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = api["paths"].as_object().expect("paths");
    let described: BTreeSet<String> = paths.keys().map(|path| normalise(path)).collect();
    assert_eq!(
        described,
        routed_paths(),
        "every route is described, and every described path is routed"
    );
    assert!(api["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");

    // Client generators name a method after each operationId: one used twice makes
    // them fail or overwrite one operation with the other.
    let mut operation_ids = BTreeSet::new();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(
                operation_ids.insert(id.to_owned()),
                "{method} {path} reuses the operationId {id}"
            );
        }
    }

    let client = reqwest::Client::new();
    let all = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ];
    for (path, operations) in paths {
        let url = format!(
            "{}{}",
            stack.http,
            path.replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{name}", &"0".repeat(64))
        );
        for method in &all {
            let described = operations.get(method.as_str().to_lowercase()).is_some();
            let answer = client.request(method.clone(), &url).send().await.unwrap();
            let status = answer.status();
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            if described {
                assert!(
                    status != StatusCode::METHOD_NOT_ALLOWED
                        && body["message"] != "Endpoint Not Found",
                    "{method} {path} is described but not served: {status} {body}"
                );
                let documented = &operations[method.as_str().to_lowercase()]["responses"];
                assert!(
                    documented.get(status.as_str()).is_some(),
                    "{method} {path} answered {status}, which its description lacks"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not described"
                );
            }
        }
    }
}

/// Every schema under a media type that is not JSON, in requests and answers alike.
fn binary_contents(api: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (path, operations) in api["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let mut contents = vec![&operation["requestBody"]["content"]];
            if let Some(responses) = operation["responses"].as_object() {
                contents.extend(responses.values().map(|response| &response["content"]));
            }
            for content in contents.into_iter().filter_map(Value::as_object) {
                for (media_type, body) in content {
                    if media_type.starts_with("image/") {
                        found.push((
                            format!("{method} {path} {media_type}"),
                            body["schema"].clone(),
                        ));
                    }
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn images_are_described_as_binary_bodies() {
    let stack = InProcessStack::spawn().await;
    let api = description(&stack).await;
    let images = binary_contents(&api);
    assert!(!images.is_empty(), "the cover route answers images");
    for (place, schema) in images {
        // Generators turn a binary string into a file; an array of integers would make
        // them parse a JPEG as JSON.
        assert_eq!(schema["type"], "string", "{place}: {schema}");
        assert_eq!(schema["format"], "binary", "{place}: {schema}");
    }
}

#[tokio::test]
async fn the_docs_page_and_its_assets_come_from_the_gateway() {
    let stack = InProcessStack::spawn().await;
    let page = reqwest::get(format!("{}/docs/", stack.http)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "nothing is fetched from elsewhere"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let answer = reqwest::get(format!("{}/docs/{asset}", stack.http))
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{asset}");
        let text = answer.text().await.unwrap();
        if asset == "swagger-initializer.js" {
            assert!(text.contains("/openapi.json"), "{text}");
        }
    }
}
