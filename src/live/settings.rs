//! What a live run is asked to do: the KV mode and the sampler, as plain data the settings
//! panel edits and the worker turns into engine options.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::engine::{RunOptions, SamplerConfig, ScaffoldConfig};
use crate::kv::KvPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum ScaffoldChoice {
    /// On when the model's vocabulary lacks the memento tokens
    Auto,
    On,
    Off,
}

impl ScaffoldChoice {
    pub fn label(self) -> &'static str {
        match self {
            ScaffoldChoice::Auto => "auto",
            ScaffoldChoice::On => "on",
            ScaffoldChoice::Off => "off",
        }
    }

    pub fn resolve(self, model_has_tags: bool) -> bool {
        match self {
            ScaffoldChoice::On => true,
            ScaffoldChoice::Off => false,
            ScaffoldChoice::Auto => !model_has_tags,
        }
    }
}

/// The KV modes the workbench offers, in the order the settings panel cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModeChoice {
    Memento,
    Full,
    Keep(u32),
    Restart,
}

impl ModeChoice {
    pub const CYCLE: [ModeChoice; 6] = [
        ModeChoice::Memento,
        ModeChoice::Full,
        ModeChoice::Keep(1),
        ModeChoice::Keep(2),
        ModeChoice::Keep(4),
        ModeChoice::Restart,
    ];

    pub fn policy(self) -> KvPolicy {
        match self {
            ModeChoice::Memento => KvPolicy::MEMENTO,
            ModeChoice::Full => KvPolicy::FULL,
            ModeChoice::Keep(n) => KvPolicy::keep_n(n),
            ModeChoice::Restart => KvPolicy::restart(),
        }
    }

    pub fn label(self) -> String {
        self.policy().label()
    }

    pub fn parse(s: &str) -> Result<ModeChoice, String> {
        let p = KvPolicy::parse(s)?;
        Ok(if p.restart {
            ModeChoice::Restart
        } else {
            match p.keep_last_n_blocks {
                n if n < 0 => ModeChoice::Full,
                0 => ModeChoice::Memento,
                n => ModeChoice::Keep(n as u32),
            }
        })
    }

    /// The next (or previous) mode in [`ModeChoice::CYCLE`].
    pub fn cycle(self, forward: bool) -> ModeChoice {
        let n = Self::CYCLE.len();
        let at = Self::CYCLE.iter().position(|m| *m == self).unwrap_or(0);
        Self::CYCLE[if forward {
            (at + 1) % n
        } else {
            (at + n - 1) % n
        }]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub mode: ModeChoice,
    pub scaffold: ScaffoldChoice,
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub min_p: f32,
    /// `None`: 1.2 when scaffolded (small untrained models loop without it), else 1.
    pub repeat_penalty: Option<f32>,
    pub seed: u64,
    pub max_tokens: u32,
    /// Tokens per second each stream is decoded at, to watch at human speed; 0 decodes as
    /// fast as the model can. Only the wall clock waits: decode speeds count engine time.
    pub pace: u32,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            mode: ModeChoice::Memento,
            scaffold: ScaffoldChoice::Auto,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: None,
            seed: 0,
            max_tokens: 256,
            pace: 0,
        }
    }
}

impl RunSettings {
    pub fn sampler(&self, scaffolded: bool) -> SamplerConfig {
        SamplerConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self
                .repeat_penalty
                .unwrap_or(if scaffolded { 1.2 } else { 1.0 }),
            seed: self.seed,
            ..SamplerConfig::default()
        }
    }

    /// The sampler settings [`RunSettings::sampler`] chooses for the user, with why: the
    /// repeat penalty of a scaffolded run when none was set.
    pub fn automatic(&self, scaffolded: bool) -> std::collections::BTreeMap<String, String> {
        let mut automatic = std::collections::BTreeMap::new();
        if self.repeat_penalty.is_none() && self.sampler(scaffolded).repeat_penalty != 1.0 {
            automatic.insert("repeat_penalty".to_string(), "scaffolded".to_string());
        }
        automatic
    }

    /// Engine options for `mode` (which may differ from `self.mode` in a compare run).
    pub fn options(&self, mode: ModeChoice, model_has_tags: bool) -> RunOptions {
        let scaffolded = self.scaffold.resolve(model_has_tags);
        RunOptions {
            policy: mode.policy(),
            sampler: self.sampler(scaffolded),
            max_tokens: self.max_tokens,
            scaffold: scaffolded.then(ScaffoldConfig::default),
            automatic: self.automatic(scaffolded),
            ..RunOptions::default()
        }
    }

    /// The two modes of a compare run: full context, then the chosen mode (memento when the
    /// chosen mode is itself full).
    pub fn compare_modes(&self) -> [ModeChoice; 2] {
        let other = if self.mode == ModeChoice::Full {
            ModeChoice::Memento
        } else {
            self.mode
        };
        [ModeChoice::Full, other]
    }

    /// One line for the status bar.
    pub fn summary(&self) -> String {
        self.summary_with(None)
    }

    /// [`RunSettings::summary`], with the sampler as a run applied it (its trace header's,
    /// where automatic choices are resolved and marked) when one is given.
    pub fn summary_with(&self, effective: Option<&crate::trace::SamplerInfo>) -> String {
        let mut s = format!(
            "{} · scaffold {} · ",
            self.mode.label(),
            self.scaffold.label()
        );
        if let Some(info) = effective {
            s.push_str(&info.summary());
            s.push_str(&format!(" · max {}", self.max_tokens));
            if self.pace > 0 {
                s.push_str(&format!(" · pace {} tok/s", self.pace));
            }
            return s;
        }
        s.push_str(&crate::trace::SamplerInfo::sampling(
            self.temperature,
            self.top_k as u64,
            self.top_p,
            self.min_p,
        ));
        match self.repeat_penalty {
            None => s.push_str(" · repeat auto"),
            Some(p) if p != 1.0 => s.push_str(&format!(" · repeat {p:.2}")),
            Some(_) => {}
        }
        s.push_str(&format!(" · seed {} · max {}", self.seed, self.max_tokens));
        if self.pace > 0 {
            s.push_str(&format!(" · pace {} tok/s", self.pace));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_cycle_through_every_choice_and_back() {
        let mut m = ModeChoice::Memento;
        for _ in 0..ModeChoice::CYCLE.len() {
            m = m.cycle(true);
        }
        assert_eq!(m, ModeChoice::Memento);
        assert_eq!(ModeChoice::Memento.cycle(false), ModeChoice::Restart);
        for m in ModeChoice::CYCLE {
            assert_eq!(ModeChoice::parse(&m.label()).unwrap(), m);
        }
    }

    #[test]
    fn compare_pairs_full_with_the_chosen_mode() {
        let mut s = RunSettings::default();
        assert_eq!(s.compare_modes(), [ModeChoice::Full, ModeChoice::Memento]);
        s.mode = ModeChoice::Keep(2);
        assert_eq!(s.compare_modes(), [ModeChoice::Full, ModeChoice::Keep(2)]);
        s.mode = ModeChoice::Full;
        assert_eq!(s.compare_modes(), [ModeChoice::Full, ModeChoice::Memento]);
    }

    #[test]
    fn scaffolded_runs_get_the_repeat_penalty_by_default() {
        let s = RunSettings::default();
        assert_eq!(s.options(s.mode, false).sampler.repeat_penalty, 1.2);
        assert!(s.options(s.mode, false).scaffold.is_some());
        assert_eq!(s.options(s.mode, true).sampler.repeat_penalty, 1.0);
        assert!(s.options(s.mode, true).scaffold.is_none());
        // The header says the penalty was chosen, and why; a penalty the user set, or none
        // in effect, is not automatic.
        let info = s.options(s.mode, false).sampler_info();
        assert_eq!(
            info.automatic.get("repeat_penalty").map(String::as_str),
            Some("scaffolded")
        );
        assert_eq!(
            info.summary(),
            "greedy · repeat 1.20 (auto: scaffolded) · seed 0"
        );
        assert!(s.options(s.mode, true).automatic.is_empty());
        let set = RunSettings {
            repeat_penalty: Some(1.3),
            ..RunSettings::default()
        };
        let info = set.options(set.mode, false).sampler_info();
        assert!(info.automatic.is_empty());
        assert_eq!(info.summary(), "greedy · repeat 1.30 · seed 0");
    }
}
