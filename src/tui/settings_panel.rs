//! The settings panel: the KV mode and the sampler of the next run, one row per field;
//! ←/→ change the selected field in sensible steps.

use crate::live::RunSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Mode,
    Scaffold,
    Temperature,
    TopK,
    TopP,
    MinP,
    RepeatPenalty,
    Seed,
    MaxTokens,
    Pace,
}

pub const FIELDS: [Field; 10] = [
    Field::Mode,
    Field::Scaffold,
    Field::Temperature,
    Field::TopK,
    Field::TopP,
    Field::MinP,
    Field::RepeatPenalty,
    Field::Seed,
    Field::MaxTokens,
    Field::Pace,
];

impl Field {
    pub fn label(self) -> &'static str {
        match self {
            Field::Mode => "mode",
            Field::Scaffold => "scaffold",
            Field::Temperature => "temperature",
            Field::TopK => "top-k",
            Field::TopP => "top-p",
            Field::MinP => "min-p",
            Field::RepeatPenalty => "repeat penalty",
            Field::Seed => "seed",
            Field::MaxTokens => "max tokens",
            Field::Pace => "pace",
        }
    }

    pub fn value(self, s: &RunSettings) -> String {
        match self {
            Field::Mode => s.mode.label(),
            Field::Scaffold => s.scaffold.label().to_string(),
            Field::Temperature if s.temperature == 0.0 => "0 (greedy)".into(),
            Field::Temperature => format!("{:.2}", s.temperature),
            Field::TopK if s.top_k == 0 => "off".into(),
            Field::TopK => s.top_k.to_string(),
            Field::TopP if s.top_p >= 1.0 => "off".into(),
            Field::TopP => format!("{:.2}", s.top_p),
            Field::MinP if s.min_p == 0.0 => "off".into(),
            Field::MinP => format!("{:.2}", s.min_p),
            Field::RepeatPenalty => match s.repeat_penalty {
                None => "auto (1.2 scaffolded, else off)".into(),
                Some(p) => format!("{p:.2}"),
            },
            Field::Seed => s.seed.to_string(),
            Field::MaxTokens => s.max_tokens.to_string(),
            Field::Pace if s.pace == 0 => "off (as fast as the model)".into(),
            Field::Pace => format!("{} tok/s", s.pace),
        }
    }

    /// Step the field's value up (`forward`) or down, within its valid range.
    pub fn adjust(self, s: &mut RunSettings, forward: bool) {
        let sign = if forward { 1.0 } else { -1.0 };
        let round = |x: f32| (x * 100.0).round() / 100.0;
        match self {
            Field::Mode => s.mode = s.mode.cycle(forward),
            Field::Scaffold => {
                use crate::live::ScaffoldChoice::*;
                let order = [Auto, On, Off];
                let at = order.iter().position(|c| *c == s.scaffold).unwrap_or(0);
                s.scaffold = order[if forward { (at + 1) % 3 } else { (at + 2) % 3 }];
            }
            Field::Temperature => {
                s.temperature = round((s.temperature + 0.1 * sign).clamp(0.0, 2.0))
            }
            Field::TopK => {
                s.top_k = if forward {
                    s.top_k + 5
                } else {
                    s.top_k.saturating_sub(5)
                }
            }
            Field::TopP => s.top_p = round((s.top_p + 0.05 * sign).clamp(0.05, 1.0)),
            Field::MinP => s.min_p = round((s.min_p + 0.01 * sign).clamp(0.0, 0.5)),
            Field::RepeatPenalty => {
                // Below 1.0 comes "auto"; stepping up from auto starts at 1.0 (off).
                s.repeat_penalty = match s.repeat_penalty {
                    None if forward => Some(1.0),
                    None => None,
                    Some(p) if !forward && p <= 1.0 => None,
                    Some(p) => Some(round((p + 0.05 * sign).min(2.0))),
                }
            }
            Field::Seed => {
                s.seed = if forward {
                    s.seed.wrapping_add(1)
                } else {
                    s.seed.saturating_sub(1)
                }
            }
            Field::MaxTokens => {
                s.max_tokens = if forward {
                    (s.max_tokens + 64).min(32_768)
                } else {
                    s.max_tokens.saturating_sub(64).max(16)
                }
            }
            Field::Pace => {
                // Off, then rates a person can read at, doubling.
                const PACES: [u32; 7] = [0, 2, 4, 8, 16, 32, 64];
                let at = PACES.iter().position(|&p| p >= s.pace).unwrap_or(0);
                s.pace = if forward {
                    PACES[(at + 1).min(PACES.len() - 1)]
                } else {
                    PACES[at.saturating_sub(1)]
                };
            }
        }
    }
}

/// Which row is selected while the panel is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettingsPanel {
    pub row: usize,
}

impl SettingsPanel {
    pub fn field(&self) -> Field {
        FIELDS[self.row.min(FIELDS.len() - 1)]
    }

    pub fn up(&mut self) {
        self.row = self.row.saturating_sub(1);
    }

    pub fn down(&mut self) {
        self.row = (self.row + 1).min(FIELDS.len() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::ModeChoice;

    #[test]
    fn every_field_stays_valid_when_pushed_past_its_ends() {
        let mut s = RunSettings::default();
        for field in FIELDS {
            for _ in 0..50 {
                field.adjust(&mut s, true);
            }
            assert!(s.sampler(true).check().is_ok(), "{field:?} up: {s:?}");
            for _ in 0..100 {
                field.adjust(&mut s, false);
            }
            assert!(s.sampler(true).check().is_ok(), "{field:?} down: {s:?}");
        }
        assert_eq!(s.temperature, 0.0);
        assert_eq!(s.repeat_penalty, None);
        assert_eq!(s.max_tokens, 16);
        let mut m = RunSettings::default();
        Field::Mode.adjust(&mut m, true);
        assert_eq!(m.mode, ModeChoice::Full);
    }
}
