//! The streaming segmenter on well-formed, split and malformed structure.

use memento::structure::{
    Boundary, DiagnosticCode, Edge, Outline, Segmenter, SegmenterConfig, SpanKind, TagSpan,
};

struct Run {
    boundaries: Vec<Boundary>,
    codes: Vec<DiagnosticCode>,
    end: u64,
}

fn run(config: SegmenterConfig, tokens: &[&str]) -> Run {
    let mut seg = Segmenter::new(config);
    let mut boundaries = Vec::new();
    for (pos, text) in tokens.iter().enumerate() {
        boundaries.extend(seg.push(pos as u64, text));
    }
    let end = tokens.len() as u64;
    boundaries.extend(seg.finish(end));
    let codes = seg.take_diagnostics().into_iter().map(|d| d.code).collect();
    Run {
        boundaries,
        codes,
        end,
    }
}

fn response(tokens: &[&str]) -> Run {
    run(SegmenterConfig::response_only(), tokens)
}

fn names(run: &Run) -> Vec<String> {
    run.boundaries.iter().map(Boundary::name).collect()
}

/// Split a text into tokens of `n` bytes (on char boundaries), like a tokenizer without the
/// special tokens would, often cutting tags apart.
fn chop(text: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        cur.push(c);
        if cur.len() >= n {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const WELL_FORMED: &str = "<think>\n<|block_start|>First I add 2 and 3.<|block_end|>\n<|summary_start|>2+3=5<|summary_end|>\n<|block_start|>Then double it.<|block_end|>\n<|summary_start|>2*5=10<|summary_end|>\n</think>\nThe answer is 10.";

#[test]
fn well_formed_response_yields_every_span_in_order() {
    let pieces = chop(WELL_FORMED, 1000);
    let tokens: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let r = response(&tokens);
    assert_eq!(
        names(&r),
        [
            "think open",
            "block 1 open",
            "block 1 close",
            "memento 1 open",
            "memento 1 close",
            "block 2 open",
            "block 2 close",
            "memento 2 open",
            "memento 2 close",
            "think close",
            "answer open",
            "answer close",
        ]
    );
    assert!(r.codes.is_empty(), "{:?}", r.codes);
}

#[test]
fn tags_split_over_many_tokens_are_found_with_their_token_range() {
    for n in 1..=9 {
        let pieces = chop(WELL_FORMED, n);
        let tokens: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let r = response(&tokens);
        assert_eq!(names(&r).len(), 12, "chunk size {n}");
        assert!(r.codes.is_empty(), "chunk size {n}: {:?}", r.codes);
        // Every tag's recorded location spells the tag exactly.
        for b in &r.boundaries {
            let Some(tag) = b.tag else { continue };
            let mut spelled = String::new();
            for pos in tag.from..tag.to {
                let piece = &pieces[pos as usize];
                let from = if pos == tag.from {
                    tag.from_byte as usize
                } else {
                    0
                };
                let to = if pos + 1 == tag.to {
                    tag.to_byte as usize
                } else {
                    piece.len()
                };
                spelled.push_str(&piece[from..to]);
            }
            assert!(
                spelled.starts_with('<') && spelled.ends_with('>'),
                "{spelled}"
            );
            assert_eq!(b.at, tag.to - 1, "a tag completes at its last token");
        }
    }
}

#[test]
fn a_tag_sharing_a_token_with_text_is_located_inside_it() {
    let r = response(&["<think>", "abc<|block_", "start|>x", "y<|block_end|>z"]);
    let open = &r.boundaries[1];
    assert_eq!(open.name(), "block 1 open");
    assert_eq!(
        open.tag,
        Some(TagSpan {
            from: 1,
            to: 3,
            from_byte: 3,
            to_byte: 7
        })
    );
    let close = &r.boundaries[2];
    assert_eq!(
        close.tag,
        Some(TagSpan {
            from: 3,
            to: 4,
            from_byte: 1,
            to_byte: 14
        })
    );
}

#[test]
fn a_near_miss_is_plain_text_and_the_real_tag_after_it_still_counts() {
    let r = response(&[
        "<think>",
        "<|block",
        "<|block_start|>",
        "a",
        "<|block_end|>",
    ]);
    assert_eq!(names(&r)[..2], ["think open", "block 1 open"]);
    let open = &r.boundaries[1];
    assert_eq!(open.tag.unwrap().from, 2);
}

#[test]
fn tags_in_the_prompt_are_ignored_until_the_assistant_turn() {
    let prompt = [
        "<|im_start|>",
        "user\nWhat does <|block_start|> mean? <|summary_end|>",
        "<|im_end|>",
        "\n",
        "<|im_start|>",
        "assistant\n",
    ];
    let reply = [
        "<think>",
        "<|block_start|>",
        "x",
        "<|block_end|>",
        "<|summary_start|>",
        "y",
        "<|summary_end|>",
        "</think>",
        "ok",
        "<|im_end|>",
    ];
    let tokens: Vec<&str> = prompt.iter().chain(reply.iter()).copied().collect();
    let r = run(SegmenterConfig::default(), &tokens);
    assert_eq!(names(&r)[0], "think open");
    assert_eq!(r.boundaries[0].at, prompt.len() as u64);
    assert_eq!(
        r.codes,
        [
            DiagnosticCode::IgnoredOutsideAssistant,
            DiagnosticCode::IgnoredOutsideAssistant
        ]
    );
    let answer_close = r.boundaries.last().unwrap();
    assert_eq!(answer_close.name(), "answer close");
    assert_eq!(
        answer_close.tag.unwrap().from,
        tokens.len() as u64 - 1,
        "<|im_end|> closes the answer"
    );
}

#[test]
fn without_the_assistant_rule_prompt_tags_count() {
    let config = SegmenterConfig {
        require_assistant_section: false,
        start_in_assistant: false,
    };
    let r = run(config, &["user says <|block_start|>", "x<|block_end|>"]);
    assert_eq!(names(&r)[..2], ["block 1 open", "block 1 close"]);
}

#[test]
fn a_second_user_turn_stops_tracking() {
    let tokens = [
        "<|im_start|>",
        "assistant\n",
        "<think>",
        "</think>",
        "done",
        "<|im_end|>",
        "<|im_start|>",
        "user\n<|block_start|>",
        "<|im_end|>",
    ];
    let r = run(SegmenterConfig::default(), &tokens);
    assert!(!names(&r).iter().any(|n| n.starts_with("block")));
    assert_eq!(r.codes, [DiagnosticCode::IgnoredOutsideAssistant]);
}

#[test]
fn unclosed_block_is_closed_at_the_end_with_a_warning() {
    let r = response(&["<think>", "<|block_start|>", "never", "ends"]);
    assert_eq!(
        names(&r),
        ["think open", "block 1 open", "block 1 close", "think close"]
    );
    let close = &r.boundaries[2];
    assert!(close.is_implicit());
    assert_eq!(close.at, r.end);
    assert!(r.codes.contains(&DiagnosticCode::UnclosedBlock));
    assert!(r.codes.contains(&DiagnosticCode::UnclosedThink));
}

#[test]
fn unclosed_block_at_think_close_is_closed_there() {
    let r = response(&["<think>", "<|block_start|>", "x", "</think>", "answer"]);
    assert_eq!(
        names(&r),
        [
            "think open",
            "block 1 open",
            "block 1 close",
            "think close",
            "answer open",
            "answer close"
        ]
    );
    assert_eq!(r.boundaries[2].at, 3, "closed before </think>");
    assert_eq!(r.codes, [DiagnosticCode::UnclosedBlock]);
}

#[test]
fn memento_with_no_block_is_an_orphan_that_evicts_nothing() {
    let r = response(&[
        "<think>",
        "<|summary_start|>",
        "floating",
        "<|summary_end|>",
        "</think>",
    ]);
    assert_eq!(r.boundaries[1].name(), "memento open");
    assert_eq!(r.boundaries[1].block, None);
    assert_eq!(r.codes, [DiagnosticCode::MementoWithoutBlock]);
    let outline = Outline::from_boundaries(0, &r.boundaries, r.end);
    assert!(outline.blocks.is_empty());
    assert_eq!(outline.orphan_mementos.len(), 1);
}

#[test]
fn nested_block_closes_the_outer_one() {
    let r = response(&[
        "<think>",
        "<|block_start|>",
        "a",
        "<|block_start|>",
        "b",
        "<|block_end|>",
    ]);
    assert_eq!(
        names(&r)[..5],
        [
            "think open",
            "block 1 open",
            "block 1 close",
            "block 2 open",
            "block 2 close"
        ]
    );
    assert!(r.boundaries[2].is_implicit());
    assert_eq!(r.boundaries[2].at, 3);
    assert!(r.codes.contains(&DiagnosticCode::NestedBlock));
    assert!(r.codes.contains(&DiagnosticCode::BlockWithoutMemento));
}

#[test]
fn memento_inside_open_block_closes_the_block_first() {
    let r = response(&[
        "<think>",
        "<|block_start|>",
        "a",
        "<|summary_start|>",
        "m",
        "<|summary_end|>",
    ]);
    assert_eq!(
        names(&r)[..5],
        [
            "think open",
            "block 1 open",
            "block 1 close",
            "memento 1 open",
            "memento 1 close"
        ]
    );
    assert!(r.boundaries[2].is_implicit());
    assert!(!r.boundaries[4].is_implicit(), "the memento really ended");
    assert_eq!(r.codes[0], DiagnosticCode::MementoInsideBlock);
}

#[test]
fn stray_closing_tags_are_reported_and_ignored() {
    let r = response(&[
        "<think>",
        "<|block_end|>",
        "<|summary_end|>",
        "x",
        "</think>",
        "</think>",
    ]);
    assert_eq!(
        names(&r),
        ["think open", "think close", "answer open", "answer close"]
    );
    assert_eq!(
        r.codes,
        [
            DiagnosticCode::StrayTag,
            DiagnosticCode::StrayTag,
            DiagnosticCode::StrayTag
        ]
    );
}

#[test]
fn unclosed_memento_is_closed_implicitly_and_does_not_count_as_ended() {
    let r = response(&[
        "<think>",
        "<|block_start|>",
        "a",
        "<|block_end|>",
        "<|summary_start|>",
        "m",
        "</think>",
    ]);
    let outline = Outline::from_boundaries(0, &r.boundaries, r.end);
    assert!(!outline.blocks[0].memento_ended());
    assert!(r.codes.contains(&DiagnosticCode::UnclosedMemento));
}

#[test]
fn tags_after_think_and_duplicate_think_are_ignored() {
    let r = response(&[
        "<think>",
        "<think>",
        "</think>",
        "<|block_start|>",
        "<|summary_end|>",
    ]);
    assert_eq!(
        names(&r),
        ["think open", "think close", "answer open", "answer close"]
    );
    assert_eq!(
        r.codes,
        [
            DiagnosticCode::DuplicateThink,
            DiagnosticCode::TagAfterThink,
            DiagnosticCode::TagAfterThink
        ]
    );
}

#[test]
fn block_before_think_is_tracked_with_a_warning() {
    let r = response(&["<|block_start|>", "a", "<|block_end|>"]);
    assert_eq!(names(&r)[..2], ["block 1 open", "block 1 close"]);
    assert_eq!(r.codes[0], DiagnosticCode::BlockOutsideThink);
}

#[test]
fn outline_measures_content_between_delimiters() {
    let tokens = [
        "<think>",
        "<|block_start|>",
        "a",
        "b",
        "c",
        "<|block_end|>",
        "\n",
        "<|summary_start|>",
        "m",
        "<|summary_end|>",
        "</think>",
        "x",
        "y",
    ];
    let r = response(&tokens);
    let outline = Outline::from_boundaries(0, &r.boundaries, r.end);
    let block = &outline.blocks[0];
    assert_eq!(block.content(r.end), 2..5);
    assert_eq!(block.with_delimiters(r.end), 1..6);
    assert_eq!(block.memento_content(r.end), Some(8..9));
    assert!(block.memento_ended());
    assert_eq!(outline.think, Some(1..10));
    assert_eq!(outline.answer, Some(11..13));
    let kinds: Vec<(SpanKind, Edge)> = r.boundaries.iter().map(|b| (b.span, b.edge)).collect();
    assert_eq!(kinds.len(), 8);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let junk = [
        "<<|",
        "|>>",
        "<|block_start",
        "|><",
        "/think>",
        "\u{0}",
        "é<",
        "|summary_end|>",
    ];
    for a in junk {
        for b in junk {
            for c in junk {
                let r = response(&[a, b, c, "<|block_start|>", a]);
                let _ = Outline::from_boundaries(0, &r.boundaries, r.end);
            }
        }
    }
}
