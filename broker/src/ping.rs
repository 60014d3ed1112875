//! PingSources: a `dev.knative.sources.ping` event to the sink on every tick.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::manifest::PingSource;

pub async fn tick(
    source: PingSource,
    url: String,
    every: Duration,
    http: reqwest::Client,
    mut halt: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = halt.changed() => return,
        }
        let send = http
            .post(&url)
            .header("ce-specversion", "1.0")
            .header("ce-id", uuid::Uuid::now_v7().to_string())
            .header(
                "ce-source",
                format!("/apis/v1/namespaces/{}/pingsources/{}", source.namespace, source.name),
            )
            .header("ce-type", "dev.knative.sources.ping")
            .header("ce-time", Utc::now().to_rfc3339())
            .header("content-type", &source.content_type)
            .body(source.data.clone())
            .send();
        // A stopping broker does not wait for a tick's answer (a reconcile
        // can take seconds): the tick is dropped, the next one comes.
        let result = tokio::select! {
            result = send => result,
            _ = halt.changed() => return,
        };
        match result {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(pingsource = %source.name, status = %response.status(), "tick refused")
            }
            Err(e) => tracing::warn!(pingsource = %source.name, error = %e, "tick not delivered"),
        }
    }
}
