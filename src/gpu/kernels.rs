//! Launchers for `kernels/paged_kv.cu` (built to PTX by build.rs, loaded by the driver on first
//! use through candle's device). Each takes candle CUDA storages whose shapes the calling op has
//! already checked, and picks the kernel for their type: f32, f16 or bf16.

use candle_core::backend::BackendStorage;
use candle_core::cuda::cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};
use candle_core::cuda::{CudaDType, WrapErr};
use candle_core::{CudaDevice, CudaStorage, DType, Layout, Result, bail};
use half::{bf16, f16};

use crate::kv::StepSlots;
use crate::model::PagedAttention;

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/paged_kv.ptx"));
const MODULE: &str = "memento_paged_kv";
/// Threads per attention block: 32 × `WARPS` in paged_kv.cu.
const ATTENTION_THREADS: u32 = 128;
use super::{HEAD_DIMS, MAX_GROUP, part_keys};

/// A u32 array on the device: per-step metadata uploaded once and read by every layer's
/// kernels (one upload per step, not one per layer and kernel).
pub struct DeviceU32(CudaSlice<u32>);

impl DeviceU32 {
    pub fn upload(values: &[u32], dev: &CudaDevice) -> Result<DeviceU32> {
        // An empty upload is not an allocation cudarc makes; keep one element.
        let values = if values.is_empty() {
            &[0u32][..]
        } else {
            values
        };
        Ok(DeviceU32(dev.clone_htod(values)?))
    }
}

impl std::fmt::Debug for DeviceU32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceU32({} values)", self.0.len())
    }
}

/// A step's page tables, lengths, query starts and row→sequence map on the device.
#[derive(Debug)]
pub struct AttentionMeta {
    tables: DeviceU32,
    lens: DeviceU32,
    starts: DeviceU32,
    row_seq: DeviceU32,
}

impl AttentionMeta {
    pub fn upload(op: &PagedAttention, dev: &CudaDevice) -> Result<AttentionMeta> {
        Ok(AttentionMeta {
            tables: DeviceU32::upload(&op.block_tables, dev)?,
            lens: DeviceU32::upload(&op.seq_lens, dev)?,
            starts: DeviceU32::upload(&op.q_starts, dev)?,
            row_seq: DeviceU32::upload(&op.row_sequences(), dev)?,
        })
    }
}

/// Call `$f::<T>($args)` with T the Rust type of `$dtype` (f32, f16 or bf16).
macro_rules! by_dtype {
    ($what:literal, $dtype:expr, $f:ident($($arg:expr),*)) => {
        match $dtype {
            DType::F32 => $f::<f32>($($arg),*),
            DType::F16 => $f::<f16>($($arg),*),
            DType::BF16 => $f::<bf16>($($arg),*),
            other => bail!("{}: {other:?} is not a KV type", $what),
        }
    };
}

fn suffix(dtype: DType) -> Result<&'static str> {
    match dtype {
        DType::F32 => Ok("f32"),
        DType::F16 => Ok("f16"),
        DType::BF16 => Ok("bf16"),
        other => bail!("the paged KV kernels take f32, f16 or bf16, not {other:?}"),
    }
}

/// A grid-stride launch over `n` elements.
fn elementwise(n: usize) -> LaunchConfig {
    let threads = 256u32;
    let blocks = n.div_ceil(threads as usize).clamp(1, 65_535) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Write `slots.len()` rows of `row` values from `source` (from element `source_offset`) into
/// `target`'s `slots`, the layer starting at element `offset`.
pub fn kv_write(
    target: &mut CudaStorage,
    offset: usize,
    source: &CudaStorage,
    source_offset: usize,
    slots: &StepSlots,
    row: usize,
) -> Result<()> {
    if target.dtype() != source.dtype() {
        bail!(
            "kv_write: target {:?} but source {:?}",
            target.dtype(),
            source.dtype()
        )
    }
    by_dtype!(
        "kv_write",
        target.dtype(),
        write_typed(target, offset, source, source_offset, slots, row)
    )
}

fn write_typed<T: CudaDType + DeviceRepr>(
    target: &mut CudaStorage,
    offset: usize,
    source: &CudaStorage,
    source_offset: usize,
    slots: &StepSlots,
    row: usize,
) -> Result<()> {
    if slots.is_empty() {
        return Ok(());
    }
    let dev = target.device.clone();
    let func = dev.get_or_load_custom_func(
        &format!("kv_write_{}", suffix(target.dtype())?),
        MODULE,
        PTX,
    )?;
    let uploaded;
    let slots_dev = match slots.on_device() {
        Some(d) => d,
        None => {
            uploaded = DeviceU32::upload(slots.as_slice(), &dev)?;
            &uploaded
        }
    };
    let slots_dev = &slots_dev.0;
    let src = source.as_cuda_slice::<T>()?.slice(source_offset..);
    let dst = target.as_cuda_slice_mut::<T>()?;
    let (n, row32) = (slots.len() as u32, row as u32);
    let mut launch = func.builder();
    launch.arg(dst);
    launch.arg(&offset);
    launch.arg(&src);
    launch.arg(slots_dev);
    launch.arg(&n);
    launch.arg(&row32);
    // SAFETY: the argument list matches kv_write_* in paged_kv.cu; the op checked that every
    // slot lies in the target and that the source holds slots.len() rows of `row`.
    unsafe { launch.launch(elementwise(slots.len() * row)) }.w()?;
    Ok(())
}

/// Copy each (from, to) slot pair of `moves` (flat) in every layer of a `(layers, slots, row)`
/// pool starting at element `offset`.
pub fn kv_copy_slots(
    storage: &mut CudaStorage,
    offset: usize,
    moves: &[u32],
    layers: usize,
    slots: usize,
    row: usize,
) -> Result<()> {
    by_dtype!(
        "kv_copy_slots",
        storage.dtype(),
        copy_typed(storage, offset, moves, layers, slots, row)
    )
}

fn copy_typed<T: CudaDType + DeviceRepr>(
    storage: &mut CudaStorage,
    offset: usize,
    moves: &[u32],
    layers: usize,
    slots: usize,
    row: usize,
) -> Result<()> {
    let pairs = moves.len() / 2;
    if pairs == 0 {
        return Ok(());
    }
    let dev = storage.device.clone();
    let func = dev.get_or_load_custom_func(
        &format!("kv_copy_slots_{}", suffix(storage.dtype())?),
        MODULE,
        PTX,
    )?;
    let moves_dev = dev.clone_htod(moves)?;
    let mut cache = storage.as_cuda_slice_mut::<T>()?.slice_mut(offset..);
    let (n, row32, layers32, stride) = (pairs as u32, row as u32, layers as u32, slots * row);
    let mut launch = func.builder();
    launch.arg(&mut cache);
    launch.arg(&moves_dev);
    launch.arg(&n);
    launch.arg(&row32);
    launch.arg(&layers32);
    launch.arg(&stride);
    // SAFETY: matches kv_copy_slots_* in paged_kv.cu; every slot was checked against the pool,
    // and no slot is both a source and a destination (SlotCopy::new).
    unsafe { launch.launch(elementwise(pairs * row * layers)) }.w()?;
    Ok(())
}

/// Run `op` on the device: the partition kernel, then the merge. Returns the output storage,
/// shaped as q.
#[allow(clippy::too_many_arguments)]
pub fn paged_attention(
    op: &PagedAttention,
    slots: usize,
    q: &CudaStorage,
    ql: &Layout,
    k: &CudaStorage,
    kl: &Layout,
    v: &CudaStorage,
    vl: &Layout,
) -> Result<CudaStorage> {
    if q.dtype() != k.dtype() || k.dtype() != v.dtype() {
        bail!(
            "paged attention: q {:?} but a pool of {:?}",
            q.dtype(),
            k.dtype()
        )
    }
    if !HEAD_DIMS.contains(&op.head_dim) {
        bail!(
            "paged attention on the GPU is built for head dims {HEAD_DIMS:?}, not {}",
            op.head_dim
        )
    }
    if op.heads / op.kv_heads > MAX_GROUP {
        bail!(
            "paged attention on the GPU serves up to {MAX_GROUP} query heads per KV head, not {}",
            op.heads / op.kv_heads
        )
    }
    by_dtype!(
        "paged attention",
        q.dtype(),
        attention_typed(op, slots, q, ql, k, kl, v, vl)
    )
}

#[allow(clippy::too_many_arguments)]
fn attention_typed<T: CudaDType + DeviceRepr>(
    op: &PagedAttention,
    slots: usize,
    q: &CudaStorage,
    ql: &Layout,
    k: &CudaStorage,
    kl: &Layout,
    v: &CudaStorage,
    vl: &Layout,
) -> Result<CudaStorage> {
    let dev: CudaDevice = q.device.clone();
    let name = suffix(q.dtype())?;
    let d = op.head_dim;
    let rows = op.rows();
    if rows == 0 {
        bail!("paged attention with no query rows")
    }
    let longest = op.seq_lens.iter().copied().max().unwrap_or(1) as usize;
    let keys = part_keys(rows, op.kv_heads, longest);
    let parts = longest.div_ceil(keys).max(1);
    let items = rows * op.heads;
    let part_fn =
        dev.get_or_load_custom_func(&format!("paged_attention_part_{name}_{d}"), MODULE, PTX)?;
    let reduce_fn =
        dev.get_or_load_custom_func(&format!("paged_attention_reduce_{name}_{d}"), MODULE, PTX)?;
    let uploaded;
    let meta = match op.meta() {
        Some(m) => m,
        None => {
            uploaded = AttentionMeta::upload(op, &dev)?;
            &uploaded
        }
    };
    let (tables, lens, starts, row_seq) = (
        &meta.tables.0,
        &meta.lens.0,
        &meta.starts.0,
        &meta.row_seq.0,
    );
    // SAFETY: every element of the three partial buffers is written by the partition kernel
    // (an empty partition writes max −inf, sum 0, values 0) before the merge reads it.
    let part_max: CudaSlice<f32> = unsafe { dev.alloc::<f32>(items * parts) }?;
    let part_sum: CudaSlice<f32> = unsafe { dev.alloc::<f32>(items * parts) }?;
    let part_acc: CudaSlice<f32> = unsafe { dev.alloc::<f32>(items * parts * d) }?;
    // SAFETY: the merge writes every output element.
    let out: CudaSlice<T> = unsafe { dev.alloc::<T>(items * d) }?;

    let span = slots * op.kv_heads * d;
    let q_view = q.as_cuda_slice::<T>()?.slice(ql.start_offset()..);
    let k_view = k.as_cuda_slice::<T>()?.slice(kl.start_offset()..);
    let v_view = v.as_cuda_slice::<T>()?.slice(vl.start_offset()..);
    let cache_offset = op.layer * span;
    let (max_pages, heads, kv_heads, page_tokens, parts32) = (
        op.max_pages as u32,
        op.heads as u32,
        op.kv_heads as u32,
        op.page_tokens as u32,
        parts as u32,
    );
    let mut launch = part_fn.builder();
    launch.arg(&q_view);
    launch.arg(&k_view);
    launch.arg(&v_view);
    launch.arg(&cache_offset);
    launch.arg(tables);
    launch.arg(&max_pages);
    launch.arg(lens);
    launch.arg(starts);
    launch.arg(row_seq);
    launch.arg(&heads);
    launch.arg(&kv_heads);
    launch.arg(&page_tokens);
    launch.arg(&op.scale);
    let keys32 = keys as u32;
    launch.arg(&keys32);
    launch.arg(&parts32);
    launch.arg(&part_max);
    launch.arg(&part_sum);
    launch.arg(&part_acc);
    let grid = LaunchConfig {
        grid_dim: (rows as u32, op.kv_heads as u32, parts as u32),
        block_dim: (ATTENTION_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: matches paged_attention_part_* in paged_kv.cu; the op checked every page id
    // against the pool and every length against its pages.
    unsafe { launch.launch(grid) }.w()?;

    let mut launch = reduce_fn.builder();
    launch.arg(&part_max);
    launch.arg(&part_sum);
    launch.arg(&part_acc);
    launch.arg(&parts32);
    launch.arg(&out);
    let grid = LaunchConfig {
        grid_dim: (items as u32, 1, 1),
        block_dim: (d as u32, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: matches paged_attention_reduce_* in paged_kv.cu.
    unsafe { launch.launch(grid) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev))
}
