//! Trace v1: write → read round trip, the truncated tail a crash leaves, version checks,
//! seeking by snapshots, and recorded KV equal to the accountant's offline simulation.

use std::io::Write;
use std::path::Path;

use memento::import::{RecordSettings, record, write_trace};
use memento::kv::{KvPolicy, KvShape, simulate};
use memento::synth::{SynthSettings, synthesize};
use memento::timeline::Timeline;
use memento::tokenize::TextTokenizer;
use memento::trace::{
    Alternative, EndReason, Event, MemorySink, Recorder, RecorderOptions, RunState, TokenInput,
    TraceError, TraceWriter, parse_trace, read_trace,
};

fn recorded(seed: u64, tokens: usize, policy: KvPolicy) -> MemorySink {
    let t = synthesize(&SynthSettings {
        seed,
        tokens,
        mean_block_tokens: 150,
    });
    record(
        &t,
        &RecordSettings {
            tokenizer: &TextTokenizer::Estimate,
            shape: KvShape::preset("qwen3-8b").unwrap(),
            policy,
            lenient: false,
            snapshot_every: 64,
        },
    )
    .unwrap()
}

#[test]
fn write_then_read_gives_back_every_event() {
    let sink = recorded(3, 1500, KvPolicy::MEMENTO);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.trace.jsonl");
    write_trace(&path, &sink).unwrap();
    let file = read_trace(&path).unwrap();
    assert_eq!(Some(&file.header), sink.header.as_ref());
    assert_eq!(file.events, sink.events);
    assert!(file.warnings.is_empty());
    // Every kind of event the recorder writes is present.
    for kind in [
        "prompt",
        "token",
        "structure",
        "kv",
        "evict",
        "snapshot",
        "end",
    ] {
        assert!(
            file.events.iter().any(|e| e.type_name() == kind),
            "no {kind} event"
        );
    }
}

#[test]
fn optional_fields_survive_the_round_trip() {
    let header = recorded(1, 10, KvPolicy::FULL).header.unwrap();
    let mut buf = Vec::new();
    let mut rec = Recorder::start(
        &header,
        RecorderOptions::default(),
        TraceWriter::new(&mut buf),
    )
    .unwrap();
    rec.token(TokenInput {
        text: "Hi".into(),
        id: Some(17),
        logprob: Some(-0.25),
        top: Some(vec![
            Alternative {
                id: Some(17),
                text: "Hi".into(),
                logprob: -0.25,
                sampled_logprob: None,
            },
            Alternative {
                id: None,
                text: "Hello".into(),
                logprob: -1.5,
                sampled_logprob: None,
            },
        ]),
        scaffold: true,
        literal: false,
        t: Some(0.125),
    })
    .unwrap();
    rec.marker("look here", Some("a note".into())).unwrap();
    rec.finish(EndReason::Stopped, Some(0.5), None).unwrap();
    let file = parse_trace(Path::new("mem"), &buf).unwrap();
    let Event::Token(t) = &file.events[0] else {
        panic!("{:?}", file.events[0])
    };
    assert_eq!(
        (t.id, t.logprob, t.scaffold, t.t),
        (Some(17), Some(-0.25), true, Some(0.125))
    );
    assert_eq!(t.top.as_ref().unwrap()[1].text, "Hello");
    assert!(
        file.events
            .iter()
            .any(|e| matches!(e, Event::Marker(m) if m.label == "look here"))
    );
    let Event::End(end) = file.events.last().unwrap() else {
        panic!()
    };
    assert_eq!(end.reason, EndReason::Stopped);
}

#[test]
fn the_writer_flushes_every_event() {
    // A file that is never closed still holds every event written so far.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.trace.jsonl");
    let header = recorded(1, 10, KvPolicy::MEMENTO).header.unwrap();
    let writer = TraceWriter::create(&path).unwrap();
    let mut rec = Recorder::start(&header, RecorderOptions::default(), writer).unwrap();
    for word in ["<think>", "one ", "two "] {
        rec.token(TokenInput::text(word)).unwrap();
        let file = read_trace(&path).unwrap();
        assert!(file.warnings.is_empty());
        assert!(matches!(file.events.last(), Some(Event::Kv(_))));
    }
    let file = read_trace(&path).unwrap();
    assert_eq!(
        file.events
            .iter()
            .filter(|e| e.type_name() == "token")
            .count(),
        3
    );
    std::mem::forget(rec); // no finish, like a crash
}

#[test]
fn a_truncated_last_line_is_dropped_with_a_warning() {
    let sink = recorded(4, 800, KvPolicy::MEMENTO);
    let mut bytes = Vec::new();
    sink.replay_into(&mut TraceWriter::new(&mut bytes)).unwrap();
    // Cut the file in the middle of its last line, as a crash mid-write would.
    let cut = bytes.len() - 7;
    let file = parse_trace(Path::new("cut.jsonl"), &bytes[..cut]).unwrap();
    assert_eq!(file.events.len(), sink.events.len() - 1);
    assert_eq!(file.warnings.len(), 1);
    assert!(
        file.warnings[0].message.contains("truncated"),
        "{:?}",
        file.warnings
    );
    // What was read replays: the timeline accepts it without an end event.
    let timeline = Timeline::from_file(file).unwrap();
    assert!(timeline.end().is_none());
    // A bad line that is not the last one is an error naming the line.
    let mut broken = bytes[..cut].to_vec();
    broken.extend_from_slice(b"\n{\"type\":\"kv\",\"seq\":1}\n");
    let e = parse_trace(Path::new("cut.jsonl"), &broken)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cut.jsonl:"), "{e}");
}

#[test]
fn unknown_major_version_is_refused_and_newer_minor_accepted() {
    let sink = recorded(1, 10, KvPolicy::MEMENTO);
    let mut header = serde_json::to_value(sink.header.as_ref().unwrap()).unwrap();
    header["version"] = "2.0".into();
    let text = format!("{}\n", header);
    let e = parse_trace(Path::new("v2.jsonl"), text.as_bytes()).unwrap_err();
    assert!(matches!(e, TraceError::UnsupportedVersion { .. }));
    assert!(
        e.to_string().contains("version 2.0 is not supported"),
        "{e}"
    );
    header["version"] = "1.7".into();
    let text = format!("{}\n{{\"type\":\"hologram\",\"seq\":0}}\n", header);
    let file = parse_trace(Path::new("v17.jsonl"), text.as_bytes()).unwrap();
    assert_eq!(
        file.warnings.len(),
        1,
        "unknown event types of a newer minor are skipped"
    );
}

#[test]
fn events_in_any_field_order_parse_the_same() {
    let canonical = r#"{"type":"kv","seq":5,"pos":9,"live":7,"bytes":700}"#;
    let shuffled = r#"{"live":7,"bytes":700,"seq":5,"type":"kv","pos":9}"#;
    let a = memento::trace::parse_event(canonical.as_bytes()).unwrap();
    let b = memento::trace::parse_event(shuffled.as_bytes()).unwrap();
    assert_eq!(a, b);
    let e =
        memento::trace::parse_event(br#"{"type":"kv","seq":5,"pos":"nine","live":7,"bytes":700}"#)
            .unwrap_err();
    assert!(e.contains("field `pos`"), "{e}");
}

#[test]
fn seeking_from_snapshots_equals_folding_from_the_start() {
    let sink = recorded(5, 3000, KvPolicy::MEMENTO);
    let mut timeline = Timeline::new(sink.header.clone().unwrap());
    // states[c]: the folded state just before token c arrives, i.e. after c tokens.
    let mut states: Vec<RunState> = Vec::new();
    for e in &sink.events {
        if let Event::Token(_) = e {
            states.push(timeline.state().clone());
        }
        timeline.push(e.clone()).unwrap();
    }
    states.push(timeline.state().clone());
    timeline.settle();
    assert!(
        timeline.inconsistencies.is_empty(),
        "{:?}",
        timeline.inconsistencies
    );
    // states[c] is the state after c tokens (states[0] = after the prompt).
    for c in (0..states.len()).step_by(37).chain([states.len() - 1]) {
        let mut expected = states[c].clone();
        let mut got = timeline.state_at(c as u64);
        // `open` is derived the same way; compare everything.
        assert_eq!(
            std::mem::take(&mut got.open),
            std::mem::take(&mut expected.open),
            "open at {c}"
        );
        assert_eq!(got, expected, "state after {c} tokens");
    }
}

#[test]
fn recorded_kv_equals_the_offline_simulation_for_every_policy() {
    for policy in [
        KvPolicy::FULL,
        KvPolicy::MEMENTO,
        KvPolicy::keep_n(2),
        KvPolicy::restart(),
        KvPolicy {
            mask_delimiters: true,
            keep_last_block_for_answer: true,
            ..KvPolicy::MEMENTO
        },
    ] {
        let sink = recorded(6, 1200, policy);
        let mut timeline = Timeline::new(sink.header.clone().unwrap());
        for e in sink.events.clone() {
            timeline.push(e).unwrap();
        }
        let series = simulate(
            timeline.prompt_len(),
            timeline.boundaries(),
            timeline.next_pos(),
            policy,
            Some(KvShape::preset("qwen3-8b").unwrap()),
        );
        let recorded: Vec<u64> = timeline.recorded_live().to_vec();
        let simulated: Vec<u64> = series.readings.iter().map(|r| r.live).collect();
        assert_eq!(recorded, simulated, "{}", policy.label());
        let recorded_bytes = timeline.recorded_bytes().to_vec();
        let simulated_bytes: Vec<u64> = series.readings.iter().map(|r| r.bytes).collect();
        assert_eq!(recorded_bytes, simulated_bytes);
        // The timeline's own incremental series for the trace's policy agrees too.
        let own = timeline
            .series()
            .iter()
            .find(|s| s.policy == policy)
            .unwrap();
        assert_eq!(own.live(), simulated.as_slice());
    }
}

#[test]
fn timeline_rejects_unbalanced_structure_events() {
    let text = concat!(
        r#"{"format":"memento-trace","version":"1.0","created":"2026-01-01T00:00:00Z","generator":"test","model":{"name":"x","shape":{"name":"x","layers":1,"kv_heads":1,"head_dim":2,"dtype":"f16","context_tokens":100}},"tokenizer":{"kind":"estimate","rule":"r"},"policy":{"keep_last_n_blocks":0}}"#,
        "\n",
        r#"{"type":"token","seq":0,"pos":0,"text":"a"}"#,
        "\n",
        r#"{"type":"structure","seq":1,"span":"block","edge":"close","block":2,"at":0}"#,
        "\n"
    );
    let file = parse_trace(Path::new("u.jsonl"), text.as_bytes()).unwrap();
    let e = Timeline::from_file(file).unwrap_err().to_string();
    assert_eq!(
        e,
        "line 3: structure event `block 3 close` closes a block that is not open"
    );
}

#[test]
fn a_writer_on_a_full_disk_reports_the_error() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("no space left on device"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let header = recorded(1, 10, KvPolicy::MEMENTO).header.unwrap();
    let e = Recorder::start(&header, RecorderOptions::default(), TraceWriter::new(Full))
        .err()
        .unwrap();
    assert!(e.to_string().contains("no space"));
}
