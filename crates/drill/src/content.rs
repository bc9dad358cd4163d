//! Object content derived from (key, version): the drill never stores what it wrote, it can
//! recompute any byte, so every read is checked — wrong bytes returned as success are counted.

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn key_hash(key: &str) -> u64 {
    // FNV-1a, then mixed: stable across runs and platforms.
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in key.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    mix(h)
}

/// Fills `out` with the bytes at `offset..` of object `key` at `version`.
pub fn fill(key: &str, version: u64, offset: u64, out: &mut [u8]) {
    let seed = key_hash(key) ^ mix(version);
    let mut pos = offset;
    let mut i = 0;
    while i < out.len() {
        let word = mix(seed ^ (pos / 8)).to_le_bytes();
        let start = (pos % 8) as usize;
        let n = (8 - start).min(out.len() - i);
        out[i..i + n].copy_from_slice(&word[start..start + n]);
        i += n;
        pos += n as u64;
    }
}

pub fn generate(key: &str, version: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill(key, version, 0, &mut v);
    v
}

/// Whether `data` is exactly the content at `offset..offset + data.len()`.
pub fn matches(key: &str, version: u64, offset: u64, data: &[u8]) -> bool {
    let mut buf = [0u8; 4096];
    let mut done = 0;
    while done < data.len() {
        let n = (data.len() - done).min(buf.len());
        fill(key, version, offset + done as u64, &mut buf[..n]);
        if buf[..n] != data[done..done + n] {
            return false;
        }
        done += n;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_agree_with_the_whole_and_a_flipped_byte_is_seen() {
        let whole = generate("k/1", 3, 10_000);
        for (a, b) in [(0, 1), (5, 17), (4093, 9000), (9999, 10_000)] {
            assert!(matches("k/1", 3, a as u64, &whole[a..b]));
        }
        assert_ne!(whole, generate("k/1", 4, 10_000), "versions differ");
        assert_ne!(whole, generate("k/2", 3, 10_000), "keys differ");
        let mut bad = whole.clone();
        bad[7777] ^= 0xff;
        assert!(!matches("k/1", 3, 0, &bad));
    }
}
