//! RFC 6962 inclusion proofs, verified as transparency-dev/merkle does (and as
//! `tollgate-ledger`'s Merkle module does, without depending on its storage): the proof is
//! split where the paths to the leaf and to the last leaf diverge, the inner part is hashed
//! by the leaf's index bits and the border part always from the left.

use sha2::{Digest, Sha256};

use crate::error::{Result, SigError};

/// Proofs longer than this cannot belong to a tree of fewer than 2^64 leaves.
pub const MAX_PROOF_HASHES: usize = 64;

pub fn leaf_hash(data: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update([0x00]).chain_update(data).finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// Verifies that `leaf` is leaf `index` of the tree of `size` leaves with root `root`.
pub fn verify_inclusion(leaf: &[u8; 32], index: u64, size: u64, proof: &[[u8; 32]], root: &[u8; 32]) -> Result<()> {
    if index >= size {
        return Err(SigError::invalid(format!(
            "the inclusion proof's index {index} is outside a tree of {size} leaves"
        )));
    }
    let inner = (u64::BITS - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index.checked_shr(inner as u32).unwrap_or(0)).count_ones() as usize;
    if proof.len() != inner + border {
        return Err(SigError::invalid(format!(
            "the inclusion proof has {} hashes; a leaf at index {index} of a tree of {size} needs {}",
            proof.len(),
            inner + border
        )));
    }
    let (inner_proof, border_proof) = proof.split_at(inner);
    let mut acc = *leaf;
    for (i, h) in inner_proof.iter().enumerate() {
        acc = if (index >> i) & 1 == 0 { node_hash(&acc, h) } else { node_hash(h, &acc) };
    }
    for h in border_proof {
        acc = node_hash(h, &acc);
    }
    if &acc == root {
        Ok(())
    } else {
        Err(SigError::invalid("the inclusion proof does not lead to the tree's root hash"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962 MTH over leaf hashes.
    fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            1 => leaves[0],
            n => {
                let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
            }
        }
    }

    fn path(m: usize, leaves: &[[u8; 32]], out: &mut Vec<[u8; 32]>) {
        let n = leaves.len();
        if n <= 1 {
            return;
        }
        let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
        if m < k {
            path(m, &leaves[..k], out);
            out.push(root(&leaves[k..]));
        } else {
            path(m - k, &leaves[k..], out);
            out.push(root(&leaves[..k]));
        }
    }

    #[test]
    fn every_leaf_of_every_small_tree_is_proven_and_tampering_is_caught() {
        for size in 1..=17usize {
            let leaves: Vec<[u8; 32]> = (0..size).map(|i| leaf_hash(&[i as u8])).collect();
            let r = root(&leaves);
            for index in 0..size {
                let mut proof = Vec::new();
                path(index, &leaves, &mut proof);
                verify_inclusion(&leaves[index], index as u64, size as u64, &proof, &r).unwrap();
                if let Some(first) = proof.first_mut() {
                    first[0] ^= 1;
                    assert!(verify_inclusion(&leaves[index], index as u64, size as u64, &proof, &r).is_err());
                }
            }
            assert!(verify_inclusion(&leaves[0], size as u64, size as u64, &[], &r).is_err());
        }
    }
}
