//! The real decode loop over the scripted decoder: a run records the script, applies its
//! policy's evictions and restart's recompute to the decoder's cache, and the cache and the
//! accountant agree after every step, with no weights involved.

use memento::engine::scripted::ScriptedDecoder;
use memento::engine::{Decoder, Run, RunOptions};
use memento::kv::KvPolicy;
use memento::model::ModelTokenizer;
use memento::trace::{Event, MemorySink};

const SCRIPT: &str = "<think>\n<|block_start|>two plus three is five<|block_end|>\n<|summary_start|>2+3=5<|summary_end|>\n<|block_start|>five times four is twenty<|block_end|>\n<|summary_start|>5*4=20<|summary_end|>\n</think>\n20";

fn tokenizer() -> ModelTokenizer {
    ModelTokenizer::load(&memento::organism::ensure().expect("the organism")).unwrap()
}

/// Run the script under `policy`; returns the run's text, its evictions, and at every step
/// (cached entries, the accountant's live entries).
fn scripted(policy: KvPolicy) -> (String, u64, Vec<(usize, u64)>) {
    let tok = tokenizer();
    let eos = tok
        .single_token("<|im_end|>")
        .expect("an end-of-turn token");
    let decoder = ScriptedDecoder::new(&tok, SCRIPT, eos).unwrap();
    let options = RunOptions {
        policy,
        max_tokens: 500,
        ..RunOptions::default()
    };
    let mut run = Run::with_decoder(decoder, &tok, options, MemorySink::default()).unwrap();
    run.prefill("Compute (2 + 3) * 4.").unwrap();
    let mut agree = Vec::new();
    while run.step().unwrap().is_some() {
        agree.push((run.decoder().cached(), run.recorder().accountant().live()));
    }
    let (sink, summary) = run.finish(None).unwrap();
    let evictions = sink
        .events
        .iter()
        .filter(|e| matches!(e, Event::Evict(_)))
        .count() as u64;
    assert_eq!(evictions, summary.evictions);
    (summary.text, summary.evictions, agree)
}

#[test]
fn memento_mode_evicts_each_block_and_the_cache_follows_the_accountant() {
    let (text, evictions, agree) = scripted(KvPolicy::MEMENTO);
    assert_eq!(text, SCRIPT);
    assert_eq!(evictions, 2);
    for (step, (cached, live)) in agree.iter().enumerate() {
        assert_eq!(*cached as u64, *live, "step {step}");
    }
    let (_, _, full) = scripted(KvPolicy::FULL);
    assert!(agree.last().unwrap().0 < full.last().unwrap().0);
}

#[test]
fn restart_recomputes_through_the_decoder_and_full_evicts_nothing() {
    let (text, evictions, agree) = scripted(KvPolicy::restart());
    assert_eq!(text, SCRIPT);
    assert_eq!(evictions, 2);
    assert!(agree.iter().all(|(c, l)| *c as u64 == *l));
    let (_, evictions, _) = scripted(KvPolicy::FULL);
    assert_eq!(evictions, 0);
}
