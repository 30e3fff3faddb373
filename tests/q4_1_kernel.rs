//! Our Q4_1 kernel against candle-core's quantized matmul and Q8_1 quantizer, on random data.
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use memento::model::q4_1::{Q4_1Matrix, quantize_q8_1};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Roughly normal(0, 1) (sum of 4 uniforms), so blocks have varied ranges and mins.
    fn normal(&mut self) -> f32 {
        (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .sum::<f32>()
            * 1.7
    }
    fn vec(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| self.normal() * scale).collect()
    }
}

const SHAPES: [(usize, usize); 5] = [
    (576, 576),
    (192, 576),
    (1536, 576),
    (576, 1536),
    (49152, 576),
];
const MS: [usize; 4] = [1, 3, 7, 64];

/// (max elementwise |a-b|/max(|b|,1e-3), max |a-b| / max|row of b|)
fn errors(a: &[f32], b: &[f32], n: usize) -> (f64, f64) {
    let (mut el, mut row) = (0f64, 0f64);
    for (ra, rb) in a.chunks(n).zip(b.chunks(n)) {
        let rmax = rb.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3) as f64;
        for (&x, &y) in ra.iter().zip(rb) {
            let d = (x as f64 - y as f64).abs();
            el = el.max(d / (y.abs() as f64).max(1e-3));
            row = row.max(d / rmax);
        }
    }
    (el, row)
}

#[test]
fn matmul_matches_candle_qmatmul() {
    let dev = Device::Cpu;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut worst_row = 0f64;
    for &(n, k) in &SHAPES {
        let w = rng.vec(n * k, 0.05);
        let wt = Tensor::from_vec(w, (n, k), &dev).unwrap();
        let qt = QTensor::quantize(&wt, GgmlDType::Q4_1).unwrap();
        let ours = Q4_1Matrix::from_gguf_bytes(&qt.data().unwrap(), n, k).unwrap();
        let qmm = QMatMul::from_qtensor(qt).unwrap();
        for &m in &MS {
            let x = rng.vec(m * k, 1.0);
            let xt = Tensor::from_vec(x.clone(), (m, k), &dev).unwrap();
            let want: Vec<f32> = qmm
                .forward(&xt)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let mut got = vec![f32::NAN; m * n];
            ours.matmul(&x, m, &mut got);
            let mut got1 = vec![f32::NAN; m * n];
            ours.matmul_sequential(&x, m, &mut got1);
            assert_eq!(
                got, got1,
                "threaded and sequential results differ ({n},{k}) m={m}"
            );
            let (el, row) = errors(&got, &want, n);
            println!(
                "n={n:5} k={k:4} m={m:2}: max rel err {el:.2e} (elementwise, |b|>=1e-3), {row:.2e} (vs row max)"
            );
            assert!(row <= 1e-5, "({n},{k}) m={m}: row-relative error {row:e}");
            worst_row = worst_row.max(row);
            if m <= 3 && n <= 1536 {
                let mut port = vec![0f32; m * n];
                ours.matmul_portable(&x, m, &mut port);
                let (_, prow) = errors(&port, &want, n);
                assert!(prow <= 1e-5, "portable ({n},{k}) m={m}: {prow:e}");
            }
        }
    }
    println!("worst row-relative error: {worst_row:.2e}");
}

#[test]
fn q8_1_quantization_is_bit_identical_to_candle() {
    let dev = Device::Cpu;
    let mut rng = Rng(7);
    for scale in [1e-6f32, 0.01, 1.0, 300.0] {
        let x = rng.vec(64 * 1536, scale);
        let xt = Tensor::from_vec(x.clone(), (64, 1536), &dev).unwrap();
        let want = QTensor::quantize(&xt, GgmlDType::Q8_1)
            .unwrap()
            .data()
            .unwrap()
            .into_owned();
        assert_eq!(quantize_q8_1(&x), want, "scale {scale}");
    }
}

#[test]
fn bad_bytes_are_errors() {
    let dev = Device::Cpu;
    let wt = Tensor::zeros((8, 64), candle_core::DType::F32, &dev).unwrap();
    let qt = QTensor::quantize(&wt, GgmlDType::Q4_1).unwrap();
    let data = qt.data().unwrap();
    assert!(Q4_1Matrix::from_gguf_bytes(&data, 8, 64).is_ok());
    assert!(Q4_1Matrix::from_gguf_bytes(&data[1..], 8, 64).is_err());
    assert!(Q4_1Matrix::from_gguf_bytes(&data, 8, 32).is_err());
    assert!(Q4_1Matrix::from_gguf_bytes(&data, 8, 48).is_err());
}
