//! Floats in traces: every value the writer can emit reads back, NaN and infinities included.
//!
//! JSON has no NaN or infinity (serde_json writes them as `null`), so finite values are written
//! as numbers and the others as the strings `"NaN"`, `"inf"` and `"-inf"`. Readers take numbers,
//! those strings (and the spellings `"nan"`, `"+inf"`, `"Infinity"`, `"-Infinity"`), and `null`
//! (which older traces wrote for NaN).

use serde::Serializer;
use serde::de::{self, Deserializer, Visitor};

fn write_f64<S: Serializer>(x: f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(x)
    } else if x.is_nan() {
        s.serialize_str("NaN")
    } else if x > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

fn write_f32<S: Serializer>(x: f32, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f32(x)
    } else {
        write_f64(f64::from(x), s)
    }
}

fn parse_special(v: &str) -> Option<f64> {
    match v {
        "NaN" | "nan" => Some(f64::NAN),
        "inf" | "+inf" | "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Reads a number, a special string, or null (as `None`).
struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number, \"NaN\", \"inf\", \"-inf\" or null")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_special(v)
            .map(Some)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(FloatVisitor)
    }
}

/// `f32` fields: null reads as NaN.
pub mod f32_value {
    use super::*;

    pub fn serialize<S: Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
        write_f32(*x, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        Ok(d.deserialize_any(FloatVisitor)?.unwrap_or(f64::NAN) as f32)
    }
}

/// `Option<f32>` fields: null reads as `None`.
pub mod opt_f32 {
    use super::*;

    pub fn serialize<S: Serializer>(x: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(v) => write_f32(*v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
        Ok(d.deserialize_option(FloatVisitor)?.map(|v| v as f32))
    }
}

/// `Option<f64>` fields: null reads as `None`.
pub mod opt_f64 {
    use super::*;

    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(v) => write_f64(*v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_option(FloatVisitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Row {
        #[serde(with = "super::f32_value")]
        a: f32,
        #[serde(
            default,
            with = "super::opt_f32",
            skip_serializing_if = "Option::is_none"
        )]
        b: Option<f32>,
        #[serde(
            default,
            with = "super::opt_f64",
            skip_serializing_if = "Option::is_none"
        )]
        c: Option<f64>,
    }

    fn same32(x: f32, y: f32) -> bool {
        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
    }

    fn any_f32() -> impl Strategy<Value = f32> {
        prop_oneof![
            any::<f32>(),
            Just(f32::NAN),
            Just(f32::INFINITY),
            Just(f32::NEG_INFINITY),
            Just(-0.0f32),
            Just(f32::MIN_POSITIVE),
            Just(f32::MAX),
        ]
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
        ]
    }

    proptest! {
        /// Every float the writer can emit, NaN and infinities included, reads back.
        #[test]
        fn every_float_round_trips(a in any_f32(), b in proptest::option::of(any_f32()),
                                   c in proptest::option::of(any_f64())) {
            let text = serde_json::to_string(&Row { a, b, c }).unwrap();
            let back: Row = serde_json::from_str(&text).unwrap();
            prop_assert!(same32(a, back.a), "{a} → {text} → {}", back.a);
            prop_assert_eq!(b.is_some(), back.b.is_some());
            if let (Some(x), Some(y)) = (b, back.b) {
                prop_assert!(same32(x, y), "{x} → {text} → {y}");
            }
            prop_assert_eq!(c.is_some(), back.c.is_some());
            if let (Some(x), Some(y)) = (c, back.c) {
                prop_assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{x} → {text} → {y}");
            }
        }
    }

    #[test]
    fn older_nulls_and_other_spellings_read() {
        let r: Row = serde_json::from_str(r#"{"a":null,"b":null,"c":"Infinity"}"#).unwrap();
        assert!(r.a.is_nan());
        assert_eq!(r.b, None);
        assert_eq!(r.c, Some(f64::INFINITY));
        let err = serde_json::from_str::<Row>(r#"{"a":"lots"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("NaN"), "{err}");
    }
}
