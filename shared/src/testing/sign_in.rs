//! The development issuer's sign-in for browsers: OAuth 2.0's authorization
//! code flow with PKCE (RFC 7636), as a page would use any OIDC provider's.
//! `GET /authorize` shows a form (who you are, which roles: development has
//! no passwords), its POST redirects back with a code, and `POST /token`
//! trades the code and its verifier for the tokens. For the local stack and
//! the browser tests only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::http::{Body, full};

/// How long a code may wait for its exchange.
const CODE_TTL: Duration = Duration::from_secs(60);

/// A code handed out and not yet exchanged.
struct Grant {
    sub: String,
    roles: Vec<String>,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    issued: Instant,
}

/// The codes handed out.
#[derive(Default)]
pub(super) struct Codes(Mutex<HashMap<String, Grant>>);

fn form(text: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes()).into_owned().collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A page on any origin trades its code here (a public client).
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refused(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    answer(status, "application/json", json!({"error": error, "error_description": description}).to_string())
}

/// `GET /authorize`: the sign-in form, carrying the request on.
pub(super) fn authorize_page(query: &str) -> Response<Body> {
    let params = form(query);
    let needed = ["client_id", "redirect_uri", "code_challenge"];
    if let Some(missing) = needed.iter().find(|p| params.get(**p).is_none_or(|v| v.is_empty())) {
        return refused(StatusCode::BAD_REQUEST, "invalid_request", &format!("{missing} is required"));
    }
    if params.get("response_type").map(String::as_str) != Some("code")
        || params.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return refused(StatusCode::BAD_REQUEST, "invalid_request", "response_type=code and S256 PKCE only");
    }
    let hidden: String = ["client_id", "redirect_uri", "code_challenge", "state"]
        .iter()
        .map(|name| {
            let value = params.get(*name).map(String::as_str).unwrap_or_default();
            format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value))
        })
        .collect();
    let roles: String = ["passenger", "agent", "admin", "operator"]
        .iter()
        .map(|role| format!("<label><input type=\"checkbox\" name=\"role\" value=\"{role}\"> {role}</label>"))
        .collect();
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in (development)</title><link rel=\"icon\" href=\"data:,\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body>\
         <main><h1>Sign in to Skybook</h1><p>The development issuer: no password, say who you are.</p>\
         <form method=\"post\" action=\"/authorize\">{hidden}\
         <label for=\"sub\">Your name</label> <input id=\"sub\" name=\"sub\" required autocomplete=\"username\">\
         <fieldset><legend>Roles</legend>{roles}</fieldset>\
         <button type=\"submit\">Sign in</button></form></main></body></html>"
    );
    answer(StatusCode::OK, "text/html; charset=utf-8", page)
}

impl Codes {
    /// `POST /authorize`: a code for who signed in, back to the page.
    pub(super) fn grant(&self, body: &str) -> Response<Body> {
        let params = form(body);
        let roles: Vec<String> = url::form_urlencoded::parse(body.as_bytes())
            .filter(|(k, _)| k == "role")
            .map(|(_, v)| v.into_owned())
            .collect();
        let (Some(sub), Some(redirect_uri), Some(challenge), Some(client_id)) = (
            params.get("sub").filter(|s| !s.trim().is_empty()),
            params.get("redirect_uri"),
            params.get("code_challenge"),
            params.get("client_id"),
        ) else {
            return refused(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "sub, redirect_uri, client_id and code_challenge",
            );
        };
        let Ok(mut back) = url::Url::parse(redirect_uri) else {
            return refused(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri is not a URL");
        };
        let code = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
        back.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = params.get("state").filter(|s| !s.is_empty()) {
            back.query_pairs_mut().append_pair("state", state);
        }
        let grant = Grant {
            sub: sub.trim().to_owned(),
            roles,
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: challenge.clone(),
            issued: Instant::now(),
        };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(code, grant);
        let mut response = answer(StatusCode::FOUND, "text/plain; charset=utf-8", String::new());
        if let Ok(location) = HeaderValue::from_str(back.as_str()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }

    /// `POST /token`: the code and its verifier for the tokens, once.
    /// `claims(sub, roles)` are what the issuer signs; `sign` signs them.
    pub(super) fn exchange(
        &self,
        body: &str,
        claims: impl Fn(&str, &[&str]) -> Value,
        sign: impl Fn(&Value) -> String,
    ) -> Response<Body> {
        let params = form(body);
        if params.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return refused(StatusCode::BAD_REQUEST, "unsupported_grant_type", "authorization_code only");
        }
        let code = params.get("code").cloned().unwrap_or_default();
        let Some(grant) = self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&code) else {
            return refused(StatusCode::BAD_REQUEST, "invalid_grant", "unknown or used code");
        };
        let verifier = params.get("code_verifier").cloned().unwrap_or_default();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let matches = challenge == grant.challenge
            && params.get("redirect_uri") == Some(&grant.redirect_uri)
            && params.get("client_id") == Some(&grant.client_id)
            && grant.issued.elapsed() < CODE_TTL;
        if !matches {
            return refused(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the code, its verifier, client or redirect do not match",
            );
        }
        let roles: Vec<&str> = grant.roles.iter().map(String::as_str).collect();
        let access = claims(&grant.sub, &roles);
        let mut id = access.clone();
        id["aud"] = json!(grant.client_id);
        id["name"] = json!(grant.sub);
        let tokens = json!({
            "access_token": sign(&access),
            "id_token": sign(&id),
            "token_type": "Bearer",
            "expires_in": 3600,
        });
        answer(StatusCode::OK, "application/json", tokens.to_string())
    }
}
