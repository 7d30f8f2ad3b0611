//! The floors every figure is compared with, each in a process of its own like the
//! services: a bare axum server answering a small JSON, and a bare tonic server
//! answering a unary call (`grpc.health.v1.Health/Check`, a trivial handler).

use std::net::SocketAddr;

use axum::{Json, Router, routing::get};
use tokio::net::TcpListener;

/// Serves `GET /` with a small JSON body, forever.
pub async fn serve_http(port: u16) -> anyhow::Result<()> {
    let router = Router::new().route(
        "/",
        get(|| async { Json(serde_json::json!({"message": "hello"})) }),
    );
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    axum::serve(listener, router).await?;
    Ok(())
}

/// Serves the gRPC health service alone, forever.
pub async fn serve_grpc(port: u16) -> anyhow::Result<()> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::transport::Server::builder()
        .add_service(health)
        .serve(SocketAddr::from(([127, 0, 0, 1], port)))
        .await?;
    Ok(())
}
