//! The session picker: every recorded run, newest first (when, mode, tokens, peak KV, why it
//! ended, model, prompt), and below the list the selected run's whole prompt and files.
//! Columns go by priority as the terminal narrows: the model first, then why it ended; the
//! prompt takes what is left. Numbers are never cut.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::ablation::clip;
use super::chrome::{Part, status_bar, title_bar};
use crate::live::{SessionSummary, StreamSummary};
use crate::tui::chrome::Keyed;
use crate::tui::picker::Picker;
use crate::units::{count, plural};

/// Rows of the selected run's detail under the list.
const DETAIL_ROWS: u16 = 6;

pub fn draw(frame: &mut Frame, picker: &mut Picker) {
    let theme = &picker.chrome.theme;
    if !super::fits(frame, theme) {
        return;
    }
    let [title_area, list_area, detail_area, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(DETAIL_ROWS),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    title_bar(
        frame,
        title_area,
        theme,
        "sessions",
        vec![
            Part::text(
                3,
                picker.dir.display().to_string(),
                Style::new().fg(theme.text),
            ),
            Part::text(
                7,
                plural(picker.sessions.len() as u64, "run"),
                Style::new().fg(theme.dim),
            ),
        ],
    );
    // Rows in a page: the list less its borders and header.
    picker.page = list_area.height.saturating_sub(3).max(1) as usize;
    list(frame, list_area, picker);
    detail(frame, detail_area, picker);
    let base = Style::new().fg(theme.status_fg).bg(theme.status_bg);
    let readout = vec![Part::text(
        100,
        format!(
            " run {}/{} ",
            (picker.selected + 1).min(picker.sessions.len()),
            picker.sessions.len()
        ),
        base,
    )];
    status_bar(frame, status_area, &picker.chrome, picker.layers(), readout);
    super::chrome::help(frame, &picker.chrome);
}

/// `2026-11-30T10:00:05.123Z` as `2026-11-30 10:00:05`.
fn when(created: &str) -> String {
    created.get(..19).unwrap_or(created).replacen('T', " ", 1)
}

/// One value per stream, joined by `/` (full context first); once when both are the same.
fn per_stream(streams: &[StreamSummary], value: impl Fn(&StreamSummary) -> String) -> String {
    let values: Vec<String> = streams.iter().map(value).collect();
    if values.windows(2).all(|w| w[0] == w[1]) {
        values.into_iter().next().unwrap_or_default()
    } else {
        values.join(" / ")
    }
}

fn number(v: Option<u64>) -> String {
    v.map_or("–".into(), count)
}

struct Column {
    title: &'static str,
    /// Lower goes first when the columns do not fit.
    priority: u8,
    right: bool,
    cells: Vec<String>,
}

impl Column {
    fn width(&self) -> u16 {
        self.cells
            .iter()
            .map(|c| c.chars().count())
            .chain([self.title.chars().count()])
            .max()
            .unwrap_or(0) as u16
    }
}

fn columns(sessions: &[SessionSummary]) -> Vec<Column> {
    let col = |title, priority, right, cell: &dyn Fn(&SessionSummary) -> String| Column {
        title,
        priority,
        right,
        cells: sessions.iter().map(cell).collect(),
    };
    vec![
        col("when", 9, false, &|s| when(&s.created)),
        col("mode", 8, false, &|s| s.mode()),
        col("tokens", 9, true, &|s| {
            per_stream(&s.streams, |t| number(t.tokens))
        }),
        col("peak KV", 9, true, &|s| {
            per_stream(&s.streams, |t| number(t.peak))
        }),
        col("ended", 4, false, &|s| {
            per_stream(&s.streams, |t| t.ended.clone())
        }),
        col("model", 2, false, &|s| s.model.clone()),
    ]
}

/// Widest prompt column worth keeping a column for.
const MIN_PROMPT: u16 = 12;
const SPACING: u16 = 2;
/// The highlight symbol's width.
const MARK: u16 = 2;

fn list(frame: &mut Frame, area: Rect, picker: &Picker) {
    let theme = &picker.chrome.theme;
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border_style())
        .title(Span::styled(
            " recorded runs, newest first ",
            theme.title_style(),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if picker.sessions.is_empty() {
        frame.render_widget(
            Paragraph::new("no recorded runs yet: `memento run` records each run here")
                .style(Style::new().fg(theme.dim)),
            inner,
        );
        return;
    }
    let mut cols = columns(&picker.sessions);
    let used = |cols: &[Column]| -> u16 {
        MARK + cols.iter().map(|c| c.width() + SPACING).sum::<u16>() + MIN_PROMPT
    };
    while used(&cols) > inner.width {
        let Some(lowest) = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.priority < 9)
            .min_by_key(|(_, c)| c.priority)
            .map(|(i, _)| i)
        else {
            break;
        };
        cols.remove(lowest);
    }
    let prompt_width = (inner.width + MIN_PROMPT).saturating_sub(used(&cols)) as usize;
    let text = Style::new().fg(theme.text);
    let rows = picker.sessions.iter().enumerate().map(|(i, s)| {
        let mut cells: Vec<Cell> = cols
            .iter()
            .map(|c| {
                let line = Line::from(c.cells[i].clone());
                Cell::from(if c.right {
                    line.alignment(Alignment::Right)
                } else {
                    line
                })
            })
            .collect();
        cells.push(Cell::from(clip(&s.prompt_preview(), prompt_width)));
        Row::new(cells).style(text)
    });
    let mut widths: Vec<Constraint> = cols.iter().map(|c| Constraint::Length(c.width())).collect();
    widths.push(Constraint::Fill(1));
    let header = Row::new(
        cols.iter()
            .map(|c| {
                let line = Line::from(c.title);
                Cell::from(if c.right {
                    line.alignment(Alignment::Right)
                } else {
                    line
                })
            })
            .chain([Cell::from("prompt")]),
    )
    .style(Style::new().fg(theme.title).add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(SPACING)
        .row_highlight_style(
            Style::new()
                .bg(theme.selection)
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▸ ");
    let mut state = TableState::default().with_selected(Some(picker.selected));
    frame.render_stateful_widget(table, inner, &mut state);
}

fn detail(frame: &mut Frame, area: Rect, picker: &Picker) {
    let theme = &picker.chrome.theme;
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border_style())
        .title(Span::styled(" selected ", theme.title_style()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(s) = picker.selected() else {
        return;
    };
    let dim = Style::new().fg(theme.dim);
    let mut lines: Vec<Line> = s
        .streams
        .iter()
        .map(|t| {
            Line::from(vec![
                Span::styled(
                    format!("{:<8} ", t.mode),
                    Style::new().fg(theme.policy_colour(&t.mode)),
                ),
                // The directory is in the title bar.
                Span::styled(
                    t.path.file_name().map_or_else(
                        || t.path.display().to_string(),
                        |n| n.to_string_lossy().into(),
                    ),
                    dim,
                ),
            ])
        })
        .collect();
    lines.push(Line::from(Span::styled(
        s.prompt_preview(),
        Style::new().fg(theme.text),
    )));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
