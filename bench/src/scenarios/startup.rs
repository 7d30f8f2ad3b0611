//! g: each service restarted alone: how soon it serves, and its memory once idle.

use std::time::{Duration, Instant};

use bookshelf_test_support::{ProcessStack, Service};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{ms, report::Report, rss};

/// g: each service restarted alone: time until it serves, and its memory once idle.
pub(super) async fn startup(stack: &mut ProcessStack, report: &mut Report) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for service in Service::ALL {
        stack.kill(service).await;
        let started = Instant::now();
        stack.start(service);
        let ready = loop {
            if serves(&http, stack, service).await {
                break started.elapsed();
            }
            if let Some((exited, status)) = stack.exited() {
                anyhow::bail!("{} exited ({status}) on restart", exited.binary());
            }
            if started.elapsed() > bookshelf_test_support::eventually::DEADLINE {
                anyhow::bail!("{} did not serve after a restart", service.binary());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = stack.pid(service).map(rss::current_mib).unwrap_or_default();
        report.notes.push(format!(
            "g: {} ready (health SERVING) {} after spawn; idle RSS {idle:.1} MiB",
            service.binary(),
            ms(ready)
        ));
    }
    stack.wait_healthy().await;
    Ok(())
}

/// Whether a service answers now: the gateway any `/healthz`, a backend a health check
/// that says it serves.
async fn serves(http: &reqwest::Client, stack: &ProcessStack, service: Service) -> bool {
    let (address, name) = match service {
        Service::Gateway => {
            let answer = http.get(format!("{}/healthz", stack.http)).send().await;
            return answer.is_ok();
        }
        Service::Auth => (stack.auth, "auth.v1.AuthService"),
        Service::Library => (stack.library, "library.v1.LibraryService"),
    };
    let channel = bookshelf_test_support::pki::shared().user_channel(address);
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: name.into(),
        })
        .await;
    matches!(answer, Ok(answer) if answer.get_ref().status == 1)
}
