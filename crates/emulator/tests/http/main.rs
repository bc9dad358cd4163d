//! The emulator over real HTTP on 127.0.0.1: behaviour, bad input, auth.

mod client;
mod raw;
mod smoke;

// Bad input: the error OSS would return, never a 500, a panic or a file outside the data dir.
mod bad_auth;
mod bad_body;
mod bad_names;
mod bad_xml;

// Behaviour.
mod acl;
mod admin_auth;
mod bucket_config;
mod buckets;
mod copy_append;
mod copy_limits;
mod cors;
mod get_object;
mod listing;
mod logging;
mod metrics;
mod multipart;
mod sts;
mod tagging;
mod unsupported;
