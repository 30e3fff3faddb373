//! Our forward against candle-transformers' own models, used as oracles: the real SmolLM2
//! GGUF through `quantized_llama`, and a tiny random Qwen3 safetensors model through `qwen3`.
//!
//! SmolLM2 is numerically touchy: changing only the summation order of the attention dot
//! products (f32 against f64) moves its logits by about 2% of their scale on some inputs. So
//! the SmolLM2 comparison runs our forward with attention in candle ops and candle's quantized
//! matmul, in the reference's order, and matches it bit for bit. Our fast paths are checked
//! separately: the host attention kernel against the formula (unit tests) and candle's qwen3
//! here, the Q4_1 kernel against candle's matmul (`q4_1_kernel.rs`), and the whole default
//! configuration against llama.cpp's greedy tokens (`llamacpp_greedy.rs`).

use candle_core::{DType, Device, Tensor};
use memento::model::{AttentionKernel, LogitRows, MatmulKernel, Model, ModelTokenizer};

fn smollm2() -> std::path::PathBuf {
    memento::fetch::ensure_default_model(false).expect("the default model (memento fetch)")
}

#[test]
fn smollm2_logits_match_quantized_llama() {
    let path = smollm2();
    let mut model = Model::load_with(&path, MatmulKernel::Candle).unwrap();
    model.set_attention(AttentionKernel::CandleOps);
    let tok = ModelTokenizer::load(&path).unwrap();
    let prompt = "<|im_start|>user\nWhat is 17 times 23? Think step by step.<|im_end|>\n<|im_start|>assistant\n";
    let ids: Vec<u32> = tok.encode(prompt).unwrap().iter().map(|p| p.1).collect();

    let mut file = std::fs::File::open(&path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let mut oracle = candle_transformers::models::quantized_llama::ModelWeights::from_gguf(
        content,
        &mut file,
        &Device::Cpu,
    )
    .unwrap();

    // Prefill, then three decode steps, comparing the logits at each.
    let mut store = model.new_store();
    let positions: Vec<u64> = (0..ids.len() as u64).collect();
    let ours = model
        .forward(&mut store, &ids, &positions, LogitRows::Last)
        .unwrap()
        .remove(0);
    let input = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let theirs: Vec<f32> = oracle
        .forward(&input, 0)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1()
        .unwrap();
    let err = common::max_rel_err(&ours, &theirs);
    assert!(err <= 1e-4, "prefill logits: max relative error {err}");

    let mut next = memento::model::argmax(&ours);
    for step in 0..3u64 {
        let pos = ids.len() as u64 + step;
        let ours = model
            .forward(&mut store, &[next], &[pos], LogitRows::Last)
            .unwrap()
            .remove(0);
        let input = Tensor::new(&[next], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let theirs: Vec<f32> = oracle
            .forward(&input, pos as usize)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        let err = common::max_rel_err(&ours, &theirs);
        assert!(err <= 1e-4, "decode step {step}: max relative error {err}");
        next = memento::model::argmax(&ours);
    }
}

mod common;

#[test]
fn tiny_qwen3_logits_match_candle_qwen3() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path(), &common::TINY_QWEN3, 7);
    let model = Model::load(dir.path()).unwrap();
    let cfg: candle_transformers::models::qwen3::Config =
        serde_json::from_value(common::config_json(&common::TINY_QWEN3)).unwrap();
    let files = [dir.path().join("model.safetensors")];
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(&files, DType::F32, &Device::Cpu).unwrap()
    };
    let mut oracle = candle_transformers::models::qwen3::ModelForCausalLM::new(&cfg, vb).unwrap();
    let ids: Vec<u32> = (0..40u32).map(|i| (i * 97 + 13) % 300).collect();
    let mut store = model.new_store();
    let pos: Vec<u64> = (0..40).collect();
    let ours = model
        .forward(&mut store, &ids, &pos, LogitRows::Last)
        .unwrap()
        .remove(0);
    let input = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let theirs: Vec<f32> = oracle
        .forward(&input, 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let err = common::max_rel_err(&ours, &theirs);
    assert!(err <= 1e-4, "prefill: max relative error {err}");
    let mut next = memento::model::argmax(&ours);
    for step in 0..8u64 {
        let p = 40 + step;
        let ours = model
            .forward(&mut store, &[next], &[p], LogitRows::Last)
            .unwrap()
            .remove(0);
        let input = Tensor::new(&[next], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let theirs: Vec<f32> = oracle
            .forward(&input, p as usize)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let err = common::max_rel_err(&ours, &theirs);
        assert!(err <= 1e-4, "decode step {step}: max relative error {err}");
        next = memento::model::argmax(&ours);
    }
}
