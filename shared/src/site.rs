//! A site: static files a browser loads (a page, its script, its styles),
//! served by GET from the binary itself, and `/config.json`, what the page
//! needs to know at run time (each function's URL, the identity provider).

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::body::{Body, full};
use crate::config::Settings;
use crate::error::Error;

/// One file of a site, compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct File {
    /// Its path, from `/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// The files of a site; `/` is `index.html`.
#[derive(Debug, Clone, Copy)]
pub struct Site {
    pub files: &'static [File],
}

crate::settings! {
    /// What a site tells its page at run time.
    pub struct SiteSettings {
        /// Each function's URL as a browser reaches it, comma-separated
        /// `name=https://…`: where the page sends its calls.
        #[serde(deserialize_with = "crate::config::de::urls_by_name")]
        function_urls: BTreeMap<String, String> = "",
    }
}

impl Site {
    /// The answer to `GET path`: a file, the run-time configuration, or 404.
    pub fn get(
        &self,
        path: &str,
        request: &HeaderMap,
        settings: &Settings,
        site: &SiteSettings,
    ) -> Response<Body> {
        if path == "/config.json" {
            let config = serde_json::json!({
                "functions": site.function_urls,
                "issuer": settings.auth_issuer,
                "audience": settings.auth_audience,
            });
            return answer(request, "application/json", config.to_string().into());
        }
        let wanted = if path == "/" { "/index.html" } else { path };
        match self.files.iter().find(|f| f.path == wanted) {
            Some(file) => answer(request, file.content_type, bytes::Bytes::from_static(file.body)),
            None => Error::NoRoute(path.to_owned()).into_response(),
        }
    }
}

/// A file with its validator: kept by the browser, asked again each time
/// (a new release changes what the same path holds).
fn answer(request: &HeaderMap, content_type: &'static str, body: bytes::Bytes) -> Response<Body> {
    let etag = crate::http::etag(&body);
    let fresh = crate::http::not_modified(request, &etag);
    let mut response = Response::new(full(if fresh { bytes::Bytes::new() } else { body }));
    *response.status_mut() = if fresh { StatusCode::NOT_MODIFIED } else { StatusCode::OK };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out.insert(header::ETAG, etag);
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src *; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    response
}
