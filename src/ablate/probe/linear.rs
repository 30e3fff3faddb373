//! The linear probe: one softmax classifier per digit of the code over standardised features
//! (a single linear map to digits × 10 logits), trained with AdamW on the mean cross-entropy
//! plus an L2 penalty. The penalty is chosen on a validation split; accuracy is measured on
//! a test split no choice has seen.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};

/// Rows of features with their labels (each row's digits).
#[derive(Debug, Clone)]
pub struct Dataset {
    /// `rows × dim`, row-major.
    pub x: Vec<f32>,
    /// `rows × digits`, each 0–9.
    pub y: Vec<u8>,
    pub dim: usize,
    pub digits: usize,
}

impl Dataset {
    pub fn rows(&self) -> usize {
        self.y.len() / self.digits.max(1)
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut x = Vec::with_capacity(indices.len() * self.dim);
        let mut y = Vec::with_capacity(indices.len() * self.digits);
        for &i in indices {
            x.extend_from_slice(&self.x[i * self.dim..(i + 1) * self.dim]);
            y.extend_from_slice(&self.y[i * self.digits..(i + 1) * self.digits]);
        }
        Dataset {
            x,
            y,
            dim: self.dim,
            digits: self.digits,
        }
    }
}

/// The L2 penalties tried.
pub const L2_GRID: [f64; 3] = [1e-3, 1e-2, 1e-1];
const STEPS: usize = 200;
const LEARNING_RATE: f64 = 0.02;

/// A trained probe with the standardisation it learned from its training rows.
pub struct Probe {
    mean: Vec<f32>,
    scale: Vec<f32>,
    w: Tensor,
    b: Tensor,
    digits: usize,
}

/// Digits right out of digits asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Score {
    pub correct: u64,
    pub total: u64,
}

impl Score {
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// The outcome of choosing a penalty on `validation` and testing on `test`.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation {
    pub l2: f64,
    pub validation: Score,
    pub test: Score,
}

impl Probe {
    /// Fit on `train` with penalty `l2`.
    pub fn fit(train: &Dataset, l2: f64) -> candle_core::Result<Probe> {
        let (n, d, k) = (train.rows(), train.dim, train.digits);
        let device = Device::Cpu;
        let (mean, scale) = standardisation(train);
        let x = Tensor::from_vec(standardise(&train.x, &mean, &scale), (n, d), &device)?;
        let y: Vec<u32> = train.y.iter().map(|&v| u32::from(v)).collect();
        let y = Tensor::from_vec(y, n * k, &device)?;
        // Zero start: the objective is convex, so the result does not hang on a seed.
        let w = Var::zeros((d, k * 10), DType::F32, &device)?;
        let b = Var::zeros(k * 10, DType::F32, &device)?;
        let params = ParamsAdamW {
            lr: LEARNING_RATE,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        };
        let mut optimiser = AdamW::new(vec![w.clone(), b.clone()], params)?;
        for _ in 0..STEPS {
            let logits = x
                .matmul(w.as_tensor())?
                .broadcast_add(b.as_tensor())?
                .reshape((n * k, 10))?;
            let fit = candle_nn::loss::cross_entropy(&logits, &y)?;
            let penalty = (w.as_tensor().sqr()?.sum_all()? * l2)?;
            optimiser.backward_step(&(fit + penalty)?)?;
        }
        Ok(Probe {
            mean,
            scale,
            w: w.as_tensor().clone(),
            b: b.as_tensor().clone(),
            digits: k,
        })
    }

    /// The most likely digits of every row of `data`.
    pub fn predict(&self, data: &Dataset) -> candle_core::Result<Vec<u8>> {
        let n = data.rows();
        if n == 0 {
            return Ok(Vec::new());
        }
        let x = Tensor::from_vec(
            standardise(&data.x, &self.mean, &self.scale),
            (n, data.dim),
            &Device::Cpu,
        )?;
        let logits = x
            .matmul(&self.w)?
            .broadcast_add(&self.b)?
            .reshape((n * self.digits, 10))?;
        let best: Vec<u32> = logits.argmax(1)?.to_vec1()?;
        Ok(best.into_iter().map(|v| v as u8).collect())
    }

    pub fn score(&self, data: &Dataset) -> candle_core::Result<Score> {
        let predicted = self.predict(data)?;
        Ok(Score {
            correct: predicted
                .iter()
                .zip(&data.y)
                .filter(|(p, y)| p == y)
                .count() as u64,
            total: data.y.len() as u64,
        })
    }
}

/// Fit one probe per penalty on `train`, keep the best on `validation` (the smaller penalty
/// on a tie), and score it on `test`.
pub fn evaluate(
    train: &Dataset,
    validation: &Dataset,
    test: &Dataset,
) -> candle_core::Result<Evaluation> {
    let mut best: Option<(f64, Score, Probe)> = None;
    for &l2 in &L2_GRID {
        let probe = Probe::fit(train, l2)?;
        let score = probe.score(validation)?;
        if best
            .as_ref()
            .is_none_or(|(_, s, _)| score.correct > s.correct)
        {
            best = Some((l2, score, probe));
        }
    }
    let (l2, validation, probe) = best.expect("the grid is not empty");
    Ok(Evaluation {
        l2,
        validation,
        test: probe.score(test)?,
    })
}

/// Per feature, the training mean and 1 / standard deviation (1 for a constant feature, so
/// it stays 0 rather than dividing by 0).
fn standardisation(data: &Dataset) -> (Vec<f32>, Vec<f32>) {
    let (n, d) = (data.rows().max(1), data.dim);
    let mut mean = vec![0f64; d];
    for row in data.x.chunks(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = vec![0f64; d];
    for row in data.x.chunks(d) {
        for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (f64::from(v) - m).powi(2);
        }
    }
    let scale = var
        .iter()
        .map(|s| {
            let sd = (s / n as f64).sqrt();
            if sd > 1e-12 { (1.0 / sd) as f32 } else { 1.0 }
        })
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), scale)
}

fn standardise(x: &[f32], mean: &[f32], scale: &[f32]) -> Vec<f32> {
    let d = mean.len();
    x.chunks(d)
        .flat_map(|row| {
            row.iter()
                .zip(mean)
                .zip(scale)
                .map(|((v, m), s)| (v - m) * s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Rows whose features are a noisy one-hot of each digit (readable), or pure noise.
    fn data(rows: usize, readable: bool, seed: u64) -> Dataset {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let digits = 2;
        let dim = digits * 10 + 5;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..rows {
            let code: Vec<u8> = (0..digits).map(|_| rng.random_range(0..10)).collect();
            let mut row: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            if readable {
                for (j, &c) in code.iter().enumerate() {
                    row[j * 10 + c as usize] += 3.0;
                }
            }
            x.extend(row);
            y.extend(code);
        }
        Dataset { x, y, dim, digits }
    }

    #[test]
    fn reads_a_linearly_written_code_and_not_noise() {
        let readable = evaluate(
            &data(300, true, 1),
            &data(100, true, 2),
            &data(200, true, 3),
        )
        .unwrap();
        assert!(
            readable.test.accuracy() > 0.9,
            "readable: {:?}",
            readable.test
        );
        let noise = evaluate(
            &data(300, false, 1),
            &data(100, false, 2),
            &data(200, false, 3),
        )
        .unwrap();
        // Chance is 10%; 400 digits put a 95% interval near ±3 points around it.
        assert!(noise.test.accuracy() < 0.17, "noise: {:?}", noise.test);
        assert_eq!(noise.test.total, 400);
    }

    #[test]
    fn select_keeps_rows_and_labels_together() {
        let d = data(5, true, 4);
        let s = d.select(&[3, 1]);
        assert_eq!(s.rows(), 2);
        assert_eq!(&s.x[..d.dim], &d.x[3 * d.dim..4 * d.dim]);
        assert_eq!(&s.y[2..], &d.y[2..4]);
    }
}
