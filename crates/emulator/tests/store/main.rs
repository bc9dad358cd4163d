//! Integration tests of the durable store. Everything runs against a fresh temp folder.

mod append;
mod buckets;
mod common;
mod concurrency;
mod crash;
mod keys;
mod listing;
mod multipart;
mod objects;
mod segments;
