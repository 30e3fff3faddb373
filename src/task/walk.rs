//! The toll walk: follow the roads of a small map for a number of steps and add up the tolls.
//!
//! The roads form one ring through every place (each place has one road out and one in, in a
//! random order), each with a toll of 1–9. The reasoning takes
//! one line per step (`5 F>E 6: 14+6=20`: step, road, toll, running total) and works in blocks
//! of a few steps (a last step left alone joins the block before); each block ends with a memento that states the steps done and the total
//! (`8 steps, total 52`) but not where the walk stands. The next block must start from the
//! place the last block reached: under memento attention that block is evicted and the
//! memento's text does not say it, so the place can only travel through the KV entries the
//! memento wrote while its block was visible (the paper's dual information stream, §6.2).
//! Restart mode, which recomputes those entries from the text alone, loses it.
//!
//! The prompt does not give the answer away: the total depends on the whole walk.
//!
//! The passcode variant (for the leakage probe, §6.2.2) writes a five-digit gate code into
//! the second block and asks for it after the total; no memento mentions it.

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{Split, TaskProblem};

/// The walk's knobs, stored with a trained model (`memento_task.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkConfig {
    /// Places on the map (inclusive range), at most 26.
    pub places: [u32; 2],
    /// Steps of a training or held-out walk (inclusive range).
    pub steps: [u32; 2],
    /// Steps of a walk in the `longer` split, all beyond `steps`.
    pub longer_steps: [u32; 2],
    /// Steps per block (the last block may be shorter).
    pub block_steps: u32,
    /// Share of training walks in the passcode variant.
    pub passcode_share: f64,
    /// Share of training walks drawn shorter than `steps` (one block up to `steps[0] − 1`
    /// steps): more practice on the first blocks, where every lookup is near the prompt.
    /// Held-out walks keep `steps`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub short_share: f64,
    /// A last step left on its own joins the block before, whose memento would otherwise be
    /// longer than the block (`25 steps, total 106` against `25 E>A 2: 104+2=106`). Task
    /// files that predate the field mean `false`.
    #[serde(default)]
    pub join_lone_step: bool,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Default for WalkConfig {
    fn default() -> Self {
        WalkConfig {
            places: [4, 6],
            steps: [16, 28],
            longer_steps: [32, 40],
            block_steps: 4,
            passcode_share: 0.1,
            short_share: 0.0,
            join_lone_step: true,
        }
    }
}

/// Digits of the gate code in the passcode variant.
pub const CODE_DIGITS: usize = 5;

/// One walk: the map, where it starts, how long it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Walk {
    /// `roads[p] = (next place, toll)` for each place `p` (0 = A).
    pub roads: Vec<(u8, u32)>,
    pub start: u8,
    pub steps: u32,
    /// The passcode variant's gate code.
    pub code: Option<Vec<u8>>,
}

fn place(p: u8) -> char {
    char::from(b'A' + p)
}

impl WalkConfig {
    pub fn check(&self) -> Result<(), String> {
        let range = |name: &str, r: [u32; 2], lo: u32, hi: u32| {
            if r[0] < lo || r[0] > r[1] || r[1] > hi {
                Err(format!("{name}: {r:?} (expected {lo} ≤ low ≤ high ≤ {hi})"))
            } else {
                Ok(())
            }
        };
        range("places", self.places, 2, 26)?;
        range("steps", self.steps, 1, 500)?;
        range("longer_steps", self.longer_steps, 1, 500)?;
        if self.longer_steps[0] <= self.steps[1] {
            return Err(format!(
                "longer_steps: {:?} must lie beyond steps {:?}",
                self.longer_steps, self.steps
            ));
        }
        if self.block_steps == 0 {
            return Err("block_steps: must be positive".into());
        }
        if !(0.0..=1.0).contains(&self.short_share) {
            return Err(format!(
                "short_share: {} (expected 0 to 1)",
                self.short_share
            ));
        }
        if !(0.0..=1.0).contains(&self.passcode_share) {
            return Err(format!(
                "passcode_share: {} (expected 0 to 1)",
                self.passcode_share
            ));
        }
        Ok(())
    }

    /// A decoding budget for the longest walk of any split: each step's line is under 24
    /// tokens and each block's delimiters and memento under 32, rounded up to a power of two
    /// (at least 1,024).
    pub fn max_tokens(&self) -> u32 {
        let steps = self.longer_steps[1].max(self.steps[1]);
        let blocks = steps.div_ceil(self.block_steps);
        (24 * steps + 32 * blocks + 64)
            .next_power_of_two()
            .max(1024)
    }

    /// The walk drawn by `rng` for `split`.
    pub fn draw(&self, rng: &mut impl Rng, split: Split, passcode: bool) -> Walk {
        let n = rng.random_range(self.places[0]..=self.places[1]) as usize;
        // Sattolo's shuffle: a uniformly random single cycle through every place.
        let mut next: Vec<u8> = (0..n as u8).collect();
        for i in (1..n).rev() {
            let j = rng.random_range(0..i);
            next.swap(i, j);
        }
        let roads = next
            .into_iter()
            .map(|to| (to, rng.random_range(1..=9)))
            .collect();
        let n = n as u8;
        let [lo, hi] = match split {
            Split::Longer => self.longer_steps,
            Split::Train | Split::Heldout => self.steps,
        };
        // Drawn only when asked for, so walks without short ones keep their streams.
        let short = split == Split::Train
            && self.short_share > 0.0
            && lo > 1
            && rng.random_bool(self.short_share);
        let steps = if short {
            rng.random_range(self.block_steps.min(lo - 1)..lo)
        } else {
            rng.random_range(lo..=hi)
        };
        let start = rng.random_range(0..n);
        let code = passcode.then(|| {
            (0..CODE_DIGITS)
                .map(|_| rng.random_range(0..10u8))
                .collect()
        });
        Walk {
            roads,
            start,
            steps,
            code,
        }
    }

    /// Problem `index` of `split` under `seed`: the same for the same arguments.
    pub fn problem(&self, split: Split, seed: u64, index: u64) -> TaskProblem {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ split.salt());
        rng.set_stream(index);
        let passcode = split == Split::Train && rng.random_bool(self.passcode_share);
        let walk = self.draw(&mut rng, split, passcode);
        walk.problem(
            &format!("{}-{}-{index}", split.name(), seed),
            self.block_steps,
            self.join_lone_step,
        )
    }

    /// A passcode-variant problem for the probe: `code` in block 2 of walk `index`.
    pub fn passcode_problem(&self, seed: u64, index: u64, code: &[u8]) -> TaskProblem {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ Split::Heldout.salt());
        rng.set_stream(index);
        let mut walk = self.draw(&mut rng, Split::Heldout, false);
        // Three blocks at least, so a memento follows the code's evicted block.
        walk.steps = walk.steps.max(3 * self.block_steps);
        walk.code = Some(code.to_vec());
        walk.problem(
            &format!("passcode-{seed}-{index}"),
            self.block_steps,
            self.join_lone_step,
        )
    }
}

/// The steps cut into blocks of `block_steps`; with `join_lone_step`, a last step left on its
/// own joins the block before.
fn block_chunks<T>(
    path: &[T],
    block_steps: usize,
    join_lone_step: bool,
) -> impl Iterator<Item = &[T]> {
    let mut cuts: Vec<usize> = (0..path.len()).step_by(block_steps).collect();
    if join_lone_step && block_steps > 1 && cuts.len() > 1 && path.len() - cuts[cuts.len() - 1] == 1
    {
        cuts.pop();
    }
    let ends: Vec<usize> = cuts.iter().skip(1).copied().chain([path.len()]).collect();
    cuts.into_iter().zip(ends).map(move |(a, b)| &path[a..b])
}

impl Walk {
    /// Each step's (from, to, toll, total after it).
    pub fn path(&self) -> Vec<(u8, u8, u32, u32)> {
        let mut at = self.start;
        let mut total = 0;
        (0..self.steps)
            .map(|_| {
                let (to, toll) = self.roads[at as usize];
                total += toll;
                let step = (at, to, toll, total);
                at = to;
                step
            })
            .collect()
    }

    pub fn prompt(&self) -> String {
        let roads: Vec<String> = self
            .roads
            .iter()
            .enumerate()
            .map(|(p, &(to, toll))| format!("{}>{} {toll}", place(p as u8), place(to)))
            .collect();
        let mut s = format!(
            "Walk {} steps from {}, adding up the tolls. Roads: {}.",
            self.steps,
            place(self.start),
            roads.join(", ")
        );
        if self.code.is_some() {
            s.push_str(" Report the gate code.");
        }
        s
    }

    fn problem(&self, id: &str, block_steps: u32, join_lone_step: bool) -> TaskProblem {
        let path = self.path();
        let total = path.last().map_or(0, |s| s.3);
        let code = self
            .code
            .as_ref()
            .map(|c| c.iter().map(|d| char::from(b'0' + d)).collect::<String>());
        let mut response = String::from("<think>\n");
        let mut blocks = 0;
        for (b, chunk) in block_chunks(&path, block_steps as usize, join_lone_step).enumerate() {
            let first = b * block_steps as usize;
            let mut lines: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, &(from, to, toll, after))| {
                    format!(
                        "{} {}>{} {toll}: {}+{toll}={after}",
                        first + i + 1,
                        place(from),
                        place(to),
                        after - toll
                    )
                })
                .collect();
            if b == 1 {
                if let Some(code) = &code {
                    lines.insert(1.min(lines.len()), format!("gate code {code}"));
                }
            }
            let done = first + chunk.len();
            let after = chunk.last().map_or(0, |s| s.3);
            response.push_str(&format!(
                "<|block_start|>{}<|block_end|>\n<|summary_start|>{done} steps, total {after}<|summary_end|>\n",
                lines.join("\n")
            ));
            blocks += 1;
        }
        response.push_str(&format!("</think>\nThe total toll is \\boxed{{{total}}}."));
        if let Some(code) = &code {
            response.push_str(&format!(" The gate code is {code}."));
        }
        TaskProblem {
            id: id.to_string(),
            prompt: self.prompt(),
            response,
            answer: total.to_string(),
            code,
            blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk() -> Walk {
        Walk {
            roads: vec![(2, 3), (0, 7), (1, 2)],
            start: 0,
            steps: 5,
            code: None,
        }
    }

    #[test]
    fn the_path_follows_the_roads_and_sums_the_tolls() {
        // A>C 3, C>B 2, B>A 7, A>C 3, C>B 2
        let p = walk().path();
        assert_eq!(
            p.iter().map(|s| s.2).collect::<Vec<_>>(),
            vec![3, 2, 7, 3, 2]
        );
        assert_eq!(p.last().unwrap().3, 17);
        assert_eq!(p[2], (1, 0, 7, 12));
    }

    #[test]
    fn the_reference_reasoning_is_blocks_of_steps_closed_by_mementos() {
        let p = walk().problem("x", 2, true);
        assert_eq!(
            p.prompt,
            "Walk 5 steps from A, adding up the tolls. Roads: A>C 3, B>A 7, C>B 2."
        );
        assert_eq!(
            p.response,
            "<think>\n\
             <|block_start|>1 A>C 3: 0+3=3\n2 C>B 2: 3+2=5<|block_end|>\n\
             <|summary_start|>2 steps, total 5<|summary_end|>\n\
             <|block_start|>3 B>A 7: 5+7=12\n4 A>C 3: 12+3=15\n5 C>B 2: 15+2=17<|block_end|>\n\
             <|summary_start|>5 steps, total 17<|summary_end|>\n\
             </think>\nThe total toll is \\boxed{17}."
        );
        assert_eq!(p.answer, "17");
        // The fifth step, alone, joined the block before; task files that predate the rule
        // keep it as a block of its own.
        assert_eq!(p.blocks, 2);
        let old = walk().problem("x", 2, false);
        assert_eq!(old.blocks, 3);
        assert!(old.response.contains(
            "<|block_start|>5 C>B 2: 15+2=17<|block_end|>\n<|summary_start|>5 steps, total 17"
        ));
    }

    #[test]
    fn the_roads_form_one_ring_through_every_place() {
        let c = WalkConfig::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        for _ in 0..50 {
            let w = c.draw(&mut rng, Split::Train, false);
            let n = w.roads.len();
            let mut at = 0u8;
            let mut seen = std::collections::HashSet::new();
            for _ in 0..n {
                assert!(
                    seen.insert(at),
                    "a place visited twice before the ring closes"
                );
                at = w.roads[at as usize].0;
            }
            assert_eq!(at, 0);
        }
    }

    #[test]
    fn no_memento_says_where_the_walk_stands() {
        let c = WalkConfig::default();
        for i in 0..50 {
            let p = c.problem(Split::Train, 1, i);
            for m in p.response.split("<|summary_start|>").skip(1) {
                let text = m.split("<|summary_end|>").next().unwrap();
                assert!(!text.chars().any(|ch| ch.is_ascii_uppercase()), "{text}");
            }
        }
    }

    #[test]
    fn the_gate_code_sits_in_block_two_only_and_in_the_answer() {
        let c = WalkConfig::default();
        let p = c.passcode_problem(3, 0, &[4, 8, 2, 1, 3]);
        let blocks: Vec<&str> = p.response.split("<|block_start|>").skip(1).collect();
        assert!(blocks.len() >= 3);
        assert!(!blocks[0].contains("48213"));
        let second = blocks[1].split("<|block_end|>").next().unwrap();
        assert!(second.contains("gate code 48213"));
        let summaries = blocks[1].split("<|block_end|>").nth(1).unwrap();
        assert!(!summaries.contains("48213"));
        assert!(p.response.ends_with("The gate code is 48213."));
        assert_eq!(p.code.as_deref(), Some("48213"));
    }

    #[test]
    fn every_memento_is_shorter_than_its_block() {
        let c = WalkConfig::default();
        for split in [Split::Train, Split::Heldout, Split::Longer] {
            for i in 0..100 {
                let p = c.problem(split, 2, i);
                for part in p.response.split("<|block_start|>").skip(1) {
                    let (block, rest) = part.split_once("<|block_end|>").unwrap();
                    let memento = rest
                        .split("<|summary_start|>")
                        .nth(1)
                        .and_then(|m| m.split("<|summary_end|>").next())
                        .unwrap();
                    // Tokens of the byte-level tokenizer: bytes, less one per merged `>X`.
                    let tokens = |t: &str| t.len() - t.matches('>').count();
                    assert!(tokens(memento) < tokens(block), "{}: {block:?}", p.id);
                }
            }
        }
    }

    #[test]
    fn short_walks_take_their_share_of_training_only() {
        let steps = |c: &WalkConfig, split: Split| -> Vec<u32> {
            (0..400)
                .map(|i| {
                    let p = c.problem(split, 5, i);
                    p.prompt["Walk ".len()..]
                        .split(' ')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect()
        };
        let c = WalkConfig {
            short_share: 0.5,
            ..WalkConfig::default()
        };
        let train = steps(&c, Split::Train);
        let short = train.iter().filter(|&&s| s < c.steps[0]).count();
        // 400 draws at p = 0.5: 200 ± 10 (one standard deviation).
        assert!((160..=240).contains(&short), "{short} short walks of 400");
        assert!(train.iter().all(|&s| s >= c.block_steps && s <= c.steps[1]));
        let heldout = steps(&c, Split::Heldout);
        assert!(
            heldout
                .iter()
                .all(|&s| (c.steps[0]..=c.steps[1]).contains(&s))
        );
        let bad = WalkConfig {
            short_share: 2.0,
            ..WalkConfig::default()
        };
        assert!(bad.check().unwrap_err().contains("short_share"));
    }

    #[test]
    fn splits_are_seeded_and_distinct() {
        let c = WalkConfig::default();
        assert_eq!(c.problem(Split::Train, 7, 3), c.problem(Split::Train, 7, 3));
        assert_ne!(
            c.problem(Split::Train, 7, 3),
            c.problem(Split::Heldout, 7, 3)
        );
        for i in 0..20 {
            let p = c.problem(Split::Longer, 7, i);
            let steps: u32 = p.prompt["Walk ".len()..]
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(steps > c.steps[1]);
        }
    }
}
