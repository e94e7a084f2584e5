//! The fingerprint of the code that turns a log into state: a state snapshot (`src/snapshot.rs`)
//! is the fold of a log by one version of that code, so it is valid only for the build that
//! wrote it. The hash covers every source of the crates that fold facts: the domain (`evolve`,
//! the state's types), the profiles (policies are re-read from their texts) and this crate
//! (the codec). Any change there, a fix to `evolve` included, makes every snapshot stale and
//! the next start replays the log instead.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let crates = here.parent().expect("the crate sits in crates/");
    let mut files = Vec::new();
    for dir in [crates.join("tollgate-domain/src"), crates.join("tollgate-profile/src"), here.join("src")] {
        println!("cargo:rerun-if-changed={}", dir.display());
        collect(&dir, &mut files);
    }
    files.sort();
    let mut hash = Sha256::new();
    hash.update(env!("CARGO_PKG_VERSION").as_bytes());
    for file in &files {
        let relative = file.strip_prefix(crates).unwrap_or(file);
        hash.update(relative.to_string_lossy().as_bytes());
        hash.update([0]);
        hash.update(fs::read(file).expect("a source file is readable"));
        hash.update([0]);
    }
    println!("cargo:rustc-env=TOLLGATE_STATE_CODE={}", hex::encode(&hash.finalize()[..16]));
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
