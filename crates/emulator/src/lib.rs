//! OSS-compatible emulator (`ossguard serve`).
//!
//! [`store`] is the durable on-disk object store, [`server`] the OSS HTTP API over it, and
//! [`faults`] the HTTP-level fault injection around it (see `FAULTS.md`).
#![forbid(unsafe_code)]

pub mod faults;
pub mod server;
pub mod store;
