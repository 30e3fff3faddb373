//! KV accounting: model shapes, the eviction policy, and the one accountant that applies it.

mod accountant;
mod policy;
mod shape;
mod simulate;
mod store;

pub use accountant::{Eviction, EvictionReason, KvAccountant, KvReading};
pub use policy::KvPolicy;
pub use shape::{KvDtype, KvShape, SlidingWindow};
pub use simulate::{KvSeries, simulate, step_index};
pub use store::{KvMemory, KvStore, Rerotate};
