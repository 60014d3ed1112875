//! An OIDC issuer on this machine: a discovery document and a JWKS served
//! over real HTTP, and the tokens it signs (ES256 keys made here, and an
//! RS256 key kept as a fixture). The local stack runs one so development
//! signs in as production does; the tests also make it slow, take it down
//! and rotate its keys.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// The audience the functions expect by default (`AUTH_AUDIENCE`).
pub const AUDIENCE: &str = "skybook";

const RS256_PEM: &[u8] = include_bytes!("fixtures/rs256.pem");
const RS256_N: &str = include_str!("fixtures/rs256.n");

/// A key the issuer signs with, and its public half as a JWK.
#[derive(Clone)]
pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
    /// The private key, PKCS#8 DER, for an ES256 key (to keep it on disk).
    pkcs8: Option<Vec<u8>>,
}

impl Signer {
    /// A new P-256 key.
    pub fn es256(kid: &str) -> Signer {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap_or_else(|_| unreachable!("the system's random source works"));
        Signer::es256_from_pkcs8(kid, pkcs8.as_ref()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// A P-256 key kept as PKCS#8 DER.
    pub fn es256_from_pkcs8(kid: &str, der: &[u8]) -> Result<Signer, String> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| format!("not a P-256 PKCS#8 key: {e}"))?;
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Ok(Signer {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der),
            jwk,
            pkcs8: Some(der.to_vec()),
        })
    }

    /// The fixture's RSA key.
    pub fn rs256(kid: &str) -> Signer {
        let jwk =
            json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": RS256_N.trim(), "e": "AQAB"});
        let encoding =
            EncodingKey::from_rsa_pem(RS256_PEM).unwrap_or_else(|e| unreachable!("the fixture: {e}"));
        Signer { kid: kid.to_owned(), alg: Algorithm::RS256, encoding, jwk, pkcs8: None }
    }

    pub fn pkcs8(&self) -> Option<&[u8]> {
        self.pkcs8.as_deref()
    }

    /// `claims`, signed with this key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_else(|e| unreachable!("signing: {e}"))
    }
}

/// How the issuer answers, as a test sets it.
#[derive(Default)]
struct Behaviour {
    /// Keys published and signed with; the first signs [`Issuer::token`]s.
    signers: Vec<Signer>,
    /// Each answer waits this long first.
    delay: Duration,
    /// Every answer is a 503.
    down: bool,
}

/// A running issuer.
#[derive(Clone)]
pub struct Issuer {
    pub url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    key_fetches: Arc<AtomicUsize>,
    codes: Arc<super::sign_in::Codes>,
}

impl Issuer {
    /// An issuer on a free port with a new ES256 key and the RS256 fixture.
    pub async fn start() -> Issuer {
        Issuer::serve(vec![Signer::es256("es256-1"), Signer::rs256("rs256-1")], ([127, 0, 0, 1], 0).into())
            .await
            .expect("the issuer starts")
    }

    /// An issuer of `signers` on `addr`.
    pub async fn serve(signers: Vec<Signer>, addr: SocketAddr) -> std::io::Result<Issuer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let issuer = Issuer {
            url: url.clone(),
            behaviour: Arc::new(Mutex::new(Behaviour { signers, ..Default::default() })),
            key_fetches: Arc::default(),
            codes: Arc::default(),
        };
        let serving = issuer.clone();
        let handler = move |request: http::Request<hyper::body::Incoming>| {
            let issuer = serving.clone();
            async move { issuer.answer(request).await }
        };
        tokio::spawn(crate::http::serve_http(listener, handler, std::future::pending(), Duration::ZERO));
        Ok(issuer)
    }

    async fn answer(
        &self,
        request: http::Request<hyper::body::Incoming>,
    ) -> http::Response<crate::http::Body> {
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let query = request.uri().query().unwrap_or_default().to_owned();
        let (delay, down, keys) = {
            let b = self.behaviour.lock().unwrap_or_else(|p| p.into_inner());
            (b.delay, b.down, b.signers.iter().map(|s| s.jwk.clone()).collect::<Vec<_>>())
        };
        tokio::time::sleep(delay).await;
        if down {
            return crate::http::text(http::StatusCode::SERVICE_UNAVAILABLE, "down");
        }
        let form = || async {
            let body = crate::http::read_body(request.into_body(), 16 * 1024, Duration::from_secs(10)).await;
            String::from_utf8(body.map(|b| b.to_vec()).unwrap_or_default()).unwrap_or_default()
        };
        let body = match (method, path.as_str()) {
            (http::Method::GET, "/authorize") => return super::sign_in::authorize_page(&query),
            (http::Method::POST, "/authorize") => return self.codes.grant(&form().await),
            (http::Method::POST, "/token") => {
                let body = form().await;
                return self.codes.exchange(
                    &body,
                    |sub, roles| self.claims(sub, roles),
                    |claims| self.sign(claims),
                );
            }
            (_, "/.well-known/openid-configuration") => json!({
                "issuer": self.url,
                "jwks_uri": format!("{}/jwks", self.url),
                "authorization_endpoint": format!("{}/authorize", self.url),
                "token_endpoint": format!("{}/token", self.url),
                "id_token_signing_alg_values_supported": ["ES256", "RS256"],
                "subject_types_supported": ["public"],
                "response_types_supported": ["code", "id_token"],
                "grant_types_supported": ["authorization_code"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
            }),
            (_, "/jwks") => {
                self.key_fetches.fetch_add(1, Ordering::SeqCst);
                json!({"keys": keys})
            }
            _ => return crate::http::text(http::StatusCode::NOT_FOUND, "not found"),
        };
        let mut response = crate::http::text(http::StatusCode::OK, body.to_string());
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        // A page reads the discovery document too, as providers allow.
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, http::HeaderValue::from_static("*"));
        response
    }

    /// The settings that make a function trust this issuer.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![("auth_issuer", self.url.clone()), ("auth_audience", AUDIENCE.to_owned())]
    }

    /// The claims of a token for `sub` with `roles`, valid for an hour.
    pub fn claims(&self, sub: &str, roles: &[&str]) -> Value {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        json!({"iss": self.url, "aud": AUDIENCE, "sub": sub, "roles": roles, "iat": now, "nbf": now, "exp": now + 3600})
    }

    /// A token for `sub` with `roles`, signed with the first key.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        self.sign(&self.claims(sub, roles))
    }

    /// `claims` signed with the first key.
    pub fn sign(&self, claims: &Value) -> String {
        self.signer(0).sign(claims)
    }

    /// The `i`-th key the issuer publishes.
    pub fn signer(&self, i: usize) -> Signer {
        self.behaviour.lock().unwrap_or_else(|p| p.into_inner()).signers[i].clone()
    }

    /// Publishes `signers` instead of the keys so far (a rotation).
    pub fn publish(&self, signers: Vec<Signer>) {
        self.behaviour.lock().unwrap_or_else(|p| p.into_inner()).signers = signers;
    }

    /// Makes every answer wait `delay`.
    pub fn slow_down(&self, delay: Duration) {
        self.behaviour.lock().unwrap_or_else(|p| p.into_inner()).delay = delay;
    }

    /// Makes every answer a 503 (or not).
    pub fn set_down(&self, down: bool) {
        self.behaviour.lock().unwrap_or_else(|p| p.into_inner()).down = down;
    }

    /// How many times the keys were read.
    pub fn key_fetches(&self) -> usize {
        self.key_fetches.load(Ordering::SeqCst)
    }
}
