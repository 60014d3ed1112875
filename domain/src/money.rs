//! Money and the price rule: exact decimals, two places, rounded half away from zero.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// A non-negative amount with at most two decimal places, below
/// [`Money::LIMIT`]. Serialized as a string (`"950.00"`) so no JSON reader
/// turns it into a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Money(Decimal);

// NUMERIC in PostgreSQL. Decoding fixes the scale at two: a zero comes back
// from the database without its scale, and must still read "0.00".
impl sqlx::Type<sqlx::Postgres> for Money {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <Decimal as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Money {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <Decimal as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl sqlx::Decode<'_, sqlx::Postgres> for Money {
    fn decode(value: sqlx::postgres::PgValueRef<'_>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Money::cents(<Decimal as sqlx::Decode<sqlx::Postgres>>::decode(value)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must not be negative")]
    Negative,
    #[error("must have at most two decimal places")]
    TooPrecise,
    #[error("must be below 100000000.00")]
    TooLarge,
}

impl Money {
    /// Amounts accepted as input stay below this, so every total fits NUMERIC(12, 2).
    pub const LIMIT: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    pub fn try_new(amount: Decimal) -> Result<Self, MoneyError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(MoneyError::Negative);
        }
        if amount.normalize().scale() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        if amount >= Self::LIMIT {
            return Err(MoneyError::TooLarge);
        }
        Ok(Self::cents(amount))
    }

    /// Rounds to cents, half away from zero, and fixes the scale at two, so
    /// `950` and `950.0` both read `950.00`.
    fn cents(amount: Decimal) -> Self {
        let mut rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        rounded.rescale(2);
        Money(rounded)
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Whole cents, as Redis keeps money.
    pub fn to_cents(self) -> i64 {
        (self.0 * Decimal::ONE_HUNDRED).trunc().try_into().unwrap_or(i64::MAX)
    }

    pub fn from_cents(cents: i64) -> Self {
        Self::cents(Decimal::new(cents, 2))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let amount = <Decimal as Deserialize>::deserialize(d)?;
        Money::try_new(amount).map_err(serde::de::Error::custom)
    }
}

/// An amount as JSON carries it: a string of digits with at most two
/// decimals (a number is read too, but a float may not hold the amount).
impl schemars::JsonSchema for Money {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Money".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{1,8}(\\.[0-9]{1,2})?$",
            "description": "A non-negative amount with at most two decimals, as a string: \"950.00\""
        })
    }
}

/// What a passenger pays, and why: the price rule of the original system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceBreakdown {
    pub base_price: Money,
    pub discount: Money,
    pub tax: Money,
    pub total: Money,
}

/// What a promotion leaves of the base price: 10% off.
const PROMOTION_FARE: Decimal = Decimal::from_parts(90, 0, 0, false, 2);

impl PriceBreakdown {
    /// Promotion takes 10% off the base price (the discounted price is
    /// rounded to cents), then the destination's tax is added.
    /// Base 1000, promotion, tax 50: 1000 * 0.90 + 50 = 950.00.
    pub fn quote(base_price: Money, on_promotion: bool, tax: Money) -> Self {
        let fare = if on_promotion { Money::cents(base_price.0 * PROMOTION_FARE) } else { base_price };
        PriceBreakdown {
            base_price,
            discount: Money::cents(base_price.0 - fare.0),
            tax,
            total: Money::cents(fare.0 + tax.0),
        }
    }

    /// The same rule's total as a SQL expression over the named columns, for
    /// filtering by price in the database: PostgreSQL's `round(numeric, 2)`
    /// rounds half away from zero, as [`PriceBreakdown::quote`] does. A test
    /// holds the two together.
    pub fn sql_total(base_price: &str, on_promotion: &str, tax: &str) -> String {
        format!(
            "(CASE WHEN {on_promotion} THEN round({base_price} * {PROMOTION_FARE}, 2) ELSE {base_price} END + {tax})"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn money(s: &str) -> Money {
        Money::try_new(Decimal::from_str(s).unwrap()).unwrap()
    }

    #[test]
    fn the_seed_example() {
        let p = PriceBreakdown::quote(money("1000"), true, money("50"));
        assert_eq!(p.total.to_string(), "950.00");
        assert_eq!(p.discount.to_string(), "100.00");
        assert_eq!(p.base_price.to_string(), "1000.00");
        assert_eq!(p.tax.to_string(), "50.00");
    }

    #[test]
    fn no_promotion_is_base_plus_tax() {
        let p = PriceBreakdown::quote(money("199.99"), false, money("0.01"));
        assert_eq!(p.total.to_string(), "200.00");
        assert!(p.discount.is_zero());
    }

    #[test]
    fn rounds_half_away_from_zero() {
        // 100.05 * 0.9 = 90.045: half away gives 90.05 (bankers' would give 90.04).
        let p = PriceBreakdown::quote(money("100.05"), true, money("0"));
        assert_eq!(p.total.to_string(), "90.05");
        assert_eq!(p.discount.to_string(), "10.00");
        // 0.15 * 0.9 = 0.135 -> 0.14
        assert_eq!(PriceBreakdown::quote(money("0.15"), true, Money::ZERO).total.to_string(), "0.14");
    }

    #[test]
    fn refuses_what_is_not_money() {
        assert_eq!(Money::try_new(Decimal::from_str("-0.01").unwrap()), Err(MoneyError::Negative));
        assert_eq!(Money::try_new(Decimal::from_str("1.001").unwrap()), Err(MoneyError::TooPrecise));
        assert_eq!(Money::try_new(Decimal::from_str("100000000").unwrap()), Err(MoneyError::TooLarge));
        assert_eq!(money("1.500").to_string(), "1.50");
    }

    #[test]
    fn cents_round_trip() {
        assert_eq!(money("950.00").to_cents(), 95000);
        assert_eq!(Money::from_cents(95001).to_string(), "950.01");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Any amount the API accepts: whole cents below the limit.
    fn amount() -> impl Strategy<Value = Money> {
        (0i64..10_000_000_000).prop_map(Money::from_cents)
    }

    proptest! {
        #[test]
        fn the_total_is_the_rule_computed_exactly(base in amount(), tax in amount(), promotion in any::<bool>()) {
            prop_assume!(!base.is_zero());
            let quote = PriceBreakdown::quote(base, promotion, tax);
            // The rule, written independently: integer cents, half away from zero.
            let base_cents = base.to_cents();
            let fare_cents = if promotion { (base_cents * 90 + 50) / 100 } else { base_cents };
            prop_assert_eq!(quote.total.to_cents(), fare_cents + tax.to_cents());
            prop_assert_eq!(quote.discount.to_cents(), base_cents - fare_cents);
            prop_assert_eq!(quote.total.amount(), quote.base_price.amount() - quote.discount.amount() + quote.tax.amount());
        }

        #[test]
        fn every_amount_has_two_decimals_and_none_is_negative(base in amount(), tax in amount(), promotion in any::<bool>()) {
            let quote = PriceBreakdown::quote(base, promotion, tax);
            for money in [quote.base_price, quote.discount, quote.tax, quote.total] {
                prop_assert_eq!(money.amount().scale(), 2);
                prop_assert!(!money.amount().is_sign_negative() || money.is_zero());
                let text = money.to_string();
                prop_assert_eq!(text.split('.').nth(1).map(str::len), Some(2), "{}", text);
            }
        }

        #[test]
        fn accepted_amounts_round_trip_through_cents_and_text(cents in 0i64..10_000_000_000) {
            let money = Money::from_cents(cents);
            prop_assert_eq!(money.to_cents(), cents);
            let parsed: Decimal = money.to_string().parse().unwrap();
            prop_assert_eq!(Money::try_new(parsed), Ok(money));
        }

        #[test]
        fn more_than_two_decimals_is_refused_never_rounded(cents in 0i64..1_000_000_000, extra in 1i64..10) {
            let amount = Decimal::new(cents * 10 + extra, 3);
            prop_assert_eq!(Money::try_new(amount), Err(MoneyError::TooPrecise));
        }
    }
}
