//! Event signatures: who made an event, proven by the event itself.
//!
//! The function that emits an event signs its identity and data with a key
//! only Skybook's functions hold (`EVENT_SIGNING_KEYS`), as the `skybooksig`
//! extension; every consumer checks it before its handler runs. The proof
//! travels with the event, so it holds on every broker class and every path:
//! the RabbitMQ broker class cannot tell a subscriber who sent, and behind
//! Knative's gateway no network rule can tell the Broker from any other pod.
//!
//! The signature covers `id`, `source`, `type`, `subject`, `sequence` (when
//! the event has one: what a consumer deduplicates by) and the data (as
//! canonical JSON: keys sorted, no spaces, so a hop that re-encodes it, a
//! dead letter stored as `jsonb`, still verifies). Extensions that hops add
//! (`traceparent`, Knative's `knativeerror*`) are not covered. Keys rotate:
//! the first signs, every one listed verifies.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Incoming;
use crate::config::Settings;
use crate::error::Error;

/// The extension that carries the signature.
pub const EXTENSION: &str = "skybooksig";
/// The signature's version, before the `=`: what it covers and how.
const VERSION: &str = "v1";
/// The shortest key: 256 bits as 64 hex digits, or any 32 characters.
const MIN_KEY: usize = 32;

/// The parts of an event a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub id: &'a str,
    pub source: &'a str,
    pub ty: &'a str,
    pub subject: Option<&'a str>,
    pub sequence: Option<&'a str>,
    pub data: &'a [u8],
}

/// The signing keys of this deployment.
#[derive(Clone)]
pub struct EventKeys(Arc<Vec<Hmac<Sha256>>>);

impl std::fmt::Debug for EventKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventKeys({} keys, redacted)", self.0.len())
    }
}

impl EventKeys {
    /// `EVENT_SIGNING_KEYS`, comma-separated; `None` when unset. A key
    /// shorter than 32 characters stops start-up, naming the setting and
    /// never the key.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, String> {
        let mut keys = Vec::new();
        for (n, key) in settings.event_signing_keys.iter().enumerate() {
            let key = key.expose();
            if key.len() < MIN_KEY {
                return Err(format!(
                    "configuration: EVENT_SIGNING_KEYS: key {} is shorter than {MIN_KEY} characters",
                    n + 1
                ));
            }
            keys.push(Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_err(|e| e.to_string())?);
        }
        Ok((!keys.is_empty()).then(|| EventKeys(Arc::new(keys))))
    }

    /// The `skybooksig` value of `event`, under the first key.
    pub fn sign(&self, event: Signed<'_>) -> String {
        let mac = digest(&self.0[0], event);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        format!("{VERSION}={hex}")
    }

    /// Whether `presented` signs `event` under one of the keys (compared in
    /// constant time): 403 `event_not_signed` when it is missing or does not.
    pub fn verify(&self, event: Signed<'_>, presented: Option<&str>) -> Result<(), Error> {
        let refuse = |why: &str| Error::EventNotSigned {
            message: format!("{} {} from {}: {why}", event.ty, event.id, event.source),
        };
        let presented = presented.ok_or_else(|| refuse("no skybooksig extension"))?;
        let hex = presented
            .strip_prefix(VERSION)
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or_else(|| refuse("the signature is not v1=<hex>"))?;
        let bytes = decode_hex(hex).ok_or_else(|| refuse("the signature is not v1=<hex>"))?;
        let holds = self.0.iter().any(|key| {
            let mut mac = key.clone();
            feed(&mut mac, event);
            mac.verify_slice(&bytes).is_ok()
        });
        if holds { Ok(()) } else { Err(refuse("the signature does not hold")) }
    }
}

impl EventKeys {
    /// Checks an event a consumer received, before its handler runs. A
    /// PingSource's tick carries no signature (its schedule is all it
    /// says) and needs none: it asks only for work the function does on
    /// that schedule anyway, and one at a time.
    pub fn admit(&self, event: &Incoming) -> Result<(), Error> {
        if event.ty == super::PING {
            return Ok(());
        }
        let signed = Signed {
            id: &event.id,
            source: &event.source,
            ty: &event.ty,
            subject: event.subject.as_deref(),
            sequence: event.extensions.get(super::sequence::EXTENSION).map(String::as_str),
            data: &event.data,
        };
        self.verify(signed, event.extensions.get(EXTENSION).map(String::as_str))
    }

    /// Signs an event held as structured-mode JSON in place (a dead letter
    /// sent again): its `skybooksig` becomes this deployment's signature of
    /// it. Data held as `data_base64` (never an event of this system) is
    /// left as it is.
    pub fn sign_structured(&self, event: &mut serde_json::Value) {
        let text = |name: &str| event.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let Some(data) = event.get("data").map(|d| d.to_string()) else { return };
        let (id, source, ty) = (text("id"), text("source"), text("type"));
        let optional = |name: &str| event.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let (subject, sequence) = (optional("subject"), optional(super::sequence::EXTENSION));
        let signature = self.sign(Signed {
            id: &id,
            source: &source,
            ty: &ty,
            subject: subject.as_deref(),
            sequence: sequence.as_deref(),
            data: data.as_bytes(),
        });
        if let Some(object) = event.as_object_mut() {
            object.insert(EXTENSION.into(), serde_json::Value::String(signature));
        }
    }
}

fn digest(key: &Hmac<Sha256>, event: Signed<'_>) -> Vec<u8> {
    let mut mac = key.clone();
    feed(&mut mac, event);
    mac.finalize().into_bytes().to_vec()
}

/// Every part length-prefixed, so no two events share an input; the
/// sequence last and only when present, so events without one sign as
/// they always did.
fn feed(mac: &mut Hmac<Sha256>, event: Signed<'_>) {
    let data = canonical(event.data);
    let subject = event.subject.unwrap_or_default();
    let parts: [&[u8]; 6] = [
        b"skybook-event-v1",
        event.id.as_bytes(),
        event.source.as_bytes(),
        event.ty.as_bytes(),
        subject.as_bytes(),
        &data,
    ];
    let sequence = event.sequence.map(str::as_bytes);
    for part in parts.into_iter().chain(sequence) {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
}

/// JSON data with its keys sorted and no spaces (`serde_json`'s maps are
/// ordered here); anything else as it came.
fn canonical(data: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(value) => serde_json::to_vec(&value).unwrap_or_else(|_| data.to_vec()),
        Err(_) => data.to_vec(),
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &str) -> EventKeys {
        let settings = Settings::with_overrides(&[("event_signing_keys", list)]).unwrap();
        EventKeys::from_settings(&settings).unwrap().unwrap()
    }

    const A: &str = "a-key-of-thirty-two-characters-0";
    const B: &str = "b-key-of-thirty-two-characters-0";

    fn event(data: &[u8]) -> Signed<'_> {
        Signed {
            id: "1",
            source: "/bookings",
            ty: "skybook.booking.created",
            subject: Some("b1"),
            sequence: Some("0000000000000000042"),
            data,
        }
    }

    #[test]
    fn a_signature_holds_for_its_event_only() {
        let keys = keys(A);
        let data = br#"{"total":"110.00","passengers":[{"age":7}]}"#;
        let signature = keys.sign(event(data));
        keys.verify(event(data), Some(&signature)).unwrap();
        // Re-encoded data (another key order, spaces) is the same data.
        let reencoded = br#"{ "passengers": [ {"age": 7} ], "total": "110.00" }"#;
        keys.verify(event(reencoded), Some(&signature)).unwrap();
        // Anything else it covers, changed, fails.
        let forged = br#"{"total":"0.01","passengers":[{"age":7}]}"#;
        assert!(keys.verify(event(forged), Some(&signature)).is_err());
        let other_id = Signed { id: "2", ..event(data) };
        assert!(keys.verify(other_id, Some(&signature)).is_err());
        let other_subject = Signed { subject: None, ..event(data) };
        let other_sequence = Signed { sequence: Some("0000000000000000043"), ..event(data) };
        let no_sequence = Signed { sequence: None, ..event(data) };
        assert!(keys.verify(other_subject, Some(&signature)).is_err());
        assert!(keys.verify(other_sequence, Some(&signature)).is_err());
        assert!(keys.verify(no_sequence, Some(&signature)).is_err(), "a sequence cannot be stripped");
        // Parts do not run into each other.
        let shifted = Signed { id: "1/", source: "bookings", ..event(data) };
        assert!(keys.verify(shifted, Some(&signature)).is_err());
    }

    #[test]
    fn missing_malformed_and_foreign_signatures_are_refused_with_the_reason() {
        let keys = keys(A);
        let data = b"{}";
        let reason = |presented: Option<&str>| keys.verify(event(data), presented).unwrap_err().to_string();
        assert!(reason(None).contains("no skybooksig"));
        assert!(reason(Some("v1=zz")).contains("not v1=<hex>"));
        let foreign = self::keys(B).sign(event(data));
        assert!(reason(Some(&foreign)).contains("does not hold"));
    }

    #[test]
    fn keys_rotate_the_first_signs_and_each_verifies() {
        let (old, rotating) = (keys(A), keys(&format!("{B},{A}")));
        let data = b"{}";
        rotating.verify(event(data), Some(&old.sign(event(data)))).unwrap();
        let new = rotating.sign(event(data));
        assert!(old.verify(event(data), Some(&new)).is_err(), "signed with the new key");
    }

    #[test]
    fn a_short_key_stops_start_up_without_printing_it() {
        let settings = Settings::with_overrides(&[("event_signing_keys", "too-short-key")]).unwrap();
        let error = EventKeys::from_settings(&settings).unwrap_err();
        assert!(error.contains("EVENT_SIGNING_KEYS") && !error.contains("too-short-key"), "{error}");
        let unset = Settings::with_overrides(&[]).unwrap();
        assert!(EventKeys::from_settings(&unset).unwrap().is_none());
    }
}
