//! Themes: TOML files naming every colour the views use. Widgets never hard-code colours.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::palette::{Rgb, Series};

const DARK: &str = include_str!("../../themes/dark.toml");
const LIGHT: &str = include_str!("../../themes/light.toml");

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub code_theme: String,
    pub text: Color,
    pub dim: Color,
    pub border: Color,
    pub title: Color,
    pub prompt: Color,
    pub think: Color,
    pub block: Color,
    pub evicted: Color,
    pub memento: Color,
    pub answer: Color,
    pub tag: Color,
    pub warning: Color,
    pub gauge_ok: Color,
    pub gauge_warn: Color,
    pub gauge_danger: Color,
    pub gauge_empty: Color,
    pub series_full: Color,
    pub series_memento: Color,
    pub series_policy: Color,
    pub cursor: Color,
    pub selection: Color,
    pub status_bg: Color,
    pub status_fg: Color,
    pub key: Color,
    /// The background every screen is drawn on, so a light theme stays light on a dark
    /// terminal. Optional in a theme file: `reset` keeps the terminal's own.
    pub background: Color,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    #[serde(default = "default_code_theme")]
    code_theme: String,
    colors: BTreeMap<String, String>,
}

fn default_code_theme() -> String {
    "base16-ocean.dark".into()
}

#[derive(Debug, thiserror::Error)]
#[error("theme {origin}: {message}")]
pub struct ThemeError {
    origin: String,
    message: String,
}

impl Theme {
    /// The one colour a KV policy is drawn in, everywhere (columns, charts, summaries): by
    /// name, never by position, so a stream keeps its colour whichever side it is on.
    pub fn policy_colour(&self, label: &str) -> Color {
        match Series::of(label, 0) {
            Series::Full => self.series_full,
            Series::Memento => self.series_memento,
            _ => self.series_policy,
        }
    }

    /// A series' colour (a policy's label or an ablation arm's name, `index` its place in the
    /// run): the theme's for full context, memento mode and other policies, else the shared
    /// palette's ([`crate::palette`]).
    pub fn series_colour(&self, label: &str, index: usize) -> Color {
        match Series::of(label, index) {
            Series::Other(_) => {
                let Rgb(r, g, b) = Series::of(label, index).rgb();
                Color::Rgb(r, g, b)
            }
            _ => self.policy_colour(label),
        }
    }

    pub fn dark() -> Theme {
        Theme::parse(DARK, "dark").unwrap_or_else(|e| panic!("built-in theme: {e}"))
    }

    pub fn light() -> Theme {
        Theme::parse(LIGHT, "light").unwrap_or_else(|e| panic!("built-in theme: {e}"))
    }

    pub fn builtin_names() -> [&'static str; 2] {
        ["dark", "light"]
    }

    /// `dark`, `light`, or a path to a theme TOML file.
    pub fn load(name_or_path: &str) -> Result<Theme, ThemeError> {
        match name_or_path {
            "dark" => Ok(Theme::dark()),
            "light" => Ok(Theme::light()),
            path => {
                let text =
                    crate::textfile::read_text(Path::new(path), crate::textfile::CONFIG_LIMIT)
                        .map_err(|e| ThemeError {
                            origin: path.to_string(),
                            message: format!("{e} (built-in themes: dark, light)"),
                        })?;
                Theme::parse(&text, path)
            }
        }
    }

    pub fn parse(text: &str, origin: &str) -> Result<Theme, ThemeError> {
        let fail = |message: String| ThemeError {
            origin: origin.to_string(),
            message,
        };
        let file: ThemeFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        let color = |key: &str| -> Result<Color, ThemeError> {
            let value = file
                .colors
                .get(key)
                .ok_or_else(|| fail(format!("colors.{key} is missing")))?;
            Color::from_str(value).map_err(|_| {
                fail(format!(
                    "colors.{key}: `{value}` is not a colour name or #rrggbb"
                ))
            })
        };
        let theme = Theme {
            name: file.name.clone(),
            code_theme: file.code_theme.clone(),
            text: color("text")?,
            dim: color("dim")?,
            border: color("border")?,
            title: color("title")?,
            prompt: color("prompt")?,
            think: color("think")?,
            block: color("block")?,
            evicted: color("evicted")?,
            memento: color("memento")?,
            answer: color("answer")?,
            tag: color("tag")?,
            warning: color("warning")?,
            gauge_ok: color("gauge_ok")?,
            gauge_warn: color("gauge_warn")?,
            gauge_danger: color("gauge_danger")?,
            gauge_empty: color("gauge_empty")?,
            series_full: color("series_full")?,
            series_memento: color("series_memento")?,
            series_policy: color("series_policy")?,
            cursor: color("cursor")?,
            selection: color("selection")?,
            status_bg: color("status_bg")?,
            status_fg: color("status_fg")?,
            key: color("key")?,
            background: match file.colors.get("background") {
                Some(_) => color("background")?,
                None => Color::Reset,
            },
        };
        let known = KEYS.len() + usize::from(file.colors.contains_key("background"));
        if file.colors.len() > known {
            let unknown: Vec<&String> = file
                .colors
                .keys()
                .filter(|k| !KEYS.contains(&k.as_str()) && k.as_str() != "background")
                .collect();
            return Err(fail(format!("unknown colour keys: {unknown:?}")));
        }
        Ok(theme)
    }

    pub fn fg(&self, color: Color) -> Style {
        Style::new().fg(color)
    }

    pub fn border_style(&self) -> Style {
        Style::new().fg(self.border)
    }

    pub fn title_style(&self) -> Style {
        Style::new().fg(self.title).add_modifier(Modifier::BOLD)
    }

    /// Gauge colour for an occupancy fraction: ok below 75%, warning below 90%, then danger.
    pub fn gauge_color(&self, fraction: f64) -> Color {
        if fraction >= 0.9 {
            self.gauge_danger
        } else if fraction >= 0.75 {
            self.gauge_warn
        } else {
            self.gauge_ok
        }
    }
}

const KEYS: [&str; 24] = [
    "text",
    "dim",
    "border",
    "title",
    "prompt",
    "think",
    "block",
    "evicted",
    "memento",
    "answer",
    "tag",
    "warning",
    "gauge_ok",
    "gauge_warn",
    "gauge_danger",
    "gauge_empty",
    "series_full",
    "series_memento",
    "series_policy",
    "cursor",
    "selection",
    "status_bg",
    "status_fg",
    "key",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_themes_parse() {
        assert_eq!(Theme::dark().name, "dark");
        assert_eq!(Theme::light().name, "light");
        assert_ne!(Theme::dark().text, Theme::light().text);
    }

    #[test]
    fn bad_theme_names_the_key() {
        let bad = DARK.replace("block = \"#87afd7\"", "block = \"not-a-colour\"");
        let e = Theme::parse(&bad, "x.toml").unwrap_err().to_string();
        assert!(e.contains("colors.block"), "{e}");
        let missing = DARK.replace("key = \"#ffd75f\"", "");
        assert!(
            Theme::parse(&missing, "x.toml")
                .unwrap_err()
                .to_string()
                .contains("colors.key")
        );
    }
}
