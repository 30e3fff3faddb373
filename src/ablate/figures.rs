//! The figures that both the report and the plots show, computed from a result directory's
//! rows alone: mean KL per block index and arm, free-running accuracy per arm, and the
//! implicit-channel map (mean cosine distance per block and layer). One computation serves
//! both, so a chart never disagrees with the table beside it.

use std::collections::BTreeMap;
use std::path::Path;

use super::channel::ChannelRow;
use super::metrics::{Aggregate, PositionRow};
use super::results::{
    ANSWERS, AnswerRow, CHANNEL, POSITIONS, ResultsError, config_arms, read_config, read_rows,
};
use super::tables::{by_block, mean_distances, wilson};

/// One arm's free-running answers that have a reference answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accuracy {
    pub arm: String,
    pub correct: u64,
    /// Answers with a reference.
    pub answered: u64,
}

impl Accuracy {
    pub fn of(answers: &[AnswerRow], arm: &str) -> Accuracy {
        let mine = answers
            .iter()
            .filter(|a| a.arm == arm && a.correct.is_some());
        let (mut correct, mut answered) = (0, 0);
        for a in mine {
            answered += 1;
            correct += u64::from(a.correct == Some(true));
        }
        Accuracy {
            arm: arm.to_string(),
            correct,
            answered,
        }
    }

    /// The fraction correct; `None` without any answer to judge.
    pub fn rate(&self) -> Option<f64> {
        (self.answered > 0).then(|| self.correct as f64 / self.answered as f64)
    }

    /// The 95% Wilson interval of the rate.
    pub fn interval(&self) -> (f64, f64) {
        wilson(self.correct, self.answered)
    }
}

/// Two arms' answers to the same items and seeds, paired: the accuracy gap between them with
/// a 95% interval and McNemar's exact test, for the dual-stream effect (memento against
/// restart; paper §6.2.1, Table 3).
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    pub a: String,
    pub b: String,
    /// Pairs where both are right, only `a`, only `b`, neither.
    pub both: u64,
    pub a_only: u64,
    pub b_only: u64,
    pub neither: u64,
}

impl Paired {
    /// Pair `a`'s and `b`'s judged answers by item and seed.
    pub fn of(answers: &[AnswerRow], a: &str, b: &str) -> Paired {
        let key = |r: &AnswerRow| (r.item.clone(), r.seed);
        let theirs: std::collections::HashMap<_, bool> = answers
            .iter()
            .filter(|r| r.arm == b)
            .filter_map(|r| r.correct.map(|c| (key(r), c)))
            .collect();
        let mut p = Paired {
            a: a.to_string(),
            b: b.to_string(),
            both: 0,
            a_only: 0,
            b_only: 0,
            neither: 0,
        };
        for r in answers.iter().filter(|r| r.arm == a) {
            let (Some(x), Some(&y)) = (r.correct, theirs.get(&key(r))) else {
                continue;
            };
            match (x, y) {
                (true, true) => p.both += 1,
                (true, false) => p.a_only += 1,
                (false, true) => p.b_only += 1,
                (false, false) => p.neither += 1,
            }
        }
        p
    }

    pub fn pairs(&self) -> u64 {
        self.both + self.a_only + self.b_only + self.neither
    }

    /// Accuracy of `a` minus accuracy of `b` over the pairs.
    pub fn gap(&self) -> f64 {
        (self.a_only as f64 - self.b_only as f64) / self.pairs().max(1) as f64
    }

    /// The 95% Wald interval of the paired difference in proportions:
    /// `(b₁ − c)/n ± 1.96 · √((b₁ + c) − (b₁ − c)²/n) / n`, with `b₁`, `c` the discordant pairs.
    pub fn interval(&self) -> (f64, f64) {
        let n = self.pairs().max(1) as f64;
        let (b1, c) = (self.a_only as f64, self.b_only as f64);
        let half = 1.959_963_984_540_054 * ((b1 + c) - (b1 - c).powi(2) / n).max(0.0).sqrt() / n;
        (self.gap() - half, self.gap() + half)
    }

    /// McNemar's exact two-sided p-value: the discordant pairs against a fair coin.
    pub fn mcnemar_p(&self) -> f64 {
        let n = self.a_only + self.b_only;
        if n == 0 {
            return 1.0;
        }
        let k = self.a_only.min(self.b_only);
        // P(X ≤ k) for X ~ Binomial(n, ½), in logs to stay finite for large n.
        let ln_choose = |n: u64, r: u64| -> f64 {
            (1..=r)
                .map(|i| ((n - r + i) as f64).ln() - (i as f64).ln())
                .sum()
        };
        let tail: f64 = (0..=k)
            .map(|i| (ln_choose(n, i) - n as f64 * std::f64::consts::LN_2).exp())
            .sum();
        (2.0 * tail).min(1.0)
    }
}

/// The implicit channel per block and layer: the mean K and V cosine distances over the
/// items that closed that block with a memento.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelMap {
    /// Block indices 0..blocks (0-based, as in the files).
    pub blocks: u32,
    /// Layers 0..layers.
    pub layers: u32,
    /// (block, layer) → (mean K distance, mean V distance); a block no item reached has none.
    cells: BTreeMap<(u32, u32), (f64, f64)>,
}

impl ChannelMap {
    /// `None` for no rows (no memento was compared).
    pub fn of(rows: &[ChannelRow]) -> Option<ChannelMap> {
        let means = mean_distances(rows, |r| (r.block, r.layer));
        let blocks = means.keys().map(|k| k.0).max()? + 1;
        let layers = means.keys().map(|k| k.1).max()? + 1;
        let cells = means
            .into_iter()
            .map(|(key, d)| (key, (d.k, d.v)))
            .collect();
        Some(ChannelMap {
            blocks,
            layers,
            cells,
        })
    }

    /// The mean (K, V) distance at `block` (0-based) and `layer`.
    pub fn cell(&self, block: u32, layer: u32) -> Option<(f64, f64)> {
        self.cells.get(&(block, layer)).copied()
    }

    /// Every cell with data: (block, layer, K, V).
    pub fn cells(&self) -> impl Iterator<Item = (u32, u32, f64, f64)> + '_ {
        self.cells.iter().map(|(&(b, l), &(k, v))| (b, l, k, v))
    }
}

/// The figures of one result directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// The arms in the run's order (`config.json`); the first is the full-context reference.
    pub arms: Vec<String>,
    pub kl_by_block: BTreeMap<u32, Vec<Aggregate>>,
    /// One per arm, in `arms`' order.
    pub accuracy: Vec<Accuracy>,
    pub channel: Option<ChannelMap>,
}

impl Figures {
    pub fn of(
        arms: &[String],
        positions: &[PositionRow],
        channel: &[ChannelRow],
        answers: &[AnswerRow],
    ) -> Figures {
        Figures {
            arms: arms.to_vec(),
            kl_by_block: by_block(arms, positions),
            accuracy: arms.iter().map(|a| Accuracy::of(answers, a)).collect(),
            channel: ChannelMap::of(channel),
        }
    }

    /// Read from the result directory `dir`'s files.
    pub fn read(dir: &Path) -> Result<Figures, ResultsError> {
        let positions: Vec<PositionRow> = read_rows(&dir.join(POSITIONS))?;
        let channel: Vec<ChannelRow> = read_rows(&dir.join(CHANNEL))?;
        let answers: Vec<AnswerRow> = read_rows(&dir.join(ANSWERS))?;
        let arms = config_arms(&read_config(dir));
        Ok(Figures::of(&arms, &positions, &channel, &answers))
    }
}

/// One arm over a set of positions and free-running answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmFigures {
    pub arm: String,
    pub all: Aggregate,
    /// Answers that match the reference, of the `judged` ones (those with a reference).
    pub right: u64,
    pub judged: u64,
}

impl ArmFigures {
    /// The share of judged answers that are right; `None` with none judged.
    pub fn accuracy(&self) -> Option<f64> {
        (self.judged > 0).then(|| self.right as f64 / self.judged as f64)
    }

    /// The accuracy's 95% Wilson interval.
    pub fn interval(&self) -> (f64, f64) {
        wilson(self.right, self.judged)
    }
}

/// Each arm's means over `positions` and its accuracy over `answers`, in the order of `arms`.
pub fn per_arm(
    arms: &[String],
    positions: &[PositionRow],
    answers: &[AnswerRow],
) -> Vec<ArmFigures> {
    arms.iter()
        .map(|arm| {
            let all = Aggregate::of(positions.iter().filter(|r| &r.arm == arm));
            let judged = Accuracy::of(answers, arm);
            ArmFigures {
                arm: arm.clone(),
                all,
                right: judged.correct,
                judged: judged.answered,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(item: &str, arm: &str, correct: bool) -> AnswerRow {
        AnswerRow {
            item: item.into(),
            arm: arm.into(),
            seed: 1,
            answer: None,
            reference: Some("1".into()),
            correct: Some(correct),
            tokens: 0,
            peak_kv: 0,
        }
    }

    #[test]
    fn paired_answers_give_the_gap_its_interval_and_mcnemar() {
        // 10 items: both right on 4, memento only on 5, restart only on 1.
        let mut rows = Vec::new();
        for i in 0..10 {
            let item = format!("i{i}");
            let (m, r) = match i {
                0..4 => (true, true),
                4..9 => (true, false),
                _ => (false, true),
            };
            rows.push(answer(&item, "memento", m));
            rows.push(answer(&item, "restart", r));
        }
        let p = Paired::of(&rows, "memento", "restart");
        assert_eq!((p.both, p.a_only, p.b_only, p.neither), (4, 5, 1, 0));
        assert!((p.gap() - 0.4).abs() < 1e-12);
        // Wald: 0.4 ± 1.96·√(6 − 16/10)/10 = 0.4 ± 0.4111.
        let (lo, hi) = p.interval();
        assert!(
            (lo + 0.011_13).abs() < 1e-4 && (hi - 0.811_13).abs() < 1e-4,
            "{lo} {hi}"
        );
        // McNemar exact: 2·P(X ≤ 1), X ~ B(6, ½) = 2·7/64.
        assert!((p.mcnemar_p() - 14.0 / 64.0).abs() < 1e-12);
    }

    fn pos(arm: &str, block: Option<u32>, kl: f64) -> PositionRow {
        PositionRow {
            item: "a".into(),
            arm: arm.into(),
            block,
            kl,
            ..PositionRow::default()
        }
    }

    #[test]
    fn kl_per_block_is_the_mean_over_the_blocks_positions_per_arm() {
        let rows = [
            pos("memento", Some(0), 0.1),
            pos("memento", Some(0), 0.3),
            pos("memento", Some(1), 0.5),
            // Not in any block: counted nowhere here.
            pos("memento", None, 9.0),
            pos("restart", Some(1), 0.25),
            pos("restart", Some(1), 0.75),
            pos("restart", Some(1), 1.25),
        ];
        let arms = ["memento".to_string(), "restart".to_string()];
        let by_block = by_block(&arms, &rows);
        assert_eq!(by_block.keys().copied().collect::<Vec<_>>(), [0, 1]);
        assert!((by_block[&0][0].mean_kl - 0.2).abs() < 1e-12);
        assert_eq!(by_block[&0][0].positions, 2);
        // restart has no position in block 0.
        assert_eq!(by_block[&0][1].positions, 0);
        assert!((by_block[&1][0].mean_kl - 0.5).abs() < 1e-12);
        assert!((by_block[&1][1].mean_kl - 0.75).abs() < 1e-12);
        assert_eq!(by_block[&1][1].positions, 3);
    }

    #[test]
    fn accuracy_counts_only_answers_with_a_reference() {
        let answer = |arm: &str, correct: Option<bool>| AnswerRow {
            arm: arm.into(),
            correct,
            ..AnswerRow::default()
        };
        let answers = [
            answer("memento", Some(true)),
            answer("memento", Some(false)),
            answer("memento", Some(true)),
            answer("memento", None),
            answer("restart", None),
        ];
        let a = Accuracy::of(&answers, "memento");
        assert_eq!((a.correct, a.answered), (2, 3));
        assert_eq!(a.rate(), Some(2.0 / 3.0));
        assert_eq!(a.interval(), wilson(2, 3));
        assert_eq!(Accuracy::of(&answers, "restart").rate(), None);
    }

    #[test]
    fn the_channel_map_averages_each_block_and_layer_over_items() {
        let row = |item: &str, block, layer, k, v| ChannelRow {
            item: item.into(),
            block,
            layer,
            positions: 5,
            k_distance: k,
            v_distance: v,
        };
        let rows = [
            row("a", 0, 0, 0.1, 0.2),
            row("b", 0, 0, 0.3, 0.6),
            row("a", 0, 1, 0.5, 0.5),
            row("a", 2, 1, 0.9, 0.8),
        ];
        let map = ChannelMap::of(&rows).unwrap();
        assert_eq!((map.blocks, map.layers), (3, 2));
        let (k, v) = map.cell(0, 0).unwrap();
        assert!((k - 0.2).abs() < 1e-12 && (v - 0.4).abs() < 1e-12);
        assert_eq!(map.cell(0, 1), Some((0.5, 0.5)));
        // Block 1 closed with no memento in any item: no cell.
        assert_eq!(map.cell(1, 0), None);
        assert_eq!(map.cells().count(), 3);
        assert_eq!(ChannelMap::of(&[]), None);
    }
}
