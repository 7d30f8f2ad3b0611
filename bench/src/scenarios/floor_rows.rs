//! The floor rows of `bench all`: a bare axum server and a bare tonic server, each in
//! a process of its own, under the load every other row gets.

use std::time::Duration;

use bookshelf_test_support::ReservedPort;
use tokio::process::Child;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::{channel, spawn_self, wait_for_port};
use crate::{
    load::{self, Stats},
    report::{Report, Row},
    rss,
};

/// Measures both floors with `http` for the axum one, reports them, and gives the
/// axum floor's figures, then the tonic floor's.
pub(super) async fn measure(
    http: &reqwest::Client,
    concurrency: usize,
    duration: Duration,
    report: &mut Report,
) -> anyhow::Result<(Stats, Stats)> {
    let floor_ports: [ReservedPort; 2] = Default::default();
    let [http_port, grpc_port] = floor_ports.each_ref().map(ReservedPort::number);
    let http_floor_process = spawn_self(&["floor-http", "--port", &http_port.to_string()])?;
    let grpc_floor_process = spawn_self(&["floor-grpc", "--port", &grpc_port.to_string()])?;
    wait_for_port(http_port).await?;
    wait_for_port(grpc_port).await?;
    let floor_url = format!("http://127.0.0.1:{http_port}/");
    let http_floor = {
        let (http, url) = (http.clone(), floor_url.clone());
        load::run(concurrency, duration, move |_, _| {
            let request = http.get(url.clone()).send();
            async move { matches!(request.await, Ok(response) if response.status().is_success()) }
        })
        .await
    };
    let grpc_floor = {
        let health = HealthClient::new(channel(&format!("http://127.0.0.1:{grpc_port}")).await?);
        load::run(concurrency, duration, move |_, _| {
            let mut health = health.clone();
            async move { health.check(HealthCheckRequest::default()).await.is_ok() }
        })
        .await
    };
    let floor_rss = |child: &Child| child.id().map(rss::peak_mib).unwrap_or_default();
    report.push(Row {
        what: "floor: bare axum GET /".into(),
        concurrency,
        stats: http_floor.clone(),
        ratio: None,
        peak_rss: vec![("axum", floor_rss(&http_floor_process))],
    });
    report.push(Row {
        what: "floor: bare tonic unary, one connection".into(),
        concurrency,
        stats: grpc_floor.clone(),
        ratio: None,
        peak_rss: vec![("tonic", floor_rss(&grpc_floor_process))],
    });
    drop((http_floor_process, grpc_floor_process));
    Ok((http_floor, grpc_floor))
}
