//! Lenient JSON number reading for request bodies.

use serde::{Deserialize, Deserializer, de::Error};

/// An integer field that also takes an integral float (`528.0`): JSON Schema (and so the
/// OpenAPI document) calls both an integer, and clients in languages without integers send the
/// second. A fraction or a value out of the field's range is still refused.
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let n = serde_json::Number::deserialize(deserializer)?;
    let whole = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => Some(i),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => Some(f as i64),
        _ => None,
    };
    whole
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| D::Error::custom(format!("{n} is not an integer in range")))
}

/// [`integer`] for an optional field (`null` or absent: `None`).
pub fn optional_integer<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(Deserialize)]
    struct Whole<T: TryFrom<i64>>(#[serde(deserialize_with = "integer")] T);
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Round {
        #[serde(deserialize_with = "super::integer")]
        round: i32,
    }

    fn parse(raw: &str) -> Option<i32> {
        serde_json::from_str::<Round>(raw).ok().map(|r| r.round)
    }

    #[derive(serde::Deserialize)]
    struct Limit {
        #[serde(default, deserialize_with = "super::optional_integer")]
        limit: Option<u32>,
    }

    #[test]
    fn optional_integers_take_null_absence_and_integral_floats() {
        let limit = |raw: &str| serde_json::from_str::<Limit>(raw).map(|l| l.limit).ok();
        assert_eq!(limit(r#"{"limit": 80.0}"#), Some(Some(80)));
        assert_eq!(limit(r#"{"limit": null}"#), Some(None));
        assert_eq!(limit(r#"{}"#), Some(None));
        assert_eq!(limit(r#"{"limit": -1}"#), None);
    }

    #[test]
    fn integral_floats_are_integers_and_nothing_else_is() {
        assert_eq!(parse(r#"{"round": 3}"#), Some(3));
        assert_eq!(parse(r#"{"round": 528.0}"#), Some(528));
        assert_eq!(parse(r#"{"round": 1.5}"#), None);
        assert_eq!(parse(r#"{"round": 3000000000}"#), None);
        assert_eq!(parse(r#"{"round": "3"}"#), None);
    }
}
