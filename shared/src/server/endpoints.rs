//! What a function serves besides its invocations: its contract
//! (`/schema`), its dependencies checked (`/health/dependencies`), and a
//! site's files.

use http::{HeaderValue, Response, StatusCode, header};

use super::App;
use crate::error::Error;
use crate::function::{Dependency, Kind};
use crate::http::{Body, full};

impl App {
    /// The function's contract: the JSON Schemas of the data it accepts and
    /// of its reply's, generated from its types.
    pub(super) fn schema(&self) -> Response<Body> {
        let (spec, contract) = (&self.function.spec, &self.function.contract);
        // What clients send and get is served as `schemas/` publishes it; a
        // consumer's is its own reading of events another function publishes.
        let accepts = match (self.function.kind, spec.accepts) {
            (Kind::Query | Kind::Command, [ty]) => crate::contract::published(ty, (contract.accepts)()),
            _ => (contract.accepts)().to_value(),
        };
        let mut body = serde_json::json!({
            "function": spec.name,
            "accepts": {"types": spec.accepts, "schema": accepts},
        });
        if let (Some(ty), Some(replies)) = (spec.replies, contract.replies) {
            body["replies"] = serde_json::json!({
                "type": ty,
                "dataschema": crate::contract::id(ty),
                "schema": crate::contract::published(ty, replies()),
            });
        }
        let mut response = Response::new(full(body.to_string()));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    /// A site's file or its run-time configuration.
    pub(super) fn site(&self, path: &str, headers: &http::HeaderMap) -> Response<Body> {
        match (&self.function.site, self.ctx.section::<crate::site::SiteSettings>()) {
            (Some(files), Ok(settings)) => files.get(path, headers, self.ctx.settings(), settings),
            (_, Err(e)) => e.into_response(),
            (None, _) => Error::NoRoute(path.to_owned()).into_response(),
        }
    }

    /// Each dependency the function declares, checked now: 200 when all
    /// answer, 503 otherwise, with what each said; also kept as the
    /// `skybook_dependency_up` gauge.
    pub(super) async fn dependencies(&self) -> Response<Body> {
        let mut report = serde_json::Map::new();
        let mut all_up = true;
        for dependency in self.function.spec.dependencies {
            let checked = match dependency {
                Dependency::Postgres => crate::db::ping(self.ctx.db()).await.map_err(Error::from),
                Dependency::Redis => crate::redis::ping(&mut self.ctx.redis()).await.map_err(Error::from),
            };
            self.metrics.dependency(dependency.name(), checked.is_ok());
            let state = match checked {
                Ok(()) => serde_json::json!({"up": true}),
                Err(e) => {
                    all_up = false;
                    tracing::warn!(dependency = dependency.name(), error = %e, "dependency down");
                    serde_json::json!({"up": false, "code": e.code()})
                }
            };
            report.insert(dependency.name().to_owned(), state);
        }
        let status = if all_up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        let mut response = Response::new(full(serde_json::Value::Object(report).to_string()));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}
