//! Identifier hashes, and the hash maps an import keeps keyed by them. An import of 70 million
//! events looks each one up several times; SipHash (the standard library's default, built to
//! resist adversarial keys) costs more there than everything else the importer does per event.
//! The keys here are already uniformly distributed 128-bit hashes or small integers, so the
//! maps use [`FastHasher`] instead.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A stable 128-bit hash of an identifier: XXH3-128, whose output its specification fixes
/// across versions and platforms (the store keeps these values). Not cryptographic: it keys
/// identifiers a CI system assigned, and a collision between two of 10^8 ids has a probability
/// near 10^-23.
pub fn id_hash(s: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(s.as_bytes())
}

/// splitmix64's finaliser: every input bit affects every output bit.
fn mix(h: u64) -> u64 {
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hasher for keys that are hashes already (taken as they are) or a few integers (mixed).
/// Strings are hashed with FNV-1a; that is for the service and environment names, a few
/// thousand of which an import sees, not for attacker-chosen keys.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = mix(h);
    }

    fn write_u128(&mut self, v: u128) {
        // Already a uniform hash: its low half is as good a hash as any.
        self.0 ^= v as u64;
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = mix(self.0 ^ v);
    }

    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hash_stably_and_distinctly() {
        // Stored in the KPI store: the value must never change between releases. This is
        // XXH3-128 of "e1" as Python's `xxhash` (the C reference implementation) computes it.
        assert_eq!(id_hash("e1"), 0x3711_5c67_0375_4b2f_1f7e_2402_3b50_eaef);
        assert_ne!(id_hash("e1"), id_hash("e2"));
        assert_ne!(id_hash(""), id_hash("\0"));
        let mut seen = FastSet::default();
        assert!((0..100_000).all(|i| seen.insert(id_hash(&format!("id-{i}")))));
        let mut names: FastMap<(i64, i64), u32> = FastMap::default();
        names.insert((1, 2), 3);
        assert_eq!(names.get(&(1, 2)), Some(&3));
        assert_eq!(names.get(&(2, 1)), None);
    }
}
