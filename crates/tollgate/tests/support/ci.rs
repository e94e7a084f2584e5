//! A pretend CI pipeline for end-to-end tests: real files, real keys and real signatures made by
//! `openssl` (an implementation independent of Tollgate's), written into the test's directory.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

pub const BUILDER: &str = "https://github.com/actions/runner/github-hosted";
pub const REPO: &str = "https://github.com/acme/payments";
pub const COMMIT: &str = "9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a9f1c2e7a";

#[track_caller]
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Process::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub struct Ci {
    pub dir: PathBuf,
    /// ECDSA P-256 key signing artefacts: `sign.pem` / `sign.pub`.
    pub sign_pub: PathBuf,
    /// Ed25519 key of the build platform, signing provenance: `build.pem` / `build.pub`.
    pub build_pub: PathBuf,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of the public key's DER, computed by openssl: what profiles list as trusted keys.
pub fn fingerprint(dir: &Path, public: &Path) -> String {
    let der = dir.join("key.der");
    openssl(
        dir,
        &["pkey", "-pubin", "-in", public.to_str().unwrap(), "-outform", "DER", "-out", der.to_str().unwrap()],
    );
    format!("sha256:{}", sha256_hex(&std::fs::read(der).unwrap()))
}

impl Ci {
    pub fn new(dir: &Path) -> Ci {
        openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sign.pem"]);
        openssl(dir, &["ec", "-in", "sign.pem", "-pubout", "-out", "sign.pub"]);
        openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", "build.pem"]);
        openssl(dir, &["pkey", "-in", "build.pem", "-pubout", "-out", "build.pub"]);
        Ci { dir: dir.to_owned(), sign_pub: dir.join("sign.pub"), build_pub: dir.join("build.pub") }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.dir.join(name), bytes).unwrap();
        self.path(name)
    }

    /// An artefact and its cosign-style signature (`openssl dgst -sha256 -sign`, base64).
    /// Returns (artefact path, signature path, "sha256:...").
    pub fn build(&self, name: &str, content: &[u8]) -> (String, String, String) {
        let artefact = self.write(name, content);
        let der = format!("{name}.sig.der");
        openssl(&self.dir, &["dgst", "-sha256", "-sign", "sign.pem", "-out", &der, name]);
        let sig = STANDARD.encode(std::fs::read(self.dir.join(&der)).unwrap());
        let sig = self.write(&format!("{name}.sig"), format!("{sig}\n").as_bytes());
        (artefact, sig, format!("sha256:{}", sha256_hex(content)))
    }

    /// SLSA v1 provenance for `digest`, built from `git_ref`, in a DSSE envelope signed by the
    /// build platform's Ed25519 key with `openssl pkeyutl -rawin`.
    pub fn provenance(&self, name: &str, digest: &str, builder: &str, git_ref: &str) -> String {
        self.provenance_signed_with(name, digest, builder, git_ref, "build.pem")
    }

    /// Provenance as `provenance` makes it, with its envelope signed by `sign.pem` (the
    /// artefact signing key, ECDSA) or `build.pem` (the build platform's, Ed25519).
    pub fn provenance_signed_with(&self, name: &str, digest: &str, builder: &str, git_ref: &str, pem: &str) -> String {
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "payments.tar.gz", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {
                    "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
                    "externalParameters": {"workflow": {"ref": git_ref, "repository": REPO, "path": ".github/workflows/release.yml"}},
                    "resolvedDependencies": [{"uri": format!("git+{REPO}@{git_ref}"), "digest": {"gitCommit": COMMIT}}]
                },
                "runDetails": {"builder": {"id": builder}, "metadata": {"invocationId": "4411"}}
            }
        });
        let payload = serde_json::to_vec(&statement).unwrap();
        let payload_type = "application/vnd.in-toto+json";
        let mut pae = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
        pae.extend_from_slice(&payload);
        self.write(&format!("{name}.pae"), &pae);
        let sig = format!("{name}.pae.sig");
        let pae = format!("{name}.pae");
        if pem == "build.pem" {
            openssl(&self.dir, &["pkeyutl", "-sign", "-inkey", pem, "-rawin", "-in", &pae, "-out", &sig]);
        } else {
            openssl(&self.dir, &["dgst", "-sha256", "-sign", pem, "-out", &sig, &pae]);
        }
        let envelope = serde_json::json!({
            "payloadType": payload_type,
            "payload": STANDARD.encode(&payload),
            "signatures": [{"keyid": "", "sig": STANDARD.encode(std::fs::read(self.dir.join(&sig)).unwrap())}]
        });
        self.write(&format!("{name}.intoto.jsonl"), &serde_json::to_vec(&envelope).unwrap())
    }

    /// A JUnit report with `failures` of `tests` failing.
    pub fn junit(&self, name: &str, tests: u32, failures: u32) -> String {
        let mut xml = format!(
            "<?xml version=\"1.0\"?>\n<testsuites>\n<testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\">\n"
        );
        for i in 0..tests {
            if i < failures {
                xml.push_str(&format!(
                    "<testcase classname=\"RefundTest\" name=\"case{i}\"><failure message=\"expected 200, got 500\">trace</failure></testcase>\n"
                ));
            } else {
                xml.push_str(&format!("<testcase classname=\"RefundTest\" name=\"case{i}\" time=\"0.01\"/>\n"));
            }
        }
        xml.push_str("</testsuite>\n</testsuites>\n");
        self.write(name, xml.as_bytes())
    }

    /// A CycloneDX 1.5 SBOM whose subject has `digest`.
    pub fn sbom(&self, name: &str, digest: &str) -> String {
        let bom = serde_json::json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "version": 1,
            "metadata": {"component": {"type": "application", "name": "payments", "version": "2.4.0",
                "hashes": [{"alg": "SHA-256", "content": digest.trim_start_matches("sha256:")}]}},
            "components": [
                {"type": "library", "name": "lodash", "version": "4.17.21", "purl": "pkg:npm/lodash@4.17.21"},
                {"type": "library", "name": "express", "version": "4.19.2", "purl": "pkg:npm/express@4.19.2"}
            ]
        });
        self.write(name, &serde_json::to_vec_pretty(&bom).unwrap())
    }

    /// A Grype report of the file with `digest` (`sha256:HEX`), with the given (CVE, severity)
    /// matches.
    pub fn grype(&self, name: &str, digest: &str, matches: &[(&str, &str)]) -> String {
        let matches: Vec<serde_json::Value> = matches
            .iter()
            .map(|(id, severity)| {
                serde_json::json!({
                    "vulnerability": {"id": id, "dataSource": "https://nvd.nist.gov", "severity": severity, "description": format!("{id} in lodash"), "cvss": [], "fix": {"versions": [], "state": "unknown"}},
                    "relatedVulnerabilities": [],
                    "matchDetails": [],
                    "artifact": {"name": "lodash", "version": "4.17.20", "type": "npm", "purl": "pkg:npm/lodash@4.17.20"}
                })
            })
            .collect();
        let report = serde_json::json!({
            "matches": matches,
            "source": {"type": "file", "target": {"path": "payments.tar.gz", "mimeType": "application/gzip",
                "digests": [{"algorithm": "sha256", "value": digest.trim_start_matches("sha256:")}]}},
            "distro": {"name": "", "version": ""},
            "descriptor": {"name": "grype", "version": "0.74.0"}
        });
        self.write(name, &serde_json::to_vec_pretty(&report).unwrap())
    }

    pub fn perf(&self, name: &str, p95: f64) -> String {
        let perf = serde_json::json!({"metrics": [
            {"name": "refund_p95_ms", "unit": "ms", "baseline": 180.0, "value": p95, "better": "lower", "slo": true}
        ]});
        self.write(name, &serde_json::to_vec(&perf).unwrap())
    }
}
