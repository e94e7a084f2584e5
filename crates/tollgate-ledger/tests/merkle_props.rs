//! Property tests: proofs generated for random trees verify, any flipped bit
//! breaks them, and the incremental frontier agrees with the recursive root.

use proptest::prelude::*;
use tollgate_ledger::merkle::{
    CompactRange, Hash, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
};

fn leaves(n: usize, seed: u64) -> Vec<Hash> {
    (0..n as u64).map(|i| leaf_hash(&[seed.to_be_bytes(), i.to_be_bytes()].concat())).collect()
}

fn flipped(proof: &[Hash], pick: usize) -> Vec<Hash> {
    let mut bad = proof.to_vec();
    let node = pick % bad.len();
    let bit = (pick / bad.len()) % 256;
    bad[node][bit / 8] ^= 1 << (bit % 8);
    bad
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn inclusion_proofs_verify_and_resist_bit_flips(n in 1usize..=300, seed: u64, pick: usize) {
        let hashes = leaves(n, seed);
        let size = n as u64;
        let tree_root = root(&hashes);
        for (i, leaf) in hashes.iter().enumerate() {
            let index = i as u64;
            let proof = inclusion_proof(&hashes, index).unwrap();
            prop_assert_eq!(verify_inclusion(leaf, index, size, &proof, &tree_root), Ok(()));
            if !proof.is_empty() {
                let bad = flipped(&proof, pick.wrapping_add(i));
                prop_assert!(verify_inclusion(leaf, index, size, &bad, &tree_root).is_err());
            }
            // A proof for one position never proves another.
            if n > 1 {
                let other = (index + 1) % size;
                prop_assert!(verify_inclusion(leaf, other, size, &proof, &tree_root).is_err());
            }
        }
        prop_assert!(inclusion_proof(&hashes, size).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_resist_bit_flips(n in 1usize..=300, seed: u64, pick: usize) {
        let hashes = leaves(n, seed);
        let size2 = n as u64;
        let root2 = root(&hashes);
        let mut range = CompactRange::new();
        for m in 1..=n {
            range.append(hashes[m - 1]);
            let size1 = m as u64;
            let root1 = range.root();
            let proof = consistency_proof(&hashes, size1).unwrap();
            prop_assert_eq!(verify_consistency(size1, size2, &proof, &root1, &root2), Ok(()));
            if proof.is_empty() {
                prop_assert_eq!(m, n);
            } else {
                let bad = flipped(&proof, pick.wrapping_add(m));
                prop_assert!(verify_consistency(size1, size2, &bad, &root1, &root2).is_err());
                let mut wrong_root1 = root1;
                wrong_root1[pick % 32] ^= 0x80;
                prop_assert!(verify_consistency(size1, size2, &proof, &wrong_root1, &root2).is_err());
            }
        }
    }

    #[test]
    fn every_bit_of_one_proof_matters(n in 2usize..=300, seed: u64, index in any::<prop::sample::Index>()) {
        let hashes = leaves(n, seed);
        let i = index.index(n);
        let tree_root = root(&hashes);
        let proof = inclusion_proof(&hashes, i as u64).unwrap();
        for pick in 0..proof.len() * 256 {
            let node = pick / 256;
            let bit = pick % 256;
            let mut bad = proof.clone();
            bad[node][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_inclusion(&hashes[i], i as u64, n as u64, &bad, &tree_root).is_err());
        }
        let old = (i + 1) as u64;
        if old < n as u64 {
            let cproof = consistency_proof(&hashes, old).unwrap();
            let old_root = root(&hashes[..=i]);
            for pick in 0..cproof.len() * 256 {
                let node = pick / 256;
                let bit = pick % 256;
                let mut bad = cproof.clone();
                bad[node][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(old, n as u64, &bad, &old_root, &tree_root).is_err());
            }
        }
    }

    #[test]
    fn compact_range_matches_recursive_root(n in 0usize..=300, seed: u64) {
        let hashes = leaves(n, seed);
        let mut range = CompactRange::new();
        prop_assert_eq!(range.root(), root(&[]));
        for i in 0..n {
            range.append(hashes[i]);
            prop_assert_eq!(range.size(), (i + 1) as u64);
            prop_assert!(range.hashes().len() <= 64);
            prop_assert_eq!(range.root(), root(&hashes[..=i]));
            let restored = CompactRange::from_parts(range.size(), range.hashes().to_vec()).unwrap();
            prop_assert_eq!(&restored, &range);
        }
    }
}
