//! A batch with its requests submitted, as the batch tests and the tensor-path tests start one.

use memento::engine::RunOptions;
use memento::engine::batch::{Batch, BatchConfig, Request};
use memento::model::{Model, ModelTokenizer};
use memento::trace::MemorySink;

/// A batch of `pages` pages (16 tokens each) with `prompts` submitted as requests 0, 1, ….
pub fn submitted<'m>(
    model: &'m Model,
    tok: &'m ModelTokenizer,
    prompts: &[String],
    o: &RunOptions,
    pages: usize,
) -> Batch<'m, MemorySink> {
    let config = BatchConfig {
        pages,
        page_tokens: 16,
        dtype: o.kv_dtype,
        max_running: 64,
    };
    let mut batch = Batch::new(model, tok, config).unwrap();
    for (i, p) in prompts.iter().enumerate() {
        batch
            .submit(Request {
                id: i as u64,
                prompt: p.clone(),
                options: o.clone(),
                forced: Vec::new(),
                sink: MemorySink::default(),
            })
            .unwrap();
    }
    batch
}
