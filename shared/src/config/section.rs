//! How settings are declared and read: a [`Section`] is a struct of settings
//! declared once with [`settings!`](crate::settings) (each setting's name,
//! type and default on one line), read from a [`Source`]: its defaults, then
//! an optional file (`SKYBOOK_CONFIG`), then the environment.

use std::fmt;

/// A struct of settings, as [`settings!`](crate::settings) declares one.
pub trait Section: serde::de::DeserializeOwned + Send + Sync + 'static {
    /// Each setting's name (its environment variable, lower-cased) and default.
    const DEFAULTS: &'static [(&'static str, &'static str)];

    /// Where it was read from, for the sections read after it.
    fn source(&self) -> &Source;

    #[doc(hidden)]
    fn set_source(&mut self, source: Source);

    /// A setting as this process's environment gives it, else its default:
    /// for the tools and tests that reach the same services the functions
    /// do, so each address has one default. Empty for a name not declared.
    fn from_env(name: &str) -> String {
        std::env::var(name.to_uppercase()).unwrap_or_else(|_| {
            Self::DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()).unwrap_or_default()
        })
    }
}

/// Declares a [`Section`]: one line per setting, `name: Type = "default"`,
/// with its doc comment and any `#[serde(...)]` reading it. The variable is
/// the name upper-cased (`db_pool_size` is `DB_POOL_SIZE`).
#[macro_export]
macro_rules! settings {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $field:ident: $ty:ty = $default:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        $vis struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
            #[serde(skip)]
            source: $crate::config::Source,
        }

        impl $crate::config::Section for $name {
            const DEFAULTS: &'static [(&'static str, &'static str)] = &[$((stringify!($field), $default)),*];

            fn source(&self) -> &$crate::config::Source {
                &self.source
            }

            fn set_source(&mut self, source: $crate::config::Source) {
                self.source = source;
            }
        }
    };
}

/// Where settings come from: this process's file and environment, or a
/// test's overrides (which ignore the environment, so a test does not
/// depend on the shell it runs in).
#[derive(Clone, Default)]
pub struct Source {
    overrides: Option<Vec<(String, String)>>,
}

impl fmt::Debug for Source {
    // Overrides may hold secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.overrides.is_some() { "Source(overrides)" } else { "Source(process)" })
    }
}

impl Source {
    /// `SKYBOOK_CONFIG`'s file, if set, then the environment.
    pub fn process() -> Source {
        Source { overrides: None }
    }

    /// These values over the defaults, and nothing else.
    pub fn overrides(values: &[(&str, &str)]) -> Source {
        Source { overrides: Some(values.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()) }
    }

    /// Reads `S`. The error is one line naming the setting at fault, ready
    /// to print before exiting.
    pub fn load<S: Section>(&self) -> Result<S, String> {
        let mut builder = config::Config::builder();
        for (key, value) in S::DEFAULTS {
            builder = builder.set_default(*key, *value).map_err(|e| e.to_string())?;
        }
        match &self.overrides {
            Some(overrides) => {
                for (key, value) in overrides {
                    builder =
                        builder.set_override(key.as_str(), value.as_str()).map_err(|e| e.to_string())?;
                }
            }
            None => {
                if let Ok(path) = std::env::var("SKYBOOK_CONFIG") {
                    builder = builder.add_source(config::File::with_name(&path).required(true));
                }
                // Values stay strings here; serde converts each to its
                // field's type, so an error names the field rather than a parse step.
                builder = builder.add_source(config::Environment::default());
            }
        }
        let mut section: S = builder
            .build()
            .and_then(|c| c.try_deserialize::<S>())
            .map_err(|e| format!("configuration: {}", describe(e)))?;
        section.set_source(self.clone());
        Ok(section)
    }
}

/// Names environment keys the way a person sets them (`PORT`, not `port`).
fn describe(e: config::ConfigError) -> String {
    let text = e.to_string();
    match text.rsplit_once(" for key `") {
        Some((what, key)) => {
            let key = key.split('`').next().unwrap_or(key).to_uppercase();
            format!("{key}: {what}")
        }
        None => text,
    }
}
