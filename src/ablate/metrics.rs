//! Per-position comparisons of an arm's next-token distribution with the full-context
//! arm's, and their aggregation.

use serde::{Deserialize, Serialize};

/// `log softmax(logits)`, in f64 so that identical inputs give exactly zero divergence.
pub fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let sum: f64 = logits.iter().map(|&x| (x as f64 - max).exp()).sum();
    let log_z = max + sum.ln();
    logits.iter().map(|&x| x as f64 - log_z).collect()
}

/// KL(P ‖ Q) in nats, from log-probabilities.
pub fn kl(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(lp, _)| lp.is_finite())
        .map(|(&lp, &lq)| lp.exp() * (lp - lq))
        .sum::<f64>()
        .max(0.0)
}

pub fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Which part of the reasoning a position belongs to.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    Block,
    Memento,
    Answer,
    /// Tags, `<think>`, text between spans.
    #[default]
    Other,
}

impl SpanKind {
    pub const ALL: [SpanKind; 4] = [
        SpanKind::Block,
        SpanKind::Memento,
        SpanKind::Answer,
        SpanKind::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SpanKind::Block => "block",
            SpanKind::Memento => "memento",
            SpanKind::Answer => "answer",
            SpanKind::Other => "other",
        }
    }
}

/// One generated position under one arm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PositionRow {
    pub item: String,
    pub arm: String,
    /// Index among the generated tokens.
    pub index: u32,
    /// Logical position (prompt included).
    pub pos: u64,
    pub span: SpanKind,
    /// The block the position belongs to (a memento: the block it summarises).
    pub block: Option<u32>,
    /// KL(full ‖ arm) of the next-token distributions, nats.
    pub kl: f64,
    /// Whether the arm's most likely token is the full arm's.
    pub top1_agrees: bool,
    /// The arm's log-probability of the token actually there.
    pub logprob: f64,
}

/// Means over a set of positions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub positions: u64,
    pub mean_kl: f64,
    pub top1_agreement: f64,
    pub mean_logprob: f64,
}

impl Aggregate {
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a PositionRow>) -> Aggregate {
        let (mut n, mut kl, mut top1, mut lp) = (0u64, 0.0, 0u64, 0.0);
        for r in rows {
            n += 1;
            kl += r.kl;
            top1 += u64::from(r.top1_agrees);
            lp += r.logprob;
        }
        if n == 0 {
            return Aggregate::default();
        }
        Aggregate {
            positions: n,
            mean_kl: kl / n as f64,
            top1_agreement: top1 as f64 / n as f64,
            mean_logprob: lp / n as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_of_a_distribution_with_itself_is_zero_and_otherwise_positive() {
        let p = log_softmax(&[1.0, 2.0, 3.0, -1.0]);
        assert_eq!(kl(&p, &p), 0.0);
        let q = log_softmax(&[1.0, 2.5, 2.0, -1.0]);
        assert!(kl(&p, &q) > 0.0);
        let total: f64 = p.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert_eq!(argmax(&p), 2);
    }

    #[test]
    fn kl_matches_a_hand_computed_value() {
        // P = (0.5, 0.5), Q = (0.9, 0.1): 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1).
        let p = [0.5f64.ln(), 0.5f64.ln()];
        let q = [0.9f64.ln(), 0.1f64.ln()];
        let want = 0.5 * (0.5f64 / 0.9).ln() + 0.5 * (0.5f64 / 0.1).ln();
        assert!((kl(&p, &q) - want).abs() < 1e-12);
    }
}
