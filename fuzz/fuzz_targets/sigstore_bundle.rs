//! Sigstore bundles: the fuzz input is the bundle, checked against the public-good trusted
//! root from the shared test data (read once; without it the target does nothing), for the
//! conformance suite's artifact `a.txt`, under an identity policy and, when the conformance
//! suite's managed key is present, a key policy too. A verdict or an error, never a panic.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate_sigstore::{Artifact, Policy, verify_bundle_at};

/// Relative to fuzz/, where `cargo fuzz run` starts the target; TOLLGATE_SIGSTORE_CONFORMANCE overrides.
const DEFAULT_DIR: &str = "../../shared/testdata/sigstore-conformance";
/// "Now" for the check (2026-01-01T00:00:00Z), fixed so that a crash reproduces.
const NOW: i64 = 1_767_225_600;

struct Setup {
    trusted_root: Vec<u8>,
    artifact: Vec<u8>,
    policies: Vec<Policy>,
}

fn setup() -> Option<&'static Setup> {
    static SETUP: OnceLock<Option<Setup>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let dir = std::env::var("TOLLGATE_SIGSTORE_CONFORMANCE").unwrap_or_else(|_| DEFAULT_DIR.to_owned());
            let dir = Path::new(&dir);
            let Ok(trusted_root) = std::fs::read(dir.join("trusted_root.public-good.json")) else {
                eprintln!("sigstore_bundle: no trusted root under {}; every input is skipped", dir.display());
                return None;
            };
            let artifact = std::fs::read(dir.join("a.txt")).unwrap_or_else(|_| b"hello\n".to_vec());
            let mut policies = vec![Policy::Identity {
                san: "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main".to_owned(),
                issuer: "https://token.actions.githubusercontent.com".to_owned(),
            }];
            if let Ok(key) = std::fs::read_to_string(dir.join("bundle-verify/managed-key-happy-path/key.pub")) {
                policies.push(Policy::Key(key));
            }
            Some(Setup { trusted_root, artifact, policies })
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(setup) = setup() else { return };
    for policy in &setup.policies {
        let _ = verify_bundle_at(data, Artifact::Bytes(&setup.artifact), &setup.trusted_root, policy, NOW);
    }
});
