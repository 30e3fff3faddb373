//! A paged pool's K and V rows held as candle tensors on a device: the storage of the GPU path
//! ([`crate::gpu`]), in the same layout as the host rows ([`super::KvRows`]): per layer, one
//! row of `kv_heads × head_dim` values per physical slot, slot = page × page_tokens + offset.
//!
//! The two writes the pool needs are custom ops: [`KvWrite`] puts new rows into their slots,
//! [`SlotCopy`] moves an eviction's tail slots into the holes of its edge pages, every layer at
//! once. Each has a CPU half (the reference, and what CPU builds run) and, with the `cuda`
//! feature, a CUDA half (`kernels/paged_kv.cu`).

use candle_core::{
    CpuStorage, DType, Device, InplaceOp1, InplaceOp2, Layout, Tensor, WithDType, bail,
};

use super::KvDtype;

/// K and V for every layer and physical slot: two `(layers, slots, row)` tensors.
#[derive(Debug)]
pub struct DeviceRows {
    keys: Tensor,
    values: Tensor,
    layers: usize,
    row: usize,
}

/// A clone owns its own rows (a tensor's clone would share the storage the ops write into).
impl Clone for DeviceRows {
    fn clone(&self) -> DeviceRows {
        let copy = |t: &Tensor| t.copy().expect("copying a KV pool on its own device");
        DeviceRows {
            keys: copy(&self.keys),
            values: copy(&self.values),
            layers: self.layers,
            row: self.row,
        }
    }
}

impl DeviceRows {
    /// Zeroed rows for `slots` slots on `device`, in `dtype` (f32, f16 or bf16).
    pub fn new(
        device: &Device,
        dtype: KvDtype,
        layers: usize,
        slots: usize,
        row: usize,
    ) -> Result<DeviceRows, String> {
        let dtype = tensor_dtype(dtype)?;
        let zeros = || {
            Tensor::zeros((layers, slots, row), dtype, device).map_err(|e| {
                format!(
                    "cannot allocate a KV pool of {slots} slots on {device:?}: {}",
                    crate::model::candle_message(&e)
                )
            })
        };
        Ok(DeviceRows {
            keys: zeros()?,
            values: zeros()?,
            layers,
            row,
        })
    }

    pub fn keys(&self) -> &Tensor {
        &self.keys
    }

    pub fn values(&self) -> &Tensor {
        &self.values
    }

    pub fn device(&self) -> &Device {
        self.keys.device()
    }

    pub fn dtype(&self) -> DType {
        self.keys.dtype()
    }

    pub fn slots(&self) -> usize {
        self.keys.dim(1).unwrap_or(0)
    }

    /// Make room for `slots` slots; the existing rows keep their slots.
    pub fn grow(&mut self, slots: usize) -> candle_core::Result<()> {
        let have = self.slots();
        if slots <= have {
            return Ok(());
        }
        let extra = Tensor::zeros(
            (self.layers, slots - have, self.row),
            self.dtype(),
            self.device(),
        )?;
        // Both or neither: a failure (out of memory) leaves the pool as it was.
        let keys = Tensor::cat(&[&self.keys, &extra], 1)?;
        let values = Tensor::cat(&[&self.values, &extra], 1)?;
        (self.keys, self.values) = (keys, values);
        Ok(())
    }

    /// Write `layer`'s new K and V rows (`(n, row)` each, any float type) into `slots`.
    pub fn write(
        &self,
        layer: usize,
        slots: &[u32],
        k: &Tensor,
        v: &Tensor,
    ) -> candle_core::Result<()> {
        let slots = StepSlots::new(slots.to_vec(), self.device())?;
        self.write_step(layer, &slots, k, v)
    }

    /// [`DeviceRows::write`] with slots already on the device: a forward pass uploads its
    /// step's slots once for all its layers.
    pub fn write_step(
        &self,
        layer: usize,
        slots: &StepSlots,
        k: &Tensor,
        v: &Tensor,
    ) -> candle_core::Result<()> {
        // Nothing to launch (and a CUDA launch of zero blocks is an error).
        if slots.is_empty() {
            return Ok(());
        }
        let op = KvWrite { layer, slots };
        self.keys
            .inplace_op2(&k.to_dtype(self.dtype())?.contiguous()?, &op)?;
        self.values
            .inplace_op2(&v.to_dtype(self.dtype())?.contiguous()?, &op)
    }

    /// Copy each `(from, to)` slot, K and V of every layer. No slot may be both a source and a
    /// destination (an eviction's moves never are: tail slots go to holes).
    pub fn copy_slots(&self, moves: &[(u32, u32)]) -> candle_core::Result<()> {
        if moves.is_empty() {
            return Ok(());
        }
        let op = SlotCopy::new(moves)?;
        self.keys.inplace_op1(&op)?;
        self.values.inplace_op1(&op)
    }

    /// `layer`'s K and V rows of `slots`, as f32 (`slots.len() × row` each).
    pub fn read(&self, layer: usize, slots: &[u32]) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
        if slots.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let index = Tensor::new(slots, self.device())?;
        let read = |t: &Tensor| -> candle_core::Result<Vec<f32>> {
            t.get(layer)?
                .index_select(&index, 0)?
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()
        };
        Ok((read(&self.keys)?, read(&self.values)?))
    }
}

/// The tensor type a KV storage type is held in on a device.
pub fn tensor_dtype(dtype: KvDtype) -> Result<DType, String> {
    match dtype {
        KvDtype::F32 => Ok(DType::F32),
        KvDtype::F16 => Ok(DType::F16),
        KvDtype::Bf16 => Ok(DType::BF16),
        KvDtype::Q8 => Err("q8_0 KV is a CPU storage type; on a GPU use f16, bf16 or f32".into()),
    }
}

/// The slots one step writes, on the host and (on a GPU) on the device.
#[derive(Debug)]
pub struct StepSlots {
    slots: Vec<u32>,
    #[cfg(feature = "cuda")]
    device: Option<crate::gpu::kernels::DeviceU32>,
}

impl StepSlots {
    /// `slots`, uploaded once when `device` is a GPU.
    pub fn new(slots: Vec<u32>, device: &Device) -> candle_core::Result<StepSlots> {
        #[cfg(feature = "cuda")]
        let uploaded = match device {
            Device::Cuda(d) => Some(crate::gpu::kernels::DeviceU32::upload(&slots, d)?),
            _ => None,
        };
        #[cfg(not(feature = "cuda"))]
        let _ = device;
        Ok(StepSlots {
            slots,
            #[cfg(feature = "cuda")]
            device: uploaded,
        })
    }

    pub fn as_slice(&self) -> &[u32] {
        &self.slots
    }

    /// The slots on the GPU, when they were uploaded.
    #[cfg(feature = "cuda")]
    pub(crate) fn on_device(&self) -> Option<&crate::gpu::kernels::DeviceU32> {
        self.device.as_ref()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Writes new rows into a layer's slots: target `(layers, slots, row)`, source `(n, row)` of the
/// same type, `slots[i]` the slot of source row i.
pub struct KvWrite<'a> {
    pub layer: usize,
    pub slots: &'a StepSlots,
}

impl KvWrite<'_> {
    /// (slots, row) of the target, checked against the source and the slot list.
    fn check(&self, target: &Layout, source: &Layout) -> candle_core::Result<(usize, usize)> {
        let (layers, slots, row) = target.shape().dims3()?;
        let (n, source_row) = source.shape().dims2()?;
        if !target.is_contiguous() || !source.is_contiguous() {
            bail!("kv_write needs contiguous tensors")
        }
        if source_row != row || n != self.slots.len() || self.layer >= layers {
            bail!(
                "kv_write: {n} rows of {source_row} for {} slots of {row} in layer {} of {layers}",
                self.slots.len(),
                self.layer
            )
        }
        if let Some(&bad) = self.slots.as_slice().iter().find(|&&s| s as usize >= slots) {
            bail!("kv_write: slot {bad} outside a pool of {slots} slots")
        }
        Ok((slots, row))
    }
}

impl InplaceOp2 for KvWrite<'_> {
    fn name(&self) -> &'static str {
        "kv-write"
    }

    fn cpu_fwd(
        &self,
        target: &mut CpuStorage,
        tl: &Layout,
        source: &CpuStorage,
        sl: &Layout,
    ) -> candle_core::Result<()> {
        let (slots, row) = self.check(tl, sl)?;
        let base = tl.start_offset() + self.layer * slots * row;
        fn put<T: Copy>(t: &mut [T], s: &[T], slots: &[u32], base: usize, row: usize) {
            for (i, &slot) in slots.iter().enumerate() {
                let at = base + slot as usize * row;
                t[at..at + row].copy_from_slice(&s[i * row..(i + 1) * row]);
            }
        }
        let from = sl.start_offset();
        match (target, source) {
            (CpuStorage::F32(t), CpuStorage::F32(s)) => {
                put(t, &s[from..], self.slots.as_slice(), base, row)
            }
            (CpuStorage::F16(t), CpuStorage::F16(s)) => {
                put(t, &s[from..], self.slots.as_slice(), base, row)
            }
            (CpuStorage::BF16(t), CpuStorage::BF16(s)) => {
                put(t, &s[from..], self.slots.as_slice(), base, row)
            }
            _ => bail!("kv_write: the target and source types differ or are not f32/f16/bf16"),
        }
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        target: &mut candle_core::CudaStorage,
        tl: &Layout,
        source: &candle_core::CudaStorage,
        sl: &Layout,
    ) -> candle_core::Result<()> {
        let (slots, row) = self.check(tl, sl)?;
        let offset = tl.start_offset() + self.layer * slots * row;
        crate::gpu::kernels::kv_write(target, offset, source, sl.start_offset(), self.slots, row)
    }
}

/// Copies whole slots within every layer of a `(layers, slots, row)` tensor.
pub struct SlotCopy {
    /// `from, to` pairs, flat.
    pub moves: Vec<u32>,
}

impl SlotCopy {
    /// Refuses a slot that is both a source and a destination: the copies run at once.
    pub fn new(moves: &[(u32, u32)]) -> candle_core::Result<SlotCopy> {
        let sources: std::collections::HashSet<u32> = moves.iter().map(|m| m.0).collect();
        if let Some(m) = moves.iter().find(|m| sources.contains(&m.1)) {
            bail!("slot copy: slot {} is both a source and a destination", m.1)
        }
        Ok(SlotCopy {
            moves: moves.iter().flat_map(|&(f, t)| [f, t]).collect(),
        })
    }

    fn check(&self, l: &Layout) -> candle_core::Result<(usize, usize, usize)> {
        let (layers, slots, row) = l.shape().dims3()?;
        if !l.is_contiguous() {
            bail!("slot copy needs a contiguous pool")
        }
        if let Some(&bad) = self.moves.iter().find(|&&s| s as usize >= slots) {
            bail!("slot copy: slot {bad} outside a pool of {slots} slots")
        }
        Ok((layers, slots, row))
    }
}

impl InplaceOp1 for SlotCopy {
    fn name(&self) -> &'static str {
        "kv-slot-copy"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, l: &Layout) -> candle_core::Result<()> {
        let (layers, slots, row) = self.check(l)?;
        fn copy<T: WithDType>(v: &mut [T], moves: &[u32], layers: usize, slots: usize, row: usize) {
            for layer in 0..layers {
                let base = layer * slots * row;
                for m in moves.chunks_exact(2) {
                    let (from, to) = (base + m[0] as usize * row, base + m[1] as usize * row);
                    v.copy_within(from..from + row, to);
                }
            }
        }
        let at = l.start_offset();
        match storage {
            CpuStorage::F32(v) => copy(&mut v[at..], &self.moves, layers, slots, row),
            CpuStorage::F16(v) => copy(&mut v[at..], &self.moves, layers, slots, row),
            CpuStorage::BF16(v) => copy(&mut v[at..], &self.moves, layers, slots, row),
            _ => bail!("slot copy: the pool is not f32/f16/bf16"),
        }
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &mut candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<()> {
        let (layers, slots, row) = self.check(l)?;
        crate::gpu::kernels::kv_copy_slots(
            storage,
            l.start_offset(),
            &self.moves,
            layers,
            slots,
            row,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize, row: usize, from: f32) -> Tensor {
        let v: Vec<f32> = (0..n * row).map(|i| from + i as f32).collect();
        Tensor::from_vec(v, (n, row), &Device::Cpu).unwrap()
    }

    #[test]
    fn writes_land_in_their_slots_of_their_layer() {
        for dtype in [KvDtype::F32, KvDtype::F16, KvDtype::Bf16] {
            let rows = DeviceRows::new(&Device::Cpu, dtype, 2, 8, 4).unwrap();
            rows.write(1, &[5, 2], &ramp(2, 4, 1.0), &ramp(2, 4, 100.0))
                .unwrap();
            let (k, v) = rows.read(1, &[2, 5, 0]).unwrap();
            assert_eq!(k, [5., 6., 7., 8., 1., 2., 3., 4., 0., 0., 0., 0.]);
            assert_eq!(v[..4], [104., 105., 106., 107.]);
            let (k0, _) = rows.read(0, &[2, 5]).unwrap();
            assert!(k0.iter().all(|&x| x == 0.0), "layer 0 untouched");
        }
    }

    #[test]
    fn slot_copies_move_every_layer_and_refuse_chains() {
        let rows = DeviceRows::new(&Device::Cpu, KvDtype::F16, 3, 8, 2).unwrap();
        for layer in 0..3 {
            let k = ramp(2, 2, 10.0 * layer as f32);
            rows.write(layer, &[6, 7], &k, &k).unwrap();
        }
        rows.copy_slots(&[(6, 1), (7, 3)]).unwrap();
        for layer in 0..3 {
            let (k, v) = rows.read(layer, &[1, 3]).unwrap();
            let base = 10.0 * layer as f32;
            assert_eq!(k, [base, base + 1., base + 2., base + 3.]);
            assert_eq!(k, v);
        }
        let e = rows.copy_slots(&[(6, 1), (1, 2)]).unwrap_err().to_string();
        assert!(e.contains("both a source and a destination"), "{e}");
        let e = rows.copy_slots(&[(6, 9)]).unwrap_err().to_string();
        assert!(e.contains("outside a pool of 8 slots"), "{e}");
    }

    #[test]
    fn growing_keeps_rows_and_q8_is_refused() {
        let mut rows = DeviceRows::new(&Device::Cpu, KvDtype::F32, 1, 2, 2).unwrap();
        rows.write(0, &[1], &ramp(1, 2, 3.0), &ramp(1, 2, 3.0))
            .unwrap();
        rows.grow(6).unwrap();
        assert_eq!(rows.slots(), 6);
        assert_eq!(rows.read(0, &[1, 5]).unwrap().0, [3., 4., 0., 0.]);
        let e = DeviceRows::new(&Device::Cpu, KvDtype::Q8, 1, 2, 32).unwrap_err();
        assert!(e.contains("q8_0"), "{e}");
    }
}
