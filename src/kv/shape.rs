//! Model shapes: how many bytes one token's K and V occupy, layer by layer.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvDtype {
    F32,
    F16,
    Bf16,
    /// 8-bit KV (fp8 or int8).
    Q8,
}

impl KvDtype {
    pub fn bytes(self) -> u64 {
        match self {
            KvDtype::F32 => 4,
            KvDtype::F16 | KvDtype::Bf16 => 2,
            KvDtype::Q8 => 1,
        }
    }

    pub fn parse(s: &str) -> Option<KvDtype> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Some(KvDtype::F32),
            "f16" | "fp16" | "float16" => Some(KvDtype::F16),
            "bf16" | "bfloat16" => Some(KvDtype::Bf16),
            "q8" | "q8_0" | "fp8" | "int8" | "i8" => Some(KvDtype::Q8),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KvDtype::F32 => "f32",
            KvDtype::F16 => "f16",
            KvDtype::Bf16 => "bf16",
            KvDtype::Q8 => "q8",
        }
    }
}

/// Some layers attend only to the last `window` positions and keep only those in cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidingWindow {
    pub layers: u32,
    pub window: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvShape {
    pub name: String,
    pub layers: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub dtype: KvDtype,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<SlidingWindow>,
    /// The model's context length: the gauge's capacity unless a budget is given.
    pub context_tokens: u64,
}

impl KvShape {
    /// K and V for one token in one layer.
    pub fn bytes_per_token_per_layer(&self) -> u64 {
        2 * self.kv_heads as u64 * self.head_dim as u64 * self.dtype.bytes()
    }

    /// K and V for one token across all layers, as if every layer kept it.
    pub fn bytes_per_token(&self) -> u64 {
        self.bytes_per_token_per_layer() * self.layers as u64
    }

    pub fn full_attention_layers(&self) -> u32 {
        self.layers - self.sliding_window.map_or(0, |w| w.layers.min(self.layers))
    }

    /// Bytes held when `live` tokens are cached in full-attention layers and `in_window`
    /// of them are cached in the sliding-window layers.
    pub fn bytes_for(&self, live: u64, in_window: u64) -> u64 {
        let per = self.bytes_per_token_per_layer();
        let full = self.full_attention_layers() as u64 * live * per;
        let sliding = self
            .sliding_window
            .map_or(0, |w| w.layers.min(self.layers) as u64 * in_window * per);
        full + sliding
    }

    pub fn with_dtype(mut self, dtype: KvDtype) -> KvShape {
        self.dtype = dtype;
        self
    }

    pub fn preset(name: &str) -> Option<KvShape> {
        let key = name.to_ascii_lowercase().replace(['_', ' '], "-");
        PRESETS
            .iter()
            .find(|p| p.key == key || p.aliases.contains(&key.as_str()))
            .map(|p| p.shape())
    }

    pub fn preset_names() -> impl Iterator<Item = &'static str> {
        PRESETS.iter().map(|p| p.key)
    }
}

struct Preset {
    key: &'static str,
    aliases: &'static [&'static str],
    display: &'static str,
    layers: u32,
    kv_heads: u32,
    head_dim: u32,
    dtype: KvDtype,
    sliding_window: Option<SlidingWindow>,
    context_tokens: u64,
}

impl Preset {
    fn shape(&self) -> KvShape {
        KvShape {
            name: self.display.to_string(),
            layers: self.layers,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            dtype: self.dtype,
            sliding_window: self.sliding_window,
            context_tokens: self.context_tokens,
        }
    }
}

/// Shapes of the models in the MEMENTO paper (bf16 KV, as served by vLLM) and of the default
/// local model. Qwen3-8B is 144 KiB per token, Qwen3-32B 256 KiB, Phi-4 200 KiB (paper §A.3.1).
const PRESETS: &[Preset] = &[
    Preset {
        key: "qwen3-8b",
        aliases: &["qwen3"],
        display: "Qwen3-8B",
        layers: 36,
        kv_heads: 8,
        head_dim: 128,
        dtype: KvDtype::Bf16,
        sliding_window: None,
        context_tokens: 32_768,
    },
    Preset {
        key: "qwen3-32b",
        aliases: &[],
        display: "Qwen3-32B",
        layers: 64,
        kv_heads: 8,
        head_dim: 128,
        dtype: KvDtype::Bf16,
        sliding_window: None,
        context_tokens: 32_768,
    },
    Preset {
        key: "phi-4-reasoning",
        aliases: &["phi4", "phi-4", "phi-4-14b", "phi4-reasoning"],
        display: "Phi-4-reasoning (14B)",
        layers: 40,
        kv_heads: 10,
        head_dim: 128,
        dtype: KvDtype::Bf16,
        sliding_window: None,
        context_tokens: 32_768,
    },
    Preset {
        key: "olmo-3-7b",
        aliases: &["olmo3", "olmo-3", "olmo-3-7b-think"],
        display: "Olmo-3-7B-Think",
        layers: 32,
        kv_heads: 32,
        head_dim: 128,
        dtype: KvDtype::Bf16,
        sliding_window: Some(SlidingWindow {
            layers: 24,
            window: 4096,
        }),
        context_tokens: 32_768,
    },
    Preset {
        key: "smollm2-135m",
        aliases: &["smollm2", "smollm"],
        display: "SmolLM2-135M",
        layers: 30,
        kv_heads: 3,
        head_dim: 64,
        dtype: KvDtype::F32,
        sliding_window: None,
        context_tokens: 8192,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_per_token_sizes() {
        assert_eq!(
            KvShape::preset("qwen3-8b").unwrap().bytes_per_token(),
            144 * 1024
        );
        assert_eq!(
            KvShape::preset("qwen3-32b").unwrap().bytes_per_token(),
            256 * 1024
        );
        assert_eq!(
            KvShape::preset("phi-4-reasoning")
                .unwrap()
                .bytes_per_token(),
            200 * 1024
        );
    }

    #[test]
    fn sliding_layers_hold_only_the_window() {
        let olmo = KvShape::preset("olmo-3-7b").unwrap();
        let per = olmo.bytes_per_token_per_layer();
        assert_eq!(
            olmo.bytes_for(10_000, 4096),
            8 * 10_000 * per + 24 * 4096 * per
        );
    }
}
