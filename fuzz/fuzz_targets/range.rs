//! Range and Content-Range: no panic, and every answer lies inside the object.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ossguard_proto::range::{oss_range, parse_content_range, ByteRange, RangeAnswer};

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let len = u64::from_le_bytes(data[..8].try_into().unwrap()) >> (data[8] % 64);
    let Ok(s) = std::str::from_utf8(&data[9..]) else {
        return;
    };
    if let Ok(r) = ByteRange::parse(s) {
        if let Ok((a, b)) = r.resolve(len) {
            assert!(a <= b && b < len, "{s:?} on {len}: {a}-{b}");
        }
    }
    for standard in [false, true] {
        if let RangeAnswer::Partial(a, b) = oss_range(s, len, standard) {
            assert!(a <= b && b < len, "{s:?} on {len}: {a}-{b}");
        }
    }
    let _ = parse_content_range(s);
});
