//! Reading a checkpoint's RoPE base and scaling: HF `config.json` (`rope_theta` and
//! `rope_scaling`, or transformers 5's `rope_parameters`) and GGUF `rope.*` metadata.
//!
//! Sources: HF transformers `modeling_rope_utils.py` (5.x; field names and defaults of each
//! `rope_type`) and llama.cpp `llama-model.cpp` / `llama-context.cpp` (the GGUF keys and how
//! YaRN's magnitude is derived). What memento does not implement is refused, naming the field.

use serde_json::Value as Json;

use super::error::ModelError;
use super::gguf_meta::{self, Metadata};
use super::rope::RopeScaling;

/// YaRN's default magnitude correction, `0.1·ln(s) + 1` (1 when `s ≤ 1`), optionally with an
/// `mscale` multiplier (HF `get_mscale`).
fn yarn_mscale(scale: f64, mscale: f64) -> f64 {
    if scale <= 1.0 {
        1.0
    } else {
        0.1 * mscale * scale.ln() + 1.0
    }
}

/// Refuse a `partial_rotary_factor` (top-level or in the RoPE dict) other than 1.
pub fn refuse_partial_rotary(field: &str, p: f64) -> Result<(), ModelError> {
    if p == 1.0 {
        return Ok(());
    }
    Err(ModelError::field(
        field,
        &format!(
            "{p}: partial rotary embeddings are not part of Llama or Qwen; refusing rather than rotating every dimension"
        ),
    ))
}

/// The RoPE base and scaling of an HF config. `rope_theta` is the top-level field,
/// `rope_scaling` and `rope_parameters` the dicts (either may be absent or null), `max_position`
/// the config's `max_position_embeddings`.
pub fn from_hf(
    rope_theta: Option<f64>,
    rope_scaling: Option<&Json>,
    rope_parameters: Option<&Json>,
    max_position: usize,
) -> Result<(f64, RopeScaling), ModelError> {
    let (dict, name) = match (rope_parameters, rope_scaling) {
        (Some(p), _) if !p.is_null() => (Some(p), "rope_parameters"),
        (_, Some(s)) if !s.is_null() => (Some(s), "rope_scaling"),
        _ => (None, "rope_scaling"),
    };
    let dict = match dict {
        None => None,
        Some(Json::Object(map)) => Some(map),
        Some(other) => {
            return Err(ModelError::field(
                name,
                &format!("{other}; expected an object with a `rope_type`"),
            ));
        }
    };
    let num = |key: &str| -> Result<Option<f64>, ModelError> {
        match dict.and_then(|d| d.get(key)) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                ModelError::field(&format!("{name}.{key}"), &format!("{v}; expected a number"))
            }),
        }
    };
    // Per-layer-type dicts (transformers 5, e.g. {"full_attention": {...}, "sliding_attention": {...}}).
    if let Some(d) = dict
        && d.values().any(|v| v.is_object())
    {
        return Err(ModelError::field(
            name,
            "holds RoPE parameters per layer type; memento runs models whose layers share one RoPE",
        ));
    }
    // A nonsense base is refused with every other nonsense value, by `ModelConfig::check`.
    let theta = num("rope_theta")?.or(rope_theta).unwrap_or(10_000.0);
    if let Some(p) = num("partial_rotary_factor")? {
        refuse_partial_rotary(&format!("{name}.partial_rotary_factor"), p)?;
    }
    let Some(d) = dict else {
        return Ok((theta, RopeScaling::None));
    };
    let kind = match d.get("rope_type").or_else(|| d.get("type")) {
        None | Some(Json::Null) => "default".to_string(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => {
            return Err(ModelError::field(
                &format!("{name}.rope_type"),
                &format!("{other}; expected a string"),
            ));
        }
    };
    let factor = |required: bool| -> Result<Option<f64>, ModelError> {
        match num("factor")? {
            Some(f) if f.is_finite() && f > 0.0 => Ok(Some(f)),
            Some(f) => Err(ModelError::field(
                &format!("{name}.factor"),
                &format!("{f}; expected a positive scaling factor"),
            )),
            None if required => Err(ModelError::field(
                &format!("{name}.factor"),
                &format!("missing; rope_type `{kind}` needs it"),
            )),
            None => Ok(None),
        }
    };
    let context = |key: &str, default: usize| -> Result<usize, ModelError> {
        match num(key)? {
            None => Ok(default),
            Some(n) if n >= 1.0 && n.fract() == 0.0 => Ok(n as usize),
            Some(n) => Err(ModelError::field(
                &format!("{name}.{key}"),
                &format!("{n}; expected a positive whole number of tokens"),
            )),
        }
    };
    let scaling = match kind.as_str() {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: factor(true)?.unwrap_or(1.0) as f32,
        },
        "dynamic" => RopeScaling::Dynamic {
            factor: factor(true)?.unwrap_or(1.0) as f32,
            max_position,
        },
        "yarn" => {
            let original = context("original_max_position_embeddings", max_position)?;
            let factor = match factor(false)? {
                Some(f) => f,
                None => max_position as f64 / original as f64,
            };
            let attention_factor = match num("attention_factor")? {
                Some(a) if a.is_finite() && a > 0.0 => a,
                Some(a) => {
                    return Err(ModelError::field(
                        &format!("{name}.attention_factor"),
                        &format!("{a}; expected a positive number"),
                    ));
                }
                None => match (num("mscale")?, num("mscale_all_dim")?) {
                    (Some(m), Some(all)) if m != 0.0 && all != 0.0 => {
                        yarn_mscale(factor, m) / yarn_mscale(factor, all)
                    }
                    _ => yarn_mscale(factor, 1.0),
                },
            };
            let beta = |key: &str, default: f64| -> Result<f32, ModelError> {
                match num(key)? {
                    // HF reads `or 32`: 0 means the default.
                    None | Some(0.0) => Ok(default as f32),
                    Some(b) if b.is_finite() && b > 0.0 => Ok(b as f32),
                    Some(b) => Err(ModelError::field(
                        &format!("{name}.{key}"),
                        &format!("{b}; expected a positive number of rotations"),
                    )),
                }
            };
            let truncate = match d.get("truncate") {
                None | Some(Json::Null) => true,
                Some(Json::Bool(b)) => *b,
                Some(other) => {
                    return Err(ModelError::field(
                        &format!("{name}.truncate"),
                        &format!("{other}; expected true or false"),
                    ));
                }
            };
            RopeScaling::Yarn {
                factor: factor as f32,
                original_context: original,
                beta_fast: beta("beta_fast", 32.0)?,
                beta_slow: beta("beta_slow", 1.0)?,
                attention_factor: attention_factor as f32,
                truncate,
            }
        }
        "llama3" => {
            let band = |key: &str| -> Result<f32, ModelError> {
                match num(key)? {
                    Some(x) if x.is_finite() && x > 0.0 => Ok(x as f32),
                    Some(x) => Err(ModelError::field(
                        &format!("{name}.{key}"),
                        &format!("{x}; expected a positive number"),
                    )),
                    None => Err(ModelError::field(
                        &format!("{name}.{key}"),
                        "missing; rope_type `llama3` needs it",
                    )),
                }
            };
            let (low, high) = (band("low_freq_factor")?, band("high_freq_factor")?);
            if high <= low {
                return Err(ModelError::field(
                    &format!("{name}.high_freq_factor"),
                    &format!("{high} is not above low_freq_factor {low}"),
                ));
            }
            RopeScaling::Llama3 {
                factor: factor(true)?.unwrap_or(1.0) as f32,
                low_freq_factor: low,
                high_freq_factor: high,
                original_context: context("original_max_position_embeddings", max_position)?,
            }
        }
        other => {
            return Err(ModelError::Unsupported(format!(
                "{name}.rope_type `{other}`: memento applies default, linear, dynamic, yarn and llama3 RoPE"
            )));
        }
    };
    Ok((theta, scaling))
}

/// The RoPE scaling of a GGUF file (`{arch}.rope.scaling.*`), as llama.cpp reads it: the type
/// defaults to linear, the factor may sit under the older `rope.scale_linear`, and YaRN's
/// magnitude is `get_mscale(factor)` (or the `yarn_log_multiplier` ratio) times `attn_factor`.
pub fn from_gguf(md: &Metadata, arch: &str, context: usize) -> Result<RopeScaling, ModelError> {
    let key = |k: &str| format!("{arch}.rope.{k}");
    let kind = gguf_meta::string(md, &key("scaling.type"))?.unwrap_or("linear");
    let factor_key = if md.contains_key(&key("scaling.factor")) {
        key("scaling.factor")
    } else {
        key("scale_linear")
    };
    let factor = gguf_meta::float(md, &factor_key)?.unwrap_or(0.0);
    if !factor.is_finite() || factor < 0.0 {
        return Err(ModelError::field(
            &factor_key,
            &format!("{factor}; expected a positive scaling factor"),
        ));
    }
    // llama.cpp: a factor of 0 (or none) means no scaling.
    let factor = if factor == 0.0 { 1.0 } else { factor };
    let attn_key = key("scaling.attn_factor");
    let attn_factor = gguf_meta::float(md, &attn_key)?.unwrap_or(1.0);
    if !(attn_factor.is_finite() && attn_factor > 0.0) {
        return Err(ModelError::field(
            &attn_key,
            &format!("{attn_factor}; expected a positive number"),
        ));
    }
    let scaling = match kind {
        "none" => RopeScaling::None,
        "linear" if factor == 1.0 => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: factor as f32,
        },
        "yarn" => {
            let original = gguf_meta::uint(md, &key("scaling.original_context_length"))?
                .map(|n| n as usize)
                .unwrap_or(context);
            let log_mul = gguf_meta::float(md, &key("scaling.yarn_log_multiplier"))?.unwrap_or(0.0);
            let base = if log_mul != 0.0 {
                yarn_mscale(factor, 1.0) / yarn_mscale(factor, log_mul)
            } else {
                yarn_mscale(factor, 1.0)
            };
            let beta = |k: &str, default: f64| -> Result<f32, ModelError> {
                Ok(gguf_meta::float(md, &key(k))?.unwrap_or(default) as f32)
            };
            RopeScaling::Yarn {
                factor: factor as f32,
                original_context: original,
                beta_fast: beta("scaling.yarn_beta_fast", 32.0)?,
                beta_slow: beta("scaling.yarn_beta_slow", 1.0)?,
                attention_factor: (base * attn_factor) as f32,
                truncate: true,
            }
        }
        other => {
            return Err(ModelError::Unsupported(format!(
                "`{}` is \"{other}\": memento applies none, linear and yarn RoPE scaling from GGUF metadata",
                key("scaling.type")
            )));
        }
    };
    if attn_factor != 1.0 && !matches!(scaling, RopeScaling::Yarn { .. }) {
        return Err(ModelError::field(
            &attn_key,
            &format!(
                "{attn_factor}: a RoPE magnitude factor outside YaRN is not applied by memento"
            ),
        ));
    }
    Ok(scaling)
}

/// The context a scaled model serves, as vLLM derives it (`_get_and_verify_max_len`): linear
/// and dynamic scaling stretch `max_position` by their factor, YaRN serves its original
/// context times its factor; Llama 3 configs already declare their extended context.
pub fn served_context(max_position: usize, scaling: &RopeScaling) -> usize {
    let stretch = |n: usize, f: f32| ((n as f64) * f64::from(f)).round() as usize;
    match scaling {
        RopeScaling::Linear { factor } | RopeScaling::Dynamic { factor, .. } if *factor > 1.0 => {
            stretch(max_position, *factor)
        }
        RopeScaling::Yarn {
            factor,
            original_context,
            ..
        } => max_position.max(stretch(*original_context, *factor)),
        _ => max_position,
    }
}

/// The `rope_scaling` dict an HF `config.json` carries for `scaling` (`None` when unscaled):
/// what [`from_hf`] reads back.
pub fn to_hf(scaling: &RopeScaling) -> Option<Json> {
    Some(match scaling {
        RopeScaling::None => return None,
        RopeScaling::Linear { factor } => {
            serde_json::json!({"rope_type": "linear", "factor": factor})
        }
        RopeScaling::Dynamic { factor, .. } => {
            serde_json::json!({"rope_type": "dynamic", "factor": factor})
        }
        RopeScaling::Yarn {
            factor,
            original_context,
            beta_fast,
            beta_slow,
            attention_factor,
            truncate,
        } => serde_json::json!({
            "rope_type": "yarn",
            "factor": factor,
            "original_max_position_embeddings": original_context,
            "beta_fast": beta_fast,
            "beta_slow": beta_slow,
            "attention_factor": attention_factor,
            "truncate": truncate,
        }),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_context,
        } => serde_json::json!({
            "rope_type": "llama3",
            "factor": factor,
            "low_freq_factor": low_freq_factor,
            "high_freq_factor": high_freq_factor,
            "original_max_position_embeddings": original_context,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hf(scaling: Json) -> Result<(f64, RopeScaling), ModelError> {
        from_hf(Some(1e6), Some(&scaling), None, 32_768)
    }

    #[test]
    fn qwen3_yarn_reads_as_transformers_does() {
        let (theta, s) = hf(json!({"rope_type": "yarn", "factor": 4.0,
            "original_max_position_embeddings": 32768}))
        .unwrap();
        assert_eq!(theta, 1e6);
        assert_eq!(
            s,
            RopeScaling::Yarn {
                factor: 4.0,
                original_context: 32_768,
                beta_fast: 32.0,
                beta_slow: 1.0,
                attention_factor: (0.1 * 4f64.ln() + 1.0) as f32,
                truncate: true,
            }
        );
    }

    #[test]
    fn transformers5_rope_parameters_carry_theta_and_type() {
        let p = json!({"rope_type": "linear", "rope_theta": 5e5, "factor": 2.0});
        let (theta, s) = from_hf(None, None, Some(&p), 4096).unwrap();
        assert_eq!(theta, 5e5);
        assert_eq!(s, RopeScaling::Linear { factor: 2.0 });
        let p = json!({"rope_type": "default", "rope_theta": 1e6});
        assert_eq!(
            from_hf(None, None, Some(&p), 4096).unwrap(),
            (1e6, RopeScaling::None)
        );
    }

    #[test]
    fn legacy_type_key_and_llama3() {
        let (_, s) = hf(
            json!({"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
        )
        .unwrap();
        assert_eq!(
            s,
            RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_context: 8192
            }
        );
    }

    #[test]
    fn unknown_and_nonsense_values_are_refused_by_name() {
        let cases = [
            (json!({"rope_type": "longrope", "factor": 2.0}), "longrope"),
            (json!({"rope_type": "linear"}), "rope_scaling.factor"),
            (
                json!({"rope_type": "linear", "factor": -2.0}),
                "rope_scaling.factor",
            ),
            (
                json!({"rope_type": "llama3", "factor": 8.0}),
                "low_freq_factor",
            ),
            (
                json!({"rope_type": "yarn", "factor": 4.0, "beta_fast": -1}),
                "beta_fast",
            ),
            (json!("yarn"), "rope_scaling"),
        ];
        for (value, needle) in cases {
            let err = hf(value.clone()).unwrap_err().to_string();
            assert!(err.contains(needle), "{value}: {err}");
        }
        let p = json!({"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5});
        let err = from_hf(None, None, Some(&p), 4096).unwrap_err().to_string();
        assert!(err.contains("partial_rotary_factor"), "{err}");
    }
}
