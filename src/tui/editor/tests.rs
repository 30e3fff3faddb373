//! The editor's buffer, keys, layout and drawing.

use super::*;
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};

use crate::tui::theme::Theme;
use EditorAction as A;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

fn typed(text: &str) -> (PromptEditor, History) {
    let mut e = PromptEditor::new();
    let mut h = History::in_memory();
    for c in text.chars() {
        let action = if c == '\n' { A::Newline } else { A::Insert(c) };
        e.apply(action, &mut h);
    }
    (e, h)
}

fn run(e: &mut PromptEditor, h: &mut History, actions: &[A]) {
    for a in actions {
        e.apply(a.clone(), h);
    }
}

/// The editor layer's meaning of a key.
fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<EditorAction> {
    editor_key(&KeyEvent::new(code, modifiers))
}

fn editor_key(key: &KeyEvent) -> Option<EditorAction> {
    use crate::tui::keys::{Action, KeyMap, LayerId};
    match KeyMap::workbench().resolve(key, &[LayerId::Editor]) {
        Some(Action::Edit(a)) => Some(a),
        _ => None,
    }
}

/// The visible text of each row of `buf`, skipping the cells that wide chars cover.
fn rows(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (area.y..area.bottom())
        .map(|y| {
            let mut s = String::new();
            let mut x = area.x;
            while x < area.right() {
                let symbol = buf.cell((x, y)).map_or(" ", |c| c.symbol());
                s.push_str(symbol);
                x += unicode_width::UnicodeWidthStr::width(symbol).max(1) as u16;
            }
            s.trim_end().to_string()
        })
        .collect()
}

fn draw(e: &PromptEditor, width: u16, height: u16) -> (Vec<String>, Option<Position>) {
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    let at = e.render(
        area,
        &mut buf,
        &Theme::dark(),
        true,
        "Type a prompt · enter run",
    );
    (rows(&buf), at)
}

#[test]
fn typing_and_moving() {
    let (mut e, mut h) = typed("hello");
    assert_eq!(e.text(), "hello");
    assert_eq!(e.cursor(), (0, 5));
    assert_eq!(e.apply(A::Left, &mut h), EditorOutcome::Moved);
    assert_eq!(e.apply(A::Insert('!'), &mut h), EditorOutcome::Edited);
    assert_eq!(e.text(), "hell!o");
    run(&mut e, &mut h, &[A::LineStart]);
    assert_eq!(e.apply(A::Left, &mut h), EditorOutcome::Nothing);
    run(&mut e, &mut h, &[A::LineEnd, A::Newline, A::Insert('x')]);
    assert_eq!(e.text(), "hell!o\nx");
    // Left and right wrap across lines.
    run(&mut e, &mut h, &[A::Left, A::Left]);
    assert_eq!(e.cursor(), (0, 6));
    run(&mut e, &mut h, &[A::Right]);
    assert_eq!(e.cursor(), (1, 0));
}

#[test]
fn multi_byte_and_wide_chars() {
    let (mut e, mut h) = typed("é漢字😀x");
    assert_eq!(e.cursor(), (0, 5));
    run(&mut e, &mut h, &[A::Left, A::Left, A::Backspace]);
    assert_eq!(e.text(), "é漢😀x");
    assert_eq!(e.cursor(), (0, 2));
    run(&mut e, &mut h, &[A::Delete]);
    assert_eq!(e.text(), "é漢x");
    // A combining accent travels with its letter.
    e.set_text("e\u{301}z");
    run(&mut e, &mut h, &[A::Left, A::Left]);
    assert_eq!(e.cursor(), (0, 0));
    run(&mut e, &mut h, &[A::Right]);
    assert_eq!(e.cursor(), (0, 2));
}

#[test]
fn paste_normalises_line_ends_tabs_and_controls() {
    let (mut e, mut h) = typed("hello world");
    run(&mut e, &mut h, &[A::WordLeft, A::Left]);
    assert_eq!(e.cursor(), (0, 5));
    run(
        &mut e,
        &mut h,
        &[A::Paste("X\r\nY\rZ\tW\u{7}\u{1b}".into())],
    );
    assert_eq!(e.text(), "helloX\nY\nZ    W world");
    assert_eq!(e.cursor(), (2, 6));
    assert_eq!(
        e.apply(A::Paste("\u{1b}\u{0}".into()), &mut h),
        EditorOutcome::Nothing
    );
    e.set_text("a\r\nb");
    assert_eq!(e.text(), "a\nb");
    assert_eq!(e.cursor(), (1, 1));
}

#[test]
fn backspace_and_delete_join_lines() {
    let (mut e, mut h) = typed("ab\ncd");
    run(&mut e, &mut h, &[A::LineStart, A::Backspace]);
    assert_eq!(e.text(), "abcd");
    assert_eq!(e.cursor(), (0, 2));
    run(&mut e, &mut h, &[A::Newline, A::Up, A::LineEnd, A::Delete]);
    assert_eq!(e.text(), "abcd");
    assert_eq!(e.cursor(), (0, 2));
    run(&mut e, &mut h, &[A::LineEnd]);
    assert_eq!(e.apply(A::Delete, &mut h), EditorOutcome::Nothing);
    run(&mut e, &mut h, &[A::LineStart]);
    assert_eq!(e.apply(A::Backspace, &mut h), EditorOutcome::Nothing);
}

#[test]
fn word_and_line_deletes() {
    let (mut e, mut h) = typed("foo bar.baz  ");
    run(&mut e, &mut h, &[A::DeleteWordBack]);
    assert_eq!(e.text(), "foo bar.");
    run(&mut e, &mut h, &[A::DeleteWordBack]);
    assert_eq!(e.text(), "foo bar");
    run(&mut e, &mut h, &[A::DeleteWordBack]);
    assert_eq!(e.text(), "foo ");
    run(&mut e, &mut h, &[A::Newline, A::DeleteWordBack]);
    assert_eq!(e.text(), "foo ");

    let (mut e, mut h) = typed("one two\nthree four");
    run(&mut e, &mut h, &[A::WordLeft, A::DeleteToLineStart]);
    assert_eq!(e.text(), "one two\nfour");
    run(&mut e, &mut h, &[A::DeleteToLineStart]);
    assert_eq!(e.text(), "one twofour");
    assert_eq!(e.cursor(), (0, 7));
    run(&mut e, &mut h, &[A::WordLeft, A::DeleteToLineEnd]);
    assert_eq!(e.text(), "one ");
    run(&mut e, &mut h, &[A::WordLeft, A::WordRight]);
    assert_eq!(e.cursor(), (0, 3));
}

#[test]
fn up_and_down_keep_the_preferred_column() {
    let (mut e, mut h) = typed("abcdef\nab\nabcdef");
    run(&mut e, &mut h, &[A::Left]);
    assert_eq!(e.cursor(), (2, 5));
    run(&mut e, &mut h, &[A::Up]);
    assert_eq!(e.cursor(), (1, 2));
    run(&mut e, &mut h, &[A::Up]);
    assert_eq!(e.cursor(), (0, 5));
    run(&mut e, &mut h, &[A::Down, A::Down]);
    assert_eq!(e.cursor(), (2, 5));
    // Display columns, not chars: column 4 is after the second wide char.
    let (mut e, mut h) = typed("漢字x\nabcde");
    run(&mut e, &mut h, &[A::Left, A::Up]);
    assert_eq!(e.cursor(), (0, 2));
}

#[test]
fn arrows_walk_history_past_the_first_and_last_line() {
    let mut h = History::in_memory();
    h.push("one").unwrap();
    h.push("two\nlines").unwrap();
    let mut e = PromptEditor::new();
    run(&mut e, &mut h, &[A::Insert('d')]);
    assert_eq!(e.apply(A::Up, &mut h), EditorOutcome::Edited);
    assert_eq!(e.text(), "two\nlines");
    assert_eq!(e.cursor(), (1, 5));
    // Inside a multi-line entry the arrows move first.
    assert_eq!(e.apply(A::Up, &mut h), EditorOutcome::Moved);
    run(&mut e, &mut h, &[A::Up]);
    assert_eq!(e.text(), "one");
    assert_eq!(e.apply(A::Up, &mut h), EditorOutcome::Nothing);
    run(&mut e, &mut h, &[A::Down]);
    assert_eq!(e.text(), "two\nlines");
    run(&mut e, &mut h, &[A::Down]);
    assert_eq!(e.text(), "d");
    assert_eq!(e.apply(A::Down, &mut h), EditorOutcome::Nothing);
    // Ctrl-p / ctrl-n walk history from any line.
    let (mut e, _) = typed("a\nb");
    run(&mut e, &mut h, &[A::Up, A::HistoryPrev]);
    assert_eq!(e.text(), "two\nlines");
    run(&mut e, &mut h, &[A::HistoryNext]);
    assert_eq!(e.text(), "a\nb");
}

#[test]
fn editing_a_recalled_entry_makes_it_the_draft() {
    let mut h = History::in_memory();
    h.push("one").unwrap();
    h.push("two").unwrap();
    let mut e = PromptEditor::new();
    run(&mut e, &mut h, &[A::Up, A::Up, A::Insert('!')]);
    assert_eq!(e.text(), "one!");
    assert!(!h.is_browsing());
    run(&mut e, &mut h, &[A::Up]);
    assert_eq!(e.text(), "two");
    run(&mut e, &mut h, &[A::Down]);
    assert_eq!(e.text(), "one!");
}

#[test]
fn a_failed_history_write_still_submits_and_is_kept_for_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    let mut h = History::load(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let mut e = PromptEditor::new();
    e.set_text("go");
    assert_eq!(
        e.apply(A::Submit, &mut h),
        EditorOutcome::Submit("go".into())
    );
    assert!(h.take_error().is_some());
    assert_eq!(h.entries(), ["go".to_string()]);
}

#[test]
fn submit_records_history_and_keeps_the_text() {
    let (mut e, mut h) = typed("  \n ");
    assert_eq!(e.apply(A::Submit, &mut h), EditorOutcome::Nothing);
    assert!(h.entries().is_empty());
    e.set_text("why?");
    assert_eq!(
        e.apply(A::Submit, &mut h),
        EditorOutcome::Submit("why?".into())
    );
    assert_eq!(e.text(), "why?");
    run(&mut e, &mut h, &[A::Insert('!')]);
    assert_eq!(
        e.apply(A::SubmitCompare, &mut h),
        EditorOutcome::SubmitCompare("why?!".into())
    );
    assert_eq!(h.entries(), ["why?".to_string(), "why?!".to_string()]);
    // The newest entry is already on screen, so up goes straight to the one before.
    run(&mut e, &mut h, &[A::Up]);
    assert_eq!(e.text(), "why?");
    assert_eq!(e.apply(A::Leave, &mut h), EditorOutcome::Leave);
}

#[test]
fn key_mapping() {
    use KeyCode::*;
    let none = KeyModifiers::NONE;
    let ctrl = KeyModifiers::CONTROL;
    let alt = KeyModifiers::ALT;
    assert_eq!(key(Char('a'), none), Some(A::Insert('a')));
    assert_eq!(key(Char('A'), KeyModifiers::SHIFT), Some(A::Insert('A')));
    assert_eq!(key(Enter, none), Some(A::Submit));
    assert_eq!(key(Enter, alt), Some(A::Newline));
    assert_eq!(key(Enter, KeyModifiers::SHIFT), Some(A::Newline));
    assert_eq!(key(Char('j'), ctrl), Some(A::Newline));
    assert_eq!(key(Char('o'), ctrl), Some(A::SubmitCompare));
    assert_eq!(key(Esc, none), Some(A::Leave));
    assert_eq!(key(Char('c'), ctrl), None);
    assert_eq!(key(Tab, none), Some(A::Leave));
    assert_eq!(key(Char('p'), ctrl), Some(A::HistoryPrev));
    assert_eq!(key(Char('n'), ctrl), Some(A::HistoryNext));
    assert_eq!(key(Up, none), Some(A::Up));
    assert_eq!(key(Down, none), Some(A::Down));
    assert_eq!(key(Char('w'), ctrl), Some(A::DeleteWordBack));
    assert_eq!(key(Backspace, alt), Some(A::DeleteWordBack));
    assert_eq!(key(Char('u'), ctrl), Some(A::DeleteToLineStart));
    assert_eq!(key(Char('k'), ctrl), Some(A::DeleteToLineEnd));
    assert_eq!(key(Char('a'), ctrl), Some(A::LineStart));
    assert_eq!(key(Char('e'), ctrl), Some(A::LineEnd));
    assert_eq!(key(Home, none), Some(A::LineStart));
    assert_eq!(key(End, none), Some(A::LineEnd));
    assert_eq!(key(Left, alt), Some(A::WordLeft));
    assert_eq!(key(Right, ctrl), Some(A::WordRight));
    assert_eq!(key(Char('b'), alt), Some(A::WordLeft));
    assert_eq!(key(Char('@'), ctrl | alt), Some(A::Insert('@')));
    let mut release = KeyEvent::new(Char('a'), none);
    release.kind = KeyEventKind::Release;
    assert_eq!(editor_key(&release), None);
}

#[test]
fn renders_soft_wrapped_with_the_cursor_after_the_wrap() {
    let (e, _) = typed("abcdefghijklmno");
    let (rows, at) = draw(&e, 10, 3);
    assert_eq!(rows, ["abcdefghij", "klmno", ""]);
    assert_eq!(at, Some(Position::new(5, 1)));
    // A line exactly as wide as the area puts the cursor on a row of its own.
    let (e, _) = typed("abcdefghij");
    let (rows, at) = draw(&e, 10, 3);
    assert_eq!(rows, ["abcdefghij", "", ""]);
    assert_eq!(at, Some(Position::new(0, 1)));
    assert_eq!(e.wrapped_height(10), 2);
    // Hard lines each start a row.
    let (e, _) = typed("ab\ncd");
    assert_eq!(
        draw(&e, 10, 2),
        (vec!["ab".into(), "cd".into()], Some(Position::new(2, 1)))
    );
}

#[test]
fn renders_wide_chars_at_display_columns() {
    // Five wide chars fill 10 columns; at width 9 the fifth moves down.
    let (mut e, mut h) = typed("漢字漢字漢字");
    let (rows, at) = draw(&e, 10, 2);
    assert_eq!(rows, ["漢字漢字漢", "字"]);
    assert_eq!(at, Some(Position::new(2, 1)));
    let (rows, at) = draw(&e, 9, 2);
    assert_eq!(rows, ["漢字漢字", "漢字"]);
    assert_eq!(at, Some(Position::new(4, 1)));
    run(
        &mut e,
        &mut h,
        &[A::LineStart, A::Right, A::Right, A::Right],
    );
    assert_eq!(draw(&e, 9, 2).1, Some(Position::new(6, 0)));
    let (e, _) = typed("é😀x");
    let (rows, at) = draw(&e, 10, 1);
    assert_eq!(rows, ["é😀x"]);
    assert_eq!(at, Some(Position::new(4, 0)));
}

#[test]
fn out_of_focus_a_long_prompt_shows_from_its_start_with_an_ellipsis() {
    let (e, _) = typed("alpha beta gamma delta epsilon zeta eta theta iota kappa");
    let area = Rect::new(0, 0, 16, 2);
    let mut buf = Buffer::empty(area);
    assert_eq!(e.render(area, &mut buf, &Theme::dark(), false, ""), None);
    let shown = rows(&buf);
    assert!(shown[0].starts_with("alpha beta"), "{shown:?}");
    assert!(shown[1].ends_with('…'), "{shown:?}");
    // Focused, it follows the cursor at the end.
    let (rows_focused, _) = draw(&e, 16, 2);
    assert!(rows_focused[1].contains("kappa"), "{rows_focused:?}");
}

#[test]
fn placeholder_when_empty() {
    let e = PromptEditor::new();
    let (rows, at) = draw(&e, 20, 2);
    assert_eq!(rows, ["Type a prompt · ente", ""]);
    assert_eq!(at, Some(Position::new(0, 0)));
    let area = Rect::new(0, 0, 20, 1);
    let mut buf = Buffer::empty(area);
    assert_eq!(e.render(area, &mut buf, &Theme::dark(), false, ""), None);
    let (typed, _) = typed(" ");
    assert_eq!(draw(&typed, 20, 1).0, [""]);
}

#[test]
fn scrolls_to_keep_the_cursor_visible() {
    let (mut e, mut h) = typed("l0\nl1\nl2\nl3\nl4");
    let (rows, at) = draw(&e, 10, 2);
    assert_eq!(rows, ["l3", "l4"]);
    assert_eq!(at, Some(Position::new(2, 1)));
    run(&mut e, &mut h, &[A::Up, A::Up, A::Up, A::Up]);
    let (rows, at) = draw(&e, 10, 2);
    assert_eq!(rows, ["l0", "l1"]);
    assert_eq!(at, Some(Position::new(2, 0)));
    run(&mut e, &mut h, &[A::Down, A::Down]);
    assert_eq!(
        draw(&e, 10, 2),
        (vec!["l1".into(), "l2".into()], Some(Position::new(2, 1)))
    );
    // A zero-sized area draws nothing.
    let mut buf = Buffer::empty(Rect::new(0, 0, 0, 0));
    assert_eq!(
        e.render(Rect::new(0, 0, 0, 0), &mut buf, &Theme::dark(), true, ""),
        None
    );
}

fn any_action() -> impl proptest::strategy::Strategy<Value = EditorAction> {
    use proptest::prelude::*;
    let simple = [
        A::Newline,
        A::Backspace,
        A::Delete,
        A::DeleteWordBack,
        A::DeleteToLineStart,
        A::DeleteToLineEnd,
        A::Left,
        A::Right,
        A::Up,
        A::Down,
        A::WordLeft,
        A::WordRight,
        A::LineStart,
        A::LineEnd,
        A::HistoryPrev,
        A::HistoryNext,
        A::Submit,
    ];
    prop_oneof![
        proptest::sample::select(simple.to_vec()),
        proptest::sample::select(vec!['a', ' ', '.', 'é', '漢', '😀', '\u{301}', '\t', '\r'])
            .prop_map(A::Insert),
        "[a 漢\r\n\t\u{1b}\u{301}]{0,12}".prop_map(A::Paste),
    ]
}

proptest::proptest! {
    #[test]
    fn any_keys_keep_the_cursor_inside_and_render_without_panics(
        actions in proptest::collection::vec(any_action(), 0..60),
        width in 0u16..12,
        height in 0u16..5,
    ) {
        let mut e = PromptEditor::new();
        let mut h = History::in_memory();
        for a in actions {
            e.apply(a, &mut h);
            let (row, col) = e.cursor();
            proptest::prop_assert!(row < e.line_count());
            proptest::prop_assert!(col <= e.current().len());
            let area = Rect::new(1, 1, width, height);
            let mut buf = Buffer::empty(Rect::new(0, 0, 14, 7));
            if let Some(at) = e.render(area, &mut buf, &Theme::dark(), true, "") {
                proptest::prop_assert!(area.contains(at));
            }
        }
        let text = e.text();
        proptest::prop_assert!(!text.contains(['\r', '\t', '\u{1b}']), "{:?}", text);
    }
}
