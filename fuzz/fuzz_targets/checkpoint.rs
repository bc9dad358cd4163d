//! Checkpoint files (resumable transfers): no panic on any file; a file that parses is used only
//! within its plan (see `ossguard::transfer::fuzz_checkpoint`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ossguard::transfer::fuzz_checkpoint(data);
});
