//! Helpers shared by the integration tests: locating the shared test data.

#![allow(dead_code)]

use std::path::PathBuf;

/// The shared test data folder `sub`, read in place.
///
/// `TOLLGATE_TESTDATA` names the data root when set, and then the folder
/// must exist. Otherwise the root is `<workspace root>/../shared/testdata`;
/// when that is absent (a checkout without the shared data) the caller
/// should skip, and this says so on stderr.
pub fn testdata(sub: &str) -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("TOLLGATE_TESTDATA") {
        let dir = PathBuf::from(root).join(sub);
        assert!(dir.is_dir(), "TOLLGATE_TESTDATA is set but {} is not a folder", dir.display());
        return Some(dir);
    }
    // Canonicalised so that a symlinked checkout still finds its siblings.
    let manifest =
        std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let workspace = manifest.parent().and_then(|p| p.parent()).expect("crate sits two levels below the workspace root");
    let dir = workspace.join("../shared/testdata").join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: test data {} not found (set TOLLGATE_TESTDATA to require it)", dir.display());
        None
    }
}
