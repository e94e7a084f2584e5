//! Identifiers derived from the seed and a counter: UUID-shaped event and chain ids, artefact
//! digests, zero-padded numbers. Each is a bijection of its counter in the bits that matter,
//! so ids are unique by construction, not by luck.

use crate::rng::splitmix64;

const HEX: &[u8; 16] = b"0123456789abcdef";
const MASK60: u64 = (1 << 60) - 1;

/// A permutation of 0..2^60 keyed by `key`: xor, odd multiplications and xorshifts all stay
/// bijective when reduced to 60 bits.
fn permute60(n: u64, key: u64) -> u64 {
    let mut x = (n ^ key) & MASK60;
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & MASK60;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9) & MASK60;
    x ^= x >> 29;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB) & MASK60;
    x ^ (x >> 32)
}

fn hex_digits(out: &mut Vec<u8>, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 0xF) as usize]);
    }
}

/// A version-4-shaped UUID whose first 60 random bits are a permutation of `n`: distinct `n`
/// (below 2^60) give distinct ids under one key.
pub fn write_uuid(out: &mut Vec<u8>, key: u64, n: u64) {
    let h = permute60(n, key);
    let r = splitmix64(n ^ key.rotate_left(17));
    hex_digits(out, h >> 28, 8);
    out.push(b'-');
    hex_digits(out, (h >> 12) & 0xFFFF, 4);
    out.push(b'-');
    out.push(b'4');
    hex_digits(out, h & 0xFFF, 3);
    out.push(b'-');
    out.push(HEX[(8 | (r >> 62)) as usize]);
    hex_digits(out, (r >> 48) & 0xFFF, 3);
    out.push(b'-');
    hex_digits(out, r & 0xFFFF_FFFF_FFFF, 12);
}

/// A SHA-256-shaped digest (64 hex digits) whose first 64 bits are a bijection of `n`.
pub fn write_digest(out: &mut Vec<u8>, key: u64, n: u64) {
    let first = splitmix64(n ^ key);
    hex_digits(out, first, 16);
    for i in 1..4u64 {
        hex_digits(out, splitmix64(first.wrapping_add(i.wrapping_mul(key | 1))), 16);
    }
}

/// Decimal, left-padded with zeros to at least `width` digits.
pub fn write_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let s = buf.format(v).as_bytes();
    for _ in s.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn uuids_are_distinct_and_well_formed() {
        let mut seen = HashSet::new();
        for n in 0..100_000u64 {
            let mut out = Vec::new();
            write_uuid(&mut out, 0xDEAD_BEEF, n);
            let s = String::from_utf8(out).unwrap_or_default();
            assert_eq!(s.len(), 36);
            let groups: Vec<&str> = s.split('-').collect();
            assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
            assert!(groups[2].starts_with('4'));
            assert!(matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn permutation_is_injective_on_a_dense_range() {
        let mut seen = HashSet::new();
        assert!((0..200_000u64).all(|n| seen.insert(permute60(n, 12345))));
        assert!(permute60(MASK60, 7) <= MASK60);
    }

    #[test]
    fn digests_and_padding() {
        let mut a = Vec::new();
        write_digest(&mut a, 9, 1);
        let mut b = Vec::new();
        write_digest(&mut b, 9, 2);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let mut p = Vec::new();
        write_padded(&mut p, 42, 7);
        write_padded(&mut p, 12_345_678, 3);
        assert_eq!(p, b"000004212345678");
    }
}
