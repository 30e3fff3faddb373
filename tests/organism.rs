//! The shipped model organism does what docs/organism.md says: it solves held-out walks in
//! memento mode and in full context, in several blocks whose mementos are shorter than the
//! blocks, at under half the peak KV; restart mode, which recomputes the mementos' KV from
//! their text, loses the place the text leaves out and with it the answer.

use memento::kv::KvPolicy;
use memento::model::{Model, ModelTokenizer};
use memento::task::eval::{Outcome, evaluate};
use memento::task::{Split, Task};

/// Held-out problems decoded per mode: enough to tell 90% from 25%, few enough for CI.
const PROBLEMS: u64 = 16;
/// A seed of its own, so these walks are none of the documented measurement's.
const SEED: u64 = 77;

fn run(policy: KvPolicy) -> Vec<Outcome> {
    let dir = memento::organism::ensure().expect("the organism");
    let model = Model::load(&dir).unwrap();
    let tokenizer = ModelTokenizer::load(&dir).unwrap();
    let task = Task::of_model(&dir).unwrap().expect("the organism's task");
    evaluate(
        &model,
        &tokenizer,
        &task,
        Split::Heldout,
        SEED,
        PROBLEMS,
        policy,
        task.max_tokens(),
        &mut |_| {},
    )
    .unwrap()
}

fn correct(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| o.correct).count()
}

#[test]
fn the_organism_solves_held_out_walks_and_restart_mode_loses_them() {
    let memento = run(KvPolicy::MEMENTO);
    let full = run(KvPolicy::FULL);
    let restart = run(KvPolicy::restart());
    let summary = format!(
        "memento {}/{PROBLEMS}, full {}/{PROBLEMS}, restart {}/{PROBLEMS}",
        correct(&memento),
        correct(&full),
        correct(&restart)
    );
    // Documented: about 90% in memento mode and in full context, about 10% in restart mode.
    assert!(correct(&memento) >= 13, "{summary}");
    assert!(correct(&full) >= 13, "{summary}");
    assert!(correct(&restart) <= 5, "{summary}");

    // Several blocks per problem, each memento shorter than its block.
    let blocks: usize = memento.iter().map(|o| o.block_tokens.len()).sum();
    assert!(blocks as f64 / PROBLEMS as f64 >= 4.0, "{blocks} blocks");
    for o in &memento {
        for (b, m) in o.block_tokens.iter().zip(&o.memento_tokens) {
            assert!(
                m < b,
                "{}: a memento of {m} tokens closes a block of {b}",
                o.id
            );
        }
    }

    // Evicting each block at its memento's end: under half the peak KV of full context.
    let mut ratios: Vec<f64> = memento
        .iter()
        .zip(&full)
        .map(|(m, f)| m.peak_live as f64 / f.peak_live as f64)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    assert!(median <= 0.5, "median peak KV ratio {median}: {ratios:?}");
}
