//! The GPU path: which device runs a model ([`DeviceChoice`]), and, in a build with the `cuda`
//! feature, the launchers of our own paged-KV kernels (`kernels/paged_kv.cu`).
//!
//! The kernels are reached through candle custom ops ([`crate::kv::DeviceRows`]'s writes and
//! slot copies, [`crate::model::PagedAttention`]), whose CPU halves run the same layout on the
//! CPU: the reference each kernel is checked against, and what CPU builds test.

mod choice;
#[cfg(feature = "cuda")]
pub(crate) mod kernels;

pub use choice::{DeviceChoice, describe_device};
