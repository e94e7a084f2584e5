//! DSSE envelopes checked against one fixed P-256 key: a verdict or an error, never a panic.
//!
//! The key was generated for this target only (its private half is not kept); `seed.sh` writes
//! an envelope it signed, so the fuzzer starts from an envelope that verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;

const PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEO7MvmjnjHbxfQO6zNuCpmbTFZ4oz
cxQISq7r24cMDbE6j2loqdmc4U1EyOw2GPrDNe+RCnprVXIVUFNqvKr21w==
-----END PUBLIC KEY-----
";

fuzz_target!(|data: &[u8]| {
    let _ = tollgate_sigstore::verify_dsse(data, PUBLIC_KEY_PEM);
});
