//! The CloudEvents `sequence` extension as Skybook writes it: the outbox
//! row's number, zero-padded to 19 digits so that its text orders as the
//! number does (the extension's values are lexicographically ordered).

use super::Incoming;
use crate::error::Error;

pub const EXTENSION: &str = "sequence";

/// The extension's value for outbox number `seq`.
pub fn format(seq: i64) -> String {
    format!("{seq:019}")
}

impl Incoming {
    /// The event's place in its producer's stream: 400 `missing_sequence`
    /// when it carries none, or one that is not a number of ours.
    pub fn sequence(&self) -> Result<i64, Error> {
        let value = self.extensions.get(EXTENSION).ok_or_else(|| {
            Error::malformed("missing_sequence", format!("{} events carry the `sequence` extension", self.ty))
        })?;
        parse(value).ok_or_else(|| {
            Error::malformed(
                "missing_sequence",
                format!("`sequence` {value:?} is not a number of 1 to 19 digits"),
            )
        })
    }
}

fn parse(value: &str) -> Option<i64> {
    if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_orders_as_the_number_does() {
        let (small, large) = (format(9), format(10));
        assert!(small < large);
        assert_eq!((parse(&small), parse(&large)), (Some(9), Some(10)));
        assert_eq!(format(i64::MAX).len(), 19);
        for bad in ["", "-1", "1e3", " 1", "99999999999999999999"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
