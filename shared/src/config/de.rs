//! How settings are read from their text: secrets that never print, empty
//! as unset, comma lists, the platform's CloudEvents overrides.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

/// A value that never shows in logs or debug output.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// Empty (or blank) is unset.
pub fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    let value = Option::<String>::deserialize(d)?;
    Ok(value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).map(T::from))
}

/// `K_CE_OVERRIDES`: `{"extensions": {"name": "value"}}`, names as the
/// CloudEvents spec allows them (lower-case letters and digits).
pub fn ce_overrides<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct Overrides {
        #[serde(default)]
        extensions: BTreeMap<String, serde_json::Value>,
    }
    let raw = Option::<String>::deserialize(d)?.unwrap_or_default();
    if raw.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let overrides: Overrides = serde_json::from_str(&raw)
        .map_err(|e| serde::de::Error::custom(format!("not {{\"extensions\": {{...}}}} JSON: {e}")))?;
    let mut extensions = BTreeMap::new();
    for (name, value) in overrides.extensions {
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid || is_context_attribute(&name) {
            return Err(serde::de::Error::custom(format!("{name:?} cannot be an extension's name")));
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!("extension {name}: {other} is not a string")));
            }
        };
        extensions.insert(name, value);
    }
    Ok(extensions)
}

/// Comma-separated web origins, each `scheme://host[:port]` with nothing
/// after (as a browser sends `Origin`), lower-cased; blanks dropped.
pub fn origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = String::deserialize(d)?;
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|origin| {
            // As a browser sends it: the origin serialized, nothing after.
            let serialized = url::Url::parse(origin)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .map(|u| u.origin().ascii_serialization())
                .filter(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/')));
            serialized.ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{origin:?} is not an origin as a browser sends it: scheme://host[:port], nothing after"
                ))
            })
        })
        .collect()
}

/// URLs by name, comma-separated `name=http(s)://host[:port]` (the local
/// broker's services, a site's functions); a trailing `/` dropped.
pub fn urls_by_name<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = String::deserialize(d)?;
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .split_once('=')
                .map(|(name, url)| (name.trim().to_owned(), url.trim().trim_end_matches('/').to_owned()))
                .filter(|(name, url)| {
                    !name.is_empty() && (url.starts_with("http://") || url.starts_with("https://"))
                })
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("expected NAME=http(s)://HOST[:PORT], got {entry}"))
                })
        })
        .collect()
}

/// URLs by name as [`urls_by_name`] reads them: how a process that starts
/// another writes the setting.
pub fn join_urls_by_name<'a>(urls: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    urls.into_iter().map(|(name, url)| format!("{name}={url}")).collect::<Vec<_>>().join(",")
}

/// Comma-separated secrets, blanks dropped.
pub fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Secret>, D::Error> {
    let raw = String::deserialize(d)?;
    Ok(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Secret::new).collect())
}

/// The attributes the CloudEvents spec defines itself (and the data
/// members): no extension may take these names.
fn is_context_attribute(name: &str) -> bool {
    matches!(
        name,
        "specversion"
            | "id"
            | "source"
            | "type"
            | "subject"
            | "time"
            | "datacontenttype"
            | "dataschema"
            | "data"
            | "data_base64"
    )
}
