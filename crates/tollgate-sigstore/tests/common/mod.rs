//! Helpers shared by the integration tests: the shared test data, and keys and signatures
//! made by the `openssl` command line tool, so that what is verified here was produced by
//! an independent implementation.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Runs `openssl` in `dir`; the tests need it on PATH.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("these tests need the `openssl` command line tool on PATH");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A key pair made by openssl: `<name>.pem` (private) and `<name>.pub.pem` (public).
pub struct Key {
    pub dir: PathBuf,
    pub name: String,
}

impl Key {
    /// `kind` is `p256`, `p384`, `ed25519` or `rsa`.
    pub fn generate(dir: &Path, name: &str, kind: &str) -> Key {
        let private = format!("{name}.pem");
        match kind {
            "p256" => {
                openssl(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &private])
            }
            "p384" => {
                openssl(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", &private])
            }
            "ed25519" => openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", &private]),
            "rsa" => {
                openssl(dir, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &private])
            }
            other => panic!("unknown key kind {other}"),
        };
        openssl(dir, &["pkey", "-in", &private, "-pubout", "-out", &format!("{name}.pub.pem")]);
        Key { dir: dir.to_owned(), name: name.to_owned() }
    }

    pub fn public_pem(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.pub.pem", self.name))).unwrap()
    }

    /// SHA-256 of the public key's DER SubjectPublicKeyInfo, as openssl computes it.
    pub fn fingerprint(&self) -> [u8; 32] {
        let der = openssl(&self.dir, &["pkey", "-pubin", "-in", &format!("{}.pub.pem", self.name), "-outform", "DER"]);
        let out = openssl_stdin(&self.dir, &["dgst", "-sha256", "-binary"], &der);
        out.try_into().unwrap()
    }

    /// `openssl dgst -sha256 -sign` (ECDSA, RSA) or `openssl pkeyutl -sign -rawin` (Ed25519)
    /// over `message`; the raw signature bytes.
    pub fn sign(&self, message: &[u8], ed25519: bool) -> Vec<u8> {
        let input = self.dir.join("message.bin");
        std::fs::write(&input, message).unwrap();
        let private = format!("{}.pem", self.name);
        if ed25519 {
            openssl(&self.dir, &["pkeyutl", "-sign", "-rawin", "-inkey", &private, "-in", "message.bin"])
        } else {
            openssl(&self.dir, &["dgst", "-sha256", "-sign", &private, "message.bin"])
        }
    }

    /// The signature as `openssl base64` writes it: wrapped at 64 columns, final newline.
    pub fn sign_base64(&self, message: &[u8], ed25519: bool) -> Vec<u8> {
        let sig = self.sign(message, ed25519);
        openssl_stdin(&self.dir, &["base64"], &sig)
    }
}

pub fn openssl_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("these tests need the `openssl` command line tool on PATH");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}
