//! How decode throughput grows with the batch: N sequences of a 200-token prompt in one paged
//! pool (f16 KV), 20 batched decode steps each, on the default model (SmolLM2-135M Q4_1).
//! `cargo run --release --example batch_scaling [-- N,N,…]`. The figures in
//! docs/performance.md come from it.

use std::time::Instant;

use memento::kv::{KvDtype, KvPool};
use memento::model::{BatchInput, LogitRows, Model};

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = match std::env::args().nth(1) {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<_, _>>()?,
        None => vec![1, 2, 4, 8, 16],
    };
    let path = memento::fetch::ensure_default_model(false)?;
    let model = Model::load(&path)?;
    let prompt: Vec<u32> = (0..200).map(|i| 100 + i).collect();
    let positions: Vec<u64> = (0..200).collect();
    let steps = 20;
    let mut single = None;
    for n in sizes {
        let mut pool = KvPool::with_budget(KvDtype::F16, model.kv_layout(), 4096, 16)
            .map_err(anyhow::Error::msg)?;
        let mut seqs: Vec<_> = (0..n).map(|_| pool.add_sequence()).collect();
        for seq in seqs.iter_mut() {
            let mut one = [BatchInput {
                seq,
                ids: &prompt,
                positions: &positions,
                rows: LogitRows::Last,
            }];
            model.forward_batch(&mut pool, &mut one)?;
        }
        let t0 = Instant::now();
        for step in 0..steps {
            let ids = [42u32];
            let pos = [200 + step as u64];
            let mut batch: Vec<BatchInput> = seqs
                .iter_mut()
                .map(|seq| BatchInput {
                    seq,
                    ids: &ids,
                    positions: &pos,
                    rows: LogitRows::Last,
                })
                .collect();
            model.forward_batch(&mut pool, &mut batch)?;
        }
        let seconds = t0.elapsed().as_secs_f64();
        let tok_s = (n * steps) as f64 / seconds;
        let base = *single.get_or_insert(tok_s);
        println!(
            "batch {n:>3}: {:6.1} ms per step, {tok_s:6.0} tok/s, {:.2}× batch 1",
            seconds / steps as f64 * 1e3,
            tok_s / base
        );
    }
    Ok(())
}
