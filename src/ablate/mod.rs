//! The dual-stream ablation lab (`memento ablate`): how much a memento's KV entries carry
//! beyond its text. One memento-mode stream per problem is teacher-forced through several KV
//! arms (full, memento, restart, keep-N) and compared position by position; every arm also
//! answers freely; the memento arm's memento KV is compared layer by layer with the restart
//! arm's recomputed one.

pub mod answer;
pub mod arms;
pub mod channel;
pub mod figures;
pub mod forced;
pub mod lab;
pub mod metrics;
pub mod plots;
pub mod probe;
pub mod problems;
pub mod report;
pub mod results;
pub mod stream;
pub mod summary;
pub mod tables;

pub use arms::Arm;
pub use lab::{Lab, LabConfig, LabError};
pub use problems::{Problem, ProblemsError};
pub use results::{ResultDir, Results};
