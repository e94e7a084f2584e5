//! Tidy checks that keep the architecture honest, run with the tests: module docs, no trailing
//! whitespace, and a domain crate that cannot do IO or read the clock.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

fn files(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                files(&path, ext, out);
            }
        } else if ext.iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let mut rs = Vec::new();
    files(&workspace().join("crates"), &[".rs"], &mut rs);
    let undocumented: Vec<_> = rs
        .iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "src"))
        .filter(|p| !std::fs::read_to_string(p).unwrap().starts_with("//!"))
        .collect();
    assert!(undocumented.is_empty(), "modules without a //! doc: {undocumented:?}");
    assert!(rs.len() > 30);
}

#[test]
fn no_trailing_whitespace() {
    let mut all = Vec::new();
    files(&workspace(), &[".rs", ".toml", ".md"], &mut all);
    let mut bad = Vec::new();
    for path in &all {
        for (i, line) in std::fs::read_to_string(path).unwrap().lines().enumerate() {
            if line.ends_with(' ') || line.ends_with('\t') {
                bad.push(format!("{}:{}", path.display(), i + 1));
            }
        }
    }
    assert!(bad.is_empty(), "trailing whitespace at {bad:?}");
}

#[test]
fn the_domain_crate_does_no_io_and_reads_no_clock() {
    let domain = workspace().join("crates/tollgate-domain");
    let manifest = std::fs::read_to_string(domain.join("Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    let names: Vec<&str> = deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(['.', ' ', '=']).next().unwrap())
        .collect();
    // imbl: persistent collections, pure data structures; serde: only for the optional
    // state-snapshot feature.
    assert_eq!(
        names,
        ["chrono", "imbl", "serde"],
        "the domain crate may depend on chrono (without its clock), imbl and an optional serde only"
    );
    assert!(deps.lines().any(|l| l.starts_with("serde") && l.contains("optional = true")), "serde must stay optional");
    assert!(!deps.contains("clock"), "chrono's clock feature would let the domain read the time");
    let mut rs = Vec::new();
    files(&domain.join("src"), &[".rs"], &mut rs);
    for path in rs {
        let text = std::fs::read_to_string(&path).unwrap();
        for forbidden in [
            "std::fs",
            "std::net",
            "std::io",
            "std::env",
            "std::process",
            "SystemTime",
            "Instant::now",
            "Utc::now",
            "Local::now",
            "thread::sleep",
        ] {
            assert!(!text.contains(forbidden), "{} uses {forbidden}", path.display());
        }
    }
}
