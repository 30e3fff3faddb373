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

/// A trace sink whose disk fills after `room` events.
struct FillingDisk {
    room: usize,
}

impl memento::trace::EventSink for FillingDisk {
    fn header(&mut self, _: &memento::trace::Header) -> std::io::Result<()> {
        Ok(())
    }

    fn event(&mut self, _: &memento::trace::Event) -> std::io::Result<()> {
        if self.room == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        self.room -= 1;
        Ok(())
    }
}

/// The engine's own errors: a trace that cannot be written ends the run with a trace error
/// (not a model error), and a request the run cannot carry out says so.
#[test]
fn the_engine_names_a_failed_trace_write_and_a_request_it_cannot_carry_out() {
    use memento::engine::EngineError;
    let tok = tokenizer();
    let eos = tok.single_token("<|im_end|>").unwrap();
    let options = RunOptions {
        policy: KvPolicy::MEMENTO,
        max_tokens: 500,
        ..RunOptions::default()
    };
    let decoder = ScriptedDecoder::new(&tok, SCRIPT, eos).unwrap();
    let mut run =
        Run::with_decoder(decoder, &tok, options.clone(), FillingDisk { room: 3 }).unwrap();
    run.prefill("Compute (2 + 3) * 4.").unwrap();
    let err = loop {
        match run.step() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the run ended although its trace could not be written"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, EngineError::TraceWrite(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "writing the trace: no space left on device"
    );

    // Forcing tokens into a run that has ended is a request error.
    let decoder = ScriptedDecoder::new(&tok, SCRIPT, eos).unwrap();
    let mut run = Run::with_decoder(decoder, &tok, options.clone(), MemorySink::default()).unwrap();
    run.prefill("Compute (2 + 3) * 4.").unwrap();
    while run.step().unwrap().is_some() {}
    let err = run.force_all(&[eos]).unwrap_err();
    assert!(matches!(err, EngineError::Request(_)), "{err:?}");
    assert!(err.to_string().contains("already ended"), "{err}");

    // A bad sampler setting is refused before anything is recorded.
    let mut bad = options;
    bad.sampler.temperature = -1.0;
    let decoder = ScriptedDecoder::new(&tok, SCRIPT, eos).unwrap();
    let err = Run::with_decoder(decoder, &tok, bad, MemorySink::default())
        .err()
        .expect("a negative temperature is refused");
    assert!(matches!(err, EngineError::Request(_)), "{err:?}");
}
