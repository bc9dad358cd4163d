//! CRC-64 values the official SDKs computed (../shared/oss-protocol/vectors/crc64.json).

mod common;

use common::*;
use ossguard_proto::crc64::{checksum, combine, combine_parts, Crc64};

fn pattern_1mib() -> Vec<u8> {
    (0..1_048_576u32)
        .map(|i| ((i * 7 + 3) % 256) as u8)
        .collect()
}

fn input(v: &serde_json::Value) -> Vec<u8> {
    match s(&v["name"]) {
        "pattern_1mib" => pattern_1mib(),
        "one_zero_byte" => vec![0],
        _ => s(&v["input_ascii_or_hex"]).as_bytes().to_vec(),
    }
}

#[test]
fn crc64_vectors() {
    let f = load_json("vectors/crc64.json");
    let mut n = 0;
    for v in f["single"].as_array().unwrap() {
        let data = input(v);
        let want = v["crc64_decimal"].as_u64().unwrap();
        assert_eq!(checksum(&data), want, "{}", s(&v["name"]));
        assert_eq!(
            want.to_string(),
            s(&v["x-oss-hash-crc64ecma header value"]),
            "header form"
        );
        let mut st = Crc64::new();
        for c in data.chunks(4093) {
            st.update(c);
        }
        assert_eq!(st.value(), want);
        n += 1;
    }
    let pat = pattern_1mib();
    let ce = &f["combine_example"];
    let mut parts = Vec::new();
    for (i, r) in ce["part_ranges"].as_array().unwrap().iter().enumerate() {
        let (a, b) = (
            r[0].as_u64().unwrap() as usize,
            r[1].as_u64().unwrap() as usize,
        );
        let crc = checksum(&pat[a..b]);
        assert_eq!(crc, ce["part_crcs"][i].as_u64().unwrap());
        parts.push((crc, (b - a) as u64));
        n += 1;
    }
    assert_eq!(
        combine_parts(parts.iter().copied()),
        ce["crc_of_whole"].as_u64().unwrap()
    );
    assert_eq!(combine(0, parts[0].0, parts[0].1), parts[0].0);
    n += 1;
    let cont = &f["continuation_example"];
    let mut r = Crc64::resume(cont["init_crc"].as_u64().unwrap());
    r.update(&pat[400_000..]);
    assert_eq!(r.value(), cont["result_oss2"].as_u64().unwrap());
    n += 1;
    println!("crc64 vectors reproduced: {n}");
    assert_eq!(n, 10);
}

mod independent {
    use ossguard_proto::crc64::{checksum, combine, Crc64};
    use proptest::prelude::*;

    proptest! {
        /// crc-fast (SIMD) agrees with the table-driven `crc` crate; combine and resume agree
        /// with the checksum of the concatenation for any split.
        #[test]
        fn agrees_with_table_crate_and_splits(data in proptest::collection::vec(any::<u8>(), 0..5000), cut in any::<prop::sample::Index>()) {
            let table = crc::Crc::<u64>::new(&crc::CRC_64_XZ);
            prop_assert_eq!(checksum(&data), table.checksum(&data));
            let at = cut.index(data.len() + 1);
            let (a, b) = data.split_at(at);
            prop_assert_eq!(combine(checksum(a), checksum(b), b.len() as u64), checksum(&data));
            let mut r = Crc64::resume(checksum(a));
            r.update(b);
            prop_assert_eq!(r.value(), checksum(&data));
        }
    }
}
