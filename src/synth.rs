//! A deterministic synthetic reasoning transcript: an arithmetic-series problem worked in
//! blocks, each closed by a terse memento, with the occasional fenced code block. The same
//! seed and settings always give the same text.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::import::{Locator, Transcript};
use crate::tokenize::estimate_run;
use crate::trace::{SourceInfo, SourceKind};

#[derive(Debug, Clone)]
pub struct SynthSettings {
    pub seed: u64,
    /// Approximate generated tokens (by the estimate rule).
    pub tokens: usize,
    /// Mean block length in estimated tokens.
    pub mean_block_tokens: usize,
}

impl Default for SynthSettings {
    fn default() -> Self {
        SynthSettings {
            seed: 1,
            tokens: 4000,
            mean_block_tokens: 400,
        }
    }
}

pub fn synthesize(settings: &SynthSettings) -> Transcript {
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let a: i64 = rng.random_range(2..40);
    let d: i64 = rng.random_range(2..12);
    let n: i64 = rng.random_range(200..2000);
    let total = n * (2 * a + (n - 1) * d) / 2;
    let problem = format!(
        "An arithmetic sequence starts at {a} and each term adds {d}. What is the sum of the first {n} terms?"
    );
    let mut response = String::from("<think>\n");
    let mut term = 0i64;
    let mut sum = 0i64;
    let mut block = 0usize;
    let mut tokens = 0usize;
    while tokens < settings.tokens {
        block += 1;
        let jitter = rng.random_range(0.5..1.5);
        let target = ((settings.mean_block_tokens as f64) * jitter) as usize;
        let first_term = term + 1;
        let sum_before = sum;
        let mut text = String::new();
        if block == 1 {
            text.push_str(&format!(
                "Okay, so the sequence is a_k = {a} + (k-1)*{d}. I will add the terms in order and keep a running sum. "
            ));
        } else {
            text.push_str(&format!(
                "Continuing from term {term}, where the running sum was {sum}. "
            ));
        }
        while estimate_run(text.chars().count()) < target {
            term += 1;
            let value = a + (term - 1) * d;
            sum += value;
            let sentence = match rng.random_range(0..10) {
                0 => format!(
                    "Wait, let me double-check term {term}: {a} + {}*{d} = {value}. Yes. ",
                    term - 1
                ),
                1 => format!(
                    "Hmm, the running sum after {term} terms should be {sum}; that matches. "
                ),
                2 if rng.random_bool(0.3) => format!(
                    "\n```python\na, d = {a}, {d}\nprint(sum(a + i*d for i in range({term})))  # {sum}\n```\n"
                ),
                3 => format!("Term {term} is {value}, so the sum becomes {sum}.\n"),
                _ => format!("Term {term} is {value}; the sum is now {sum}. "),
            };
            text.push_str(&sentence);
        }
        let block_sum = sum - sum_before;
        let memento = format!(
            "Setup: a_k = {a} + (k-1)*{d}, need S_{n}. Method: running sum term by term (closed form not used yet). \
             Added terms {first_term}..{term}: their sum = {block_sum}; a_{term} = {}; checked S_{term} = {sum} twice. \
             State: S_{term} = {sum}; next term a_{} = {}; {} terms left.",
            a + (term - 1) * d,
            term + 1,
            a + term * d,
            n - term,
        );
        response.push_str("<|block_start|>");
        response.push_str(text.trim_end());
        response.push_str("<|block_end|>\n<|summary_start|>");
        response.push_str(&memento);
        response.push_str("<|summary_end|>\n");
        tokens += estimate_run(text.trim_end().chars().count())
            + estimate_run(memento.chars().count())
            + 5;
    }
    response.push_str(&format!(
        "</think>\nUsing S_n = n(2a + (n-1)d)/2 with a = {a}, d = {d}, n = {n}: the sum is \\boxed{{{total}}}."
    ));
    Transcript::for_problem(
        Some(&problem),
        response,
        SourceInfo {
            kind: SourceKind::Synthetic,
            format: Some("arithmetic-series".into()),
            path: None,
            row: None,
            id: None,
            seed: Some(settings.seed),
            answer: Some(total.to_string()),
        },
        Locator::Field {
            path: "synthetic".into(),
            record: format!("seed {}", settings.seed),
            field: "response".into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_text_and_roughly_the_asked_length() {
        let s = SynthSettings {
            seed: 7,
            tokens: 3000,
            mean_block_tokens: 300,
        };
        let a = synthesize(&s);
        assert_eq!(a.response, synthesize(&s).response);
        let est: usize = crate::tokenize::estimate_pieces(&a.response).len();
        assert!((3000..4500).contains(&est), "{est}");
        assert_ne!(
            a.response,
            synthesize(&SynthSettings { seed: 8, ..s }).response
        );
    }
}
