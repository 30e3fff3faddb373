//! Typed reads of GGUF metadata values, each error naming the key and what was expected.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;

use super::error::ModelError;

pub type Metadata = HashMap<String, Value>;

/// An unsigned integer under `key`, of any integer width; `None` when the key is absent.
pub fn uint(md: &Metadata, key: &str) -> Result<Option<u64>, ModelError> {
    let Some(v) = md.get(key) else {
        return Ok(None);
    };
    let signed = |x: i64| {
        u64::try_from(x).map_err(|_| {
            ModelError::field(
                key,
                &format!("{x} is negative; expected an unsigned integer"),
            )
        })
    };
    let n = match v {
        Value::U8(x) => u64::from(*x),
        Value::U16(x) => u64::from(*x),
        Value::U32(x) => u64::from(*x),
        Value::U64(x) => *x,
        Value::I8(x) => signed(i64::from(*x))?,
        Value::I16(x) => signed(i64::from(*x))?,
        Value::I32(x) => signed(i64::from(*x))?,
        Value::I64(x) => signed(*x)?,
        Value::Array(items) => {
            return Err(ModelError::field(
                key,
                &format!(
                    "an array of {} per-layer values; memento runs models whose layers all have the same shape",
                    items.len()
                ),
            ));
        }
        other => {
            return Err(ModelError::field(
                key,
                &format!("{}; expected an unsigned integer", describe(other)),
            ));
        }
    };
    Ok(Some(n))
}

/// A float under `key` (integers accepted); `None` when absent.
pub fn float(md: &Metadata, key: &str) -> Result<Option<f64>, ModelError> {
    let Some(v) = md.get(key) else {
        return Ok(None);
    };
    let x = match v {
        Value::F32(x) => f64::from(*x),
        Value::F64(x) => *x,
        Value::U8(x) => f64::from(*x),
        Value::U16(x) => f64::from(*x),
        Value::U32(x) => f64::from(*x),
        Value::U64(x) => *x as f64,
        Value::I8(x) => f64::from(*x),
        Value::I16(x) => f64::from(*x),
        Value::I32(x) => f64::from(*x),
        Value::I64(x) => *x as f64,
        other => {
            return Err(ModelError::field(
                key,
                &format!("{}; expected a number", describe(other)),
            ));
        }
    };
    Ok(Some(x))
}

/// A string under `key`; `None` when absent.
pub fn string<'a>(md: &'a Metadata, key: &str) -> Result<Option<&'a str>, ModelError> {
    match md.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ModelError::field(
            key,
            &format!("{}; expected a string", describe(other)),
        )),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Bool(b) => format!("the boolean {b}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(items) => format!("an array of {} values", items.len()),
        Value::F32(x) => format!("the float {x}"),
        Value::F64(x) => format!("the float {x}"),
        _ => "an integer".to_string(),
    }
}
