//! OSS-compatible emulator (`ossguard serve`).
//!
//! So far: [`store`], the durable on-disk object store the HTTP layer sits on.
#![forbid(unsafe_code)]

pub mod server;
pub mod store;
