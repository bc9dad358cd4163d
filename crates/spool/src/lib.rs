#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod error;
mod fsio;
mod model;
mod record;
mod recover;
mod replay;
mod spool;
mod target;

pub use error::SpoolError;
pub use model::{
    Conflict, ConflictReason, EntryState, Expect, Quarantined, RecoveryReport, ReplayError,
    ReplayReport, ReplayStop, Replayed, SpoolEntry, SpoolId, SpoolPut, SpoolStats,
};
pub use record::MAX_RECORD_BYTES;
pub use spool::{Spool, SpoolBody, SpoolOptions};
pub use target::{PutCondition, PutResult, ReplayBody, ReplayTarget, TargetError};
