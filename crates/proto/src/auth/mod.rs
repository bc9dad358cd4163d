//! Request signing (V1, V4, presigned URLs, STS tokens) and its server-side verification.

pub mod credentials;
pub mod header;
pub mod presign;
pub mod v1;
pub mod v4;
pub mod verify;

pub use credentials::{Credentials, Secret};
