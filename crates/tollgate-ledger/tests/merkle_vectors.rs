//! The transparency-dev/merkle proof vectors: every file of every folder
//! must get the verdict it asks for.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tollgate_ledger::merkle::{
    verify_consistency, verify_inclusion, verify_subtree_consistency, verify_subtree_inclusion,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubtreeInclusion {
    leaf_idx: u64,
    start: u64,
    end: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubtreeConsistency {
    start: u64,
    end: u64,
    size: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

fn b64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).expect("vector holds valid base64")
}

fn proof(p: &Option<Vec<String>>) -> Vec<Vec<u8>> {
    p.iter().flatten().map(|s| b64(s)).collect()
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
}

/// Runs `check` on every file of `folder`, returning the number checked and
/// the files whose verdict was wrong.
fn walk(root: &Path, folder: &str, check: impl Fn(&[u8]) -> (bool, Result<(), String>)) -> (usize, Vec<String>) {
    let mut files = Vec::new();
    json_files(&root.join(folder), &mut files);
    assert!(!files.is_empty(), "no vectors in {folder}");
    let mut wrong = Vec::new();
    for file in &files {
        let data = fs::read(file).expect("read vector");
        let (want_err, verdict) = check(&data);
        if want_err == verdict.is_ok() {
            wrong.push(format!(
                "{}: wantErr={want_err}, got {verdict:?}",
                file.strip_prefix(root).unwrap_or(file).display()
            ));
        }
    }
    (files.len(), wrong)
}

#[test]
fn every_vector_gets_the_expected_verdict() {
    let Some(root) = common::testdata("merkle") else {
        return;
    };
    let mut total = 0;
    let mut wrong = Vec::new();
    let mut tally = |(n, w): (usize, Vec<String>)| {
        total += n;
        wrong.extend(w);
    };

    tally(walk(&root, "inclusion", |data| {
        let v: Inclusion = serde_json::from_slice(data).expect("inclusion vector");
        let verdict = verify_inclusion(&b64(&v.leaf_hash), v.leaf_idx, v.tree_size, &proof(&v.proof), &b64(&v.root));
        (v.want_err, verdict.map_err(|e| e.to_string()))
    }));
    tally(walk(&root, "subtreeinclusion", |data| {
        let v: SubtreeInclusion = serde_json::from_slice(data).expect("subtree inclusion vector");
        let verdict =
            verify_subtree_inclusion(&b64(&v.leaf_hash), v.leaf_idx, v.start, v.end, &proof(&v.proof), &b64(&v.root));
        (v.want_err, verdict.map_err(|e| e.to_string()))
    }));
    tally(walk(&root, "consistency", |data| {
        let v: Consistency = serde_json::from_slice(data).expect("consistency vector");
        let verdict = verify_consistency(v.size1, v.size2, &proof(&v.proof), &b64(&v.root1), &b64(&v.root2));
        (v.want_err, verdict.map_err(|e| e.to_string()))
    }));
    tally(walk(&root, "subtreeconsistency", |data| {
        let v: SubtreeConsistency = serde_json::from_slice(data).expect("subtree consistency vector");
        let verdict =
            verify_subtree_consistency(v.start, v.end, v.size, &proof(&v.proof), &b64(&v.root1), &b64(&v.root2));
        (v.want_err, verdict.map_err(|e| e.to_string()))
    }));

    assert!(wrong.is_empty(), "{} of {total} vectors wrong:\n{}", wrong.len(), wrong.join("\n"));
    assert!(total > 500, "only {total} vector files checked");
    eprintln!("checked {total} merkle vector files");
}
