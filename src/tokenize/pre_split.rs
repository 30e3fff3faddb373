//! The pre-tokenizers GGUF files name in `tokenizer.ggml.pre`, as llama.cpp runs them
//! (`llama-vocab.cpp`, `llm_tokenizer_bpe`): for each name, the regexes applied in turn (each
//! splits the pieces the previous one left, matches and gaps both kept) before GPT-2's byte
//! mapping, and whether whole pieces found in the vocabulary skip the merges
//! (`ignore_merges`). The regexes are llama.cpp's own adaptations (ASCII case classes instead of
//! `(?i:…)`), so the splits agree with llama.cpp's; `tests/tokenizer.rs` checks every name
//! against llama.cpp's tokenization.

use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

/// How one `tokenizer.ggml.pre` name splits text.
#[derive(Debug, Clone, Copy)]
pub struct PreSplit {
    pub name: &'static str,
    pub regexes: &'static [&'static str],
    /// A piece that is itself a vocabulary entry becomes that token without merging.
    pub ignore_merges: bool,
}

impl PreSplit {
    /// The split for `name`: a mapped name, or an error naming why it is refused.
    pub fn lookup(name: &str) -> Result<PreSplit, String> {
        if let Some((name, regexes, ignore_merges)) = PRE_SPLITS.iter().find(|(n, _, _)| *n == name)
        {
            return Ok(PreSplit {
                name,
                regexes,
                ignore_merges: *ignore_merges,
            });
        }
        if let Some((_, why)) = REFUSED_PRE.iter().find(|(n, _)| *n == name) {
            return Err(format!(
                "metadata `tokenizer.ggml.pre` is \"{name}\", whose tokenizer {why}; memento rebuilds byte-level BPE splits only"
            ));
        }
        Err(format!(
            "metadata `tokenizer.ggml.pre` is \"{}\", a pre-tokenizer llama.cpp does not know either; memento maps llama.cpp's {} byte-level names, e.g. qwen2, llama-bpe, deepseek-r1-qwen, smollm, gpt-2, default",
            name.escape_debug(),
            PRE_SPLITS.len()
        ))
    }

    /// The tokenizers pre-tokenizer: each regex as an isolating split, then byte mapping.
    pub fn pre_tokenizer(&self) -> Result<PreTokenizerWrapper, String> {
        let mut steps = Vec::with_capacity(self.regexes.len() + 1);
        for pattern in self.regexes {
            let split = Split::new(
                SplitPattern::Regex(pattern.to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| format!("pre-tokenizer \"{}\": regex {pattern:?}: {e}", self.name))?;
            steps.push(PreTokenizerWrapper::Split(split));
        }
        steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
            false, false, false,
        )));
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(steps)))
    }
}

const SPLIT_LLAMA3: &[&str] = &[
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_DEEPSEEK_LLM: &[&str] = &[
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
];

const SPLIT_DEEPSEEK_CODER: &[&str] = &[
    "[\r\n]",
    "\\s?\\p{L}+",
    "\\s?\\p{P}+",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}",
];

const SPLIT_DEEPSEEK3_LLM: &[&str] = &[
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_SPARK2_5: &[&str] = &[
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
    "\\p{N}",
];

const SPLIT_YOUTU: &[&str] = &[
    "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_FALCON: &[&str] = &[
    "[\\p{P}\\$\\+<=>\\^~\\|`]+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    "[0-9][0-9][0-9]",
];

const SPLIT_GPT2: &[&str] =
    &["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"];

const SPLIT_STARCODER: &[&str] = &[
    "\\p{N}",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
];

const SPLIT_JAIS2: &[&str] = &[
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
];

const SPLIT_QWEN2: &[&str] = &[
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_QWEN35: &[&str] = &[
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_PORO: &[&str] = &[" ?[^(\\s|.,!?…。，、।۔،)]+"];

const SPLIT_VIKING: &[&str] = &[" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"];

const SPLIT_TEKKEN: &[&str] = &[
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_EXAONE_MOE: &[&str] = &[
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
];

const SPLIT_GPT4O: &[&str] = &[
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_GRANITE_EMB_MULTI: &[&str] = &[
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_TINY_AYA: &[&str] = &[
    "\\d{1,3}(?=(?:\\d{3})*\\b)",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_BAILINGMOE: &[&str] = &[
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
];

const SPLIT_SEED_CODER: &[&str] = &[
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_UFAKZEKA: &[&str] = &[
    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_LAGUNA: &[&str] = &[
    "[^\\n]+|[\\n]+",
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_MINICPM5: &[&str] = &[
    "\\p{N}{1,3}",
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

const SPLIT_LLAMA_CPP_DEFAULT: &[&str] = &[
    "[\\p{P}\\$\\+<=>\\^~\\|]+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    "\\p{N}+",
    "[0-9][0-9][0-9]",
];

pub const PRE_SPLITS: &[(&str, &[&str], bool)] = &[
    ("llama3", SPLIT_LLAMA3, true),
    ("llama-v3", SPLIT_LLAMA3, true),
    ("llama-bpe", SPLIT_LLAMA3, true),
    ("falcon3", SPLIT_LLAMA3, true),
    ("falcon-h1", SPLIT_LLAMA3, true),
    ("pixtral", SPLIT_LLAMA3, true),
    ("midm-2.0", SPLIT_LLAMA3, true),
    ("lfm2", SPLIT_LLAMA3, true),
    ("jina-v5-nano", SPLIT_LLAMA3, true),
    ("deepseek-llm", SPLIT_DEEPSEEK_LLM, false),
    ("deepseek-coder", SPLIT_DEEPSEEK_CODER, false),
    ("deepseek-v3", SPLIT_DEEPSEEK3_LLM, false),
    ("spark2_5", SPLIT_SPARK2_5, false),
    ("youtu", SPLIT_YOUTU, true),
    ("falcon", SPLIT_FALCON, false),
    ("mpt", SPLIT_GPT2, false),
    ("starcoder", SPLIT_STARCODER, false),
    ("gpt-2", SPLIT_GPT2, false),
    ("phi-2", SPLIT_GPT2, false),
    ("jina-es", SPLIT_GPT2, false),
    ("jina-de", SPLIT_GPT2, false),
    ("gigachat", SPLIT_GPT2, false),
    ("jina-v2-es", SPLIT_GPT2, false),
    ("jina-v2-de", SPLIT_GPT2, false),
    ("a.x-4.0", SPLIT_GPT2, false),
    ("mellum", SPLIT_GPT2, false),
    ("modern-bert", SPLIT_GPT2, false),
    ("jais-2", SPLIT_JAIS2, false),
    ("refact", SPLIT_STARCODER, false),
    ("command-r", SPLIT_STARCODER, false),
    ("qwen2", SPLIT_QWEN2, false),
    ("deepseek-r1-qwen", SPLIT_QWEN2, false),
    ("kormo", SPLIT_QWEN2, false),
    ("f2llmv2", SPLIT_QWEN2, false),
    ("qwen35", SPLIT_QWEN35, false),
    ("stablelm2", SPLIT_QWEN2, false),
    ("olmo", SPLIT_GPT2, false),
    ("dbrx", SPLIT_LLAMA3, false),
    ("smaug-bpe", SPLIT_LLAMA3, false),
    ("poro-chat", SPLIT_PORO, false),
    ("chatglm-bpe", SPLIT_LLAMA3, false),
    ("glm4", SPLIT_LLAMA3, true),
    ("glm5", SPLIT_LLAMA3, true),
    ("viking", SPLIT_VIKING, false),
    ("jais", SPLIT_GPT2, false),
    ("tekken", SPLIT_TEKKEN, true),
    ("smollm", SPLIT_STARCODER, false),
    ("codeshell", SPLIT_STARCODER, false),
    ("bloom", SPLIT_PORO, false),
    ("gpt3-finnish", SPLIT_PORO, false),
    ("exaone", SPLIT_STARCODER, false),
    ("exaone4", SPLIT_GPT2, false),
    ("exaone-moe", SPLIT_EXAONE_MOE, false),
    ("minerva-7b", SPLIT_STARCODER, false),
    ("megrez", SPLIT_QWEN2, false),
    ("gpt-4o", SPLIT_GPT4O, false),
    ("llama4", SPLIT_GPT4O, false),
    ("kanana2", SPLIT_GPT4O, false),
    ("talkie", SPLIT_GPT4O, false),
    ("granite-embed-multi-97m", SPLIT_GRANITE_EMB_MULTI, true),
    ("tiny_aya", SPLIT_TINY_AYA, false),
    ("cohere2moe", SPLIT_TINY_AYA, false),
    ("trillion", SPLIT_GPT2, false),
    ("granite-docling", SPLIT_GPT2, false),
    ("bailingmoe", SPLIT_BAILINGMOE, false),
    ("bailingmoe2", SPLIT_BAILINGMOE, false),
    ("llada-moe", SPLIT_BAILINGMOE, false),
    ("seed-coder", SPLIT_SEED_CODER, false),
    ("hunyuan", SPLIT_QWEN2, false),
    ("hunyuan-dense", SPLIT_DEEPSEEK3_LLM, false),
    ("hy_v4", SPLIT_DEEPSEEK3_LLM, false),
    ("joyai-llm", SPLIT_DEEPSEEK3_LLM, false),
    ("ufakzeka", SPLIT_UFAKZEKA, false),
    ("grok-2", SPLIT_QWEN2, false),
    ("laguna", SPLIT_LAGUNA, false),
    ("minimax-m2", SPLIT_GPT4O, false),
    ("solar-open", SPLIT_QWEN2, false),
    ("mellum2", SPLIT_STARCODER, false),
    ("minicpm5", SPLIT_MINICPM5, true),
    ("default", SPLIT_LLAMA_CPP_DEFAULT, false),
];

pub const REFUSED_PRE: &[(&str, &str)] = &[
    (
        "jina-v1-en",
        "adds a separator token to every text (an embedding model's tokenizer)",
    ),
    (
        "jina-v2-code",
        "adds a separator token to every text (an embedding model's tokenizer)",
    ),
    (
        "roberta-bpe",
        "adds a separator token to every text (an embedding model's tokenizer)",
    ),
    (
        "gemma4",
        "is not byte-level: spaces become U+2581 and merges run on raw UTF-8",
    ),
    (
        "granite-embed-multi-311m",
        "is not byte-level: spaces become U+2581 and merges run on raw UTF-8",
    ),
    (
        "sarvam-moe",
        "is not byte-level: spaces become U+2581 and merges run on raw UTF-8",
    ),
    (
        "whitespace",
        "is not byte-level (splits on whitespace over raw UTF-8)",
    ),
    (
        "kimi-k2",
        "needs llama.cpp's hand-written Han-character split",
    ),
    ("afmoe", "needs llama.cpp's hand-written digit grouping"),
    (
        "superbpe",
        "splits at zero-width positions (digit groups), which a regex split cannot express",
    ),
    (
        "chameleon",
        "needs image-token handling and a sentinel split",
    ),
];
