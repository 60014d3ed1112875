//! A client of the local stack's functions, for the drills that drive it:
//! plain JSON calls, with an Idempotency-Key where a retry must book once.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Skybook {
    pub http: reqwest::Client,
    pub urls: BTreeMap<String, String>,
}

impl Skybook {
    pub async fn call(&self, function: &str, data: &Value) -> anyhow::Result<Value> {
        self.call_with(function, data, &[]).await
    }

    /// A call with headers of the caller's (a `traceparent`, say).
    pub async fn call_with(
        &self,
        function: &str,
        data: &Value,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let url = self.urls.get(function).with_context(|| format!("no {function}"))?;
        let mut request = self.http.post(url).json(data);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{function}: {status} {body}");
        Ok(body)
    }

    /// A command with an Idempotency-Key: a retry after a timeout books once.
    pub async fn call_with_key(&self, function: &str, data: &Value, key: &str) -> anyhow::Result<Value> {
        let url = self.urls.get(function).with_context(|| format!("no {function}"))?;
        for _ in 0..5 {
            let sent = self.http.post(url).header("idempotency-key", key).json(data).send().await;
            if let Ok(response) = sent
                && response.status().is_success()
            {
                return Ok(response.json().await?);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::bail!("{function} failed five times")
    }

    /// Four destinations with a flight each: (destination id, flight id).
    pub async fn routes(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut routes = Vec::new();
        for (i, name) in ["Cusco", "Lima", "Quito", "Bogotá"].iter().enumerate() {
            let d = self
                .call("create-destination", &json!({"name": name, "tax_amount": "12.34", "is_promotion": i % 2 == 0, "allows_pets": true}))
                .await?;
            let f = self
                .call(
                    "create-flight",
                    &json!({"destination_id": d["id"], "flight_number": format!("DR{i}"), "base_price": "199.99",
                            "departure_at": "2099-01-01T00:00:00Z", "capacity": 1000}),
                )
                .await?;
            routes.push((
                d["id"].as_str().unwrap_or_default().to_owned(),
                f["id"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        Ok(routes)
    }

    /// get-stats, without the candy log.
    pub async fn stats(&self) -> anyhow::Result<Value> {
        let mut stats = self.call("get-stats", &json!({"destinations": 100, "candy_log": 0})).await?;
        if let Some(object) = stats.as_object_mut() {
            object.remove("candy_log");
        }
        Ok(stats)
    }

    /// A series of a function's /metrics, as printed.
    pub async fn metric(&self, function: &str, series: &str) -> String {
        let Some(url) = self.urls.get(function) else { return "?".into() };
        let Ok(response) = self.http.get(format!("{url}/metrics")).send().await else { return "?".into() };
        let text = response.text().await.unwrap_or_default();
        let values: Vec<&str> = text.lines().filter(|l| l.starts_with(series)).collect();
        if values.is_empty() { "0".into() } else { values.join(", ") }
    }
}
