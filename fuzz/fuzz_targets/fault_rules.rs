//! Fault-rule files (JSON or YAML): parse and validate without panicking; a valid
//! configuration installs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ossguard_emulator::faults::{FaultConfig, Faults};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = FaultConfig::parse(s) {
        if cfg.validate().is_ok() {
            Faults::new()
                .install(cfg)
                .expect("a validated configuration installs");
        }
    }
});
