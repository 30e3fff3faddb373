//! Choosing the next token: greedy, or temperature with top-k, top-p and min-p, after a
//! repetition penalty. Seeded, so the same seed and inputs give the same tokens.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// 0 = greedy.
    pub temperature: f32,
    /// 0 = off.
    pub top_k: usize,
    /// 1 = off.
    pub top_p: f32,
    /// 0 = off: drop tokens whose probability is below `min_p` × the top probability.
    pub min_p: f32,
    /// 1 = off: divide positive logits (multiply negative ones) of recent tokens.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    pub fn check(&self) -> Result<(), String> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(format!("temperature {} must be ≥ 0", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top-p {} must be in (0, 1]", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(format!("min-p {} must be in [0, 1]", self.min_p));
        }
        if !(self.repeat_penalty > 0.0 && self.repeat_penalty.is_finite()) {
            return Err(format!(
                "repeat penalty {} must be > 0",
                self.repeat_penalty
            ));
        }
        Ok(())
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }
}

pub struct Sampler {
    config: SamplerConfig,
    rng: ChaCha8Rng,
}

impl Sampler {
    pub fn new(config: SamplerConfig) -> Sampler {
        Sampler {
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
        }
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Pick the next token from `logits`, given the tokens generated so far (`recent`).
    pub fn sample(&mut self, logits: &[f32], recent: &[u32]) -> u32 {
        let c = self.config;
        let shaped = self.penalized(logits, recent);
        if c.is_greedy() {
            return crate::model::argmax(&shaped);
        }
        self.draw(&shaped)
    }

    /// `logits` after the repeat penalty over the last `repeat_last_n` of `recent`: the
    /// distribution the sampler draws from before temperature and truncation (the same rule
    /// as llama.cpp's `penalty_repeat`: positive logits divided, negative multiplied).
    pub fn penalized(&self, logits: &[f32], recent: &[u32]) -> Vec<f32> {
        let c = self.config;
        let mut shaped = logits.to_vec();
        if c.repeat_penalty != 1.0 {
            let from = recent.len().saturating_sub(c.repeat_last_n);
            let mut seen = recent[from..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                if let Some(l) = shaped.get_mut(id as usize) {
                    *l = if *l > 0.0 {
                        *l / c.repeat_penalty
                    } else {
                        *l * c.repeat_penalty
                    };
                }
            }
        }
        shaped
    }

    fn draw(&mut self, shaped: &[f32]) -> u32 {
        let c = self.config;
        // Candidates by descending logit; every filter keeps at least the best one.
        let mut order: Vec<u32> = (0..shaped.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| shaped[b as usize].total_cmp(&shaped[a as usize]));
        if c.top_k > 0 {
            order.truncate(c.top_k.max(1));
        }
        let max = shaped[order[0] as usize];
        let mut probs: Vec<f32> = order
            .iter()
            .map(|&i| ((shaped[i as usize] - max) / c.temperature).exp())
            .collect();
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        if c.min_p > 0.0 {
            let floor = c.min_p * probs[0];
            let keep = probs.iter().take_while(|&&p| p >= floor).count().max(1);
            order.truncate(keep);
            probs.truncate(keep);
        }
        if c.top_p < 1.0 {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if acc >= c.top_p {
                    keep = i + 1;
                    break;
                }
            }
            order.truncate(keep);
            probs.truncate(keep);
        }
        let total: f32 = probs.iter().sum();
        let mut r = self.rng.random::<f32>() * total;
        for (i, p) in probs.iter().enumerate() {
            if r < *p {
                return order[i];
            }
            r -= p;
        }
        order[probs.len() - 1]
    }
}

/// log Σ exp(logits), computed from the maximum so it never overflows: log-softmax is
/// `logit − log_sum_exp`.
pub fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    max + logits.iter().map(|x| (x - max).exp()).sum::<f32>().ln()
}

/// log-softmax of `logits` at `ids`, and the `k` most likely tokens with their logprobs.
pub fn logprobs(logits: &[f32], id: u32, k: usize) -> (f32, Vec<(u32, f32)>) {
    let lse = log_sum_exp(logits);
    let mut top: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &x) in logits.iter().enumerate().filter(|_| k > 0) {
        if top.len() < k || x > top[top.len() - 1].1 {
            let at = top.partition_point(|&(_, y)| y >= x);
            top.insert(at, (i as u32, x));
            top.truncate(k);
        }
    }
    let top = top.into_iter().map(|(i, x)| (i, x - lse)).collect();
    (logits[id as usize] - lse, top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..50).map(|i| ((i * 7919) % 101) as f32 / 10.0).collect()
    }

    #[test]
    fn logprobs_without_alternatives() {
        let l = logits();
        let (lp, top) = logprobs(&l, 3, 0);
        assert!(top.is_empty());
        assert_eq!(lp, logprobs(&l, 3, 5).0);
    }

    #[test]
    fn greedy_takes_the_argmax() {
        let l = logits();
        let best = crate::model::argmax(&l);
        assert_eq!(Sampler::new(SamplerConfig::default()).sample(&l, &[]), best);
    }

    #[test]
    fn same_seed_same_tokens_and_another_seed_differs() {
        let l = logits();
        let cfg = SamplerConfig {
            temperature: 5.0,
            seed: 42,
            ..SamplerConfig::default()
        };
        let run = |cfg: SamplerConfig| {
            let mut s = Sampler::new(cfg);
            (0..64).map(|_| s.sample(&l, &[])).collect::<Vec<_>>()
        };
        assert_eq!(run(cfg), run(cfg));
        assert_ne!(run(cfg), run(SamplerConfig { seed: 43, ..cfg }));
    }

    #[test]
    fn top_k_one_is_greedy_and_min_p_prunes() {
        let l = logits();
        let best = crate::model::argmax(&l);
        let mut s = Sampler::new(SamplerConfig {
            temperature: 1.0,
            top_k: 1,
            ..SamplerConfig::default()
        });
        assert!((0..20).all(|_| s.sample(&l, &[]) == best));
        let mut s = Sampler::new(SamplerConfig {
            temperature: 1.0,
            min_p: 1.0,
            ..SamplerConfig::default()
        });
        assert!((0..20).all(|_| s.sample(&l, &[]) == best));
        let mut s = Sampler::new(SamplerConfig {
            temperature: 1.0,
            top_p: 1e-6,
            ..SamplerConfig::default()
        });
        assert!((0..20).all(|_| s.sample(&l, &[]) == best));
    }

    #[test]
    fn repeat_penalty_moves_off_a_repeated_token() {
        let mut l = vec![0.0; 4];
        l[2] = 2.0;
        l[1] = 1.5;
        let mut s = Sampler::new(SamplerConfig {
            repeat_penalty: 2.0,
            ..SamplerConfig::default()
        });
        assert_eq!(s.sample(&l, &[2]), 1);
    }

    #[test]
    fn logprobs_normalise() {
        let l = logits();
        let (lp, top) = logprobs(&l, 3, 5);
        let total: f32 = l
            .iter()
            .map(|x| (x - l.iter().cloned().fold(f32::MIN, f32::max)).exp())
            .sum();
        assert!(lp < 0.0 && total > 0.0);
        assert_eq!(top.len(), 5);
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(top[0].0, crate::model::argmax(&l));
    }
}
