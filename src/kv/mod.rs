//! KV accounting: model shapes, the eviction policy, the one accountant that applies it, the
//! paged KV pool (bookkeeping, typed rows, per-sequence caches) and one run's store over it.

mod accountant;
mod device_rows;
pub mod pages;
mod policy;
mod pool;
mod rows;
mod shape;
mod simulate;
mod store;

pub use accountant::{Eviction, EvictionReason, KvAccountant, KvReading};
pub use device_rows::{DeviceRows, KvWrite, SlotCopy, StepSlots, tensor_dtype};
pub use policy::KvPolicy;
pub use pool::{DtypeScope, KvMemory, KvPlacement, KvPool, Rerotate, SeqCache};
pub use rows::{KvRows, Q8_BLOCK, row_bytes};
pub use shape::{KvDtype, KvShape, SlidingWindow};
pub use simulate::{KvSeries, simulate, step_index};
pub use store::KvStore;
