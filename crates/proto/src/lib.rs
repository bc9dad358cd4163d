//! Sans-IO core of the Alibaba Cloud OSS protocol.
//!
//! Everything here is a pure function or plain data: no sockets, no clock, no randomness.
//! Callers pass the current time in, so every signature and check is reproducible in tests.
#![forbid(unsafe_code)]

pub mod addressing;
pub mod auth;
pub mod crc64;
pub mod encoding;
pub mod error;
pub mod ops;
pub mod range;
pub mod request;
pub mod time;
pub mod xml;

pub use auth::Credentials;
pub use ops::Operation;
pub use request::{AddressingStyle, Request};
