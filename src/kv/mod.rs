//! KV accounting: model shapes, the eviction policy, the one accountant that applies it, the
//! KV store, and the paged pool's bookkeeping.

mod accountant;
pub mod pages;
mod policy;
mod shape;
mod simulate;
mod store;

pub use accountant::{Eviction, EvictionReason, KvAccountant, KvReading};
pub use policy::KvPolicy;
pub use shape::{KvDtype, KvShape, SlidingWindow};
pub use simulate::{KvSeries, simulate, step_index};
pub use store::{KvMemory, KvStore, Rerotate};
