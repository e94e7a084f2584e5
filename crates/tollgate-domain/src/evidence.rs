//! What CI produced, as Tollgate understands it once a file has been parsed: test reports,
//! scans, SBOMs, IaC plans, performance results, and the checks made on an artefact's
//! signatures and provenance. Parsing lives in `tollgate-evidence`; these are the values the
//! gates judge (`judge`), so nothing here reads a file.

use std::collections::BTreeMap;
use std::fmt;

use crate::time::Timestamp;

/// A SHA-256 digest written `sha256:<64 lowercase hex>`: how an artefact, an evidence file or a
/// public key is named in the record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Digest(String);

impl Digest {
    pub fn from_sha256(bytes: [u8; 32]) -> Digest {
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        for b in bytes {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        Digest(s)
    }

    /// Accepts `sha256:HEX` (any case) or bare 64-character hex.
    pub fn parse(s: &str) -> Result<Digest, String> {
        let hex = s.strip_prefix("sha256:").or_else(|| s.strip_prefix("SHA256:")).unwrap_or(s);
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Digest(format!("sha256:{}", hex.to_ascii_lowercase())))
        } else {
            Err(format!("`{s}` is not a SHA-256 digest; expected sha256: followed by 64 hex digits"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hex(&self) -> &str {
        &self.0[7..]
    }

    /// `sha256:1a2b3c4d5e6f`, for tables.
    pub fn short(&self) -> &str {
        &self.0[..19]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of evidence file `tollgate evidence add` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum EvidenceKind {
    Junit,
    Sarif,
    Sbom,
    Vulns,
    Tfplan,
    Perf,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 6] = [
        EvidenceKind::Junit,
        EvidenceKind::Sarif,
        EvidenceKind::Sbom,
        EvidenceKind::Vulns,
        EvidenceKind::Tfplan,
        EvidenceKind::Perf,
    ];

    pub fn key(self) -> &'static str {
        match self {
            EvidenceKind::Junit => "junit",
            EvidenceKind::Sarif => "sarif",
            EvidenceKind::Sbom => "sbom",
            EvidenceKind::Vulns => "vulns",
            EvidenceKind::Tfplan => "tfplan",
            EvidenceKind::Perf => "perf",
        }
    }

    pub fn from_key(key: &str) -> Option<EvidenceKind> {
        EvidenceKind::ALL.into_iter().find(|k| k.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            EvidenceKind::Junit => "JUnit test report",
            EvidenceKind::Sarif => "SARIF scan",
            EvidenceKind::Sbom => "SBOM",
            EvidenceKind::Vulns => "vulnerability report",
            EvidenceKind::Tfplan => "Terraform plan",
            EvidenceKind::Perf => "performance results",
        }
    }
}

/// A parsed evidence file. Each variant keeps the counts and the items a gate may have to
/// name (a failed test, a Critical CVE, a drifted resource), not the whole file: the file's
/// own digest is recorded beside it.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Report {
    Tests(TestReport),
    /// SARIF and vulnerability reports (Grype, Trivy, OSV, CycloneDX VEX).
    Scan(ScanReport),
    Sbom(SbomReport),
    Plan(PlanReport),
    Perf(PerfReport),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct TestCounts {
    pub tests: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
}

impl TestCounts {
    pub fn passed(&self) -> u64 {
        self.tests.saturating_sub(self.failures + self.errors + self.skipped)
    }

    pub fn add(&mut self, other: &TestCounts) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.skipped += other.skipped;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct TestReport {
    /// Every suite that directly holds test cases, in file order; a nested suite is named by
    /// its path, `outer > inner`.
    pub suites: Vec<SuiteCounts>,
    /// Counted from the test cases themselves, not from the suites' attributes.
    pub totals: TestCounts,
    /// The first `TestReport::MAX_LISTED` failed or errored tests.
    pub failed: Vec<FailedTest>,
}

impl TestReport {
    pub const MAX_LISTED: usize = 100;
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct SuiteCounts {
    pub name: String,
    pub counts: TestCounts,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct FailedTest {
    pub suite: String,
    /// `classname.name` when the runner gives a class name.
    pub name: String,
    pub error: bool,
    /// The first line of the failure message, at most 200 characters.
    pub message: String,
}

/// The normalised severity of a finding (4.3 Security Scan, 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Rating {
    /// A score of 0, or an explicit "none": reported, never blocking.
    None,
    Low,
    Medium,
    High,
    Critical,
    /// No trustworthy severity: needs triage like a High, never treated as None.
    Unknown,
}

impl Rating {
    pub const ALL: [Rating; 6] =
        [Rating::Critical, Rating::High, Rating::Unknown, Rating::Medium, Rating::Low, Rating::None];

    pub fn key(self) -> &'static str {
        match self {
            Rating::None => "none",
            Rating::Low => "low",
            Rating::Medium => "medium",
            Rating::High => "high",
            Rating::Critical => "critical",
            Rating::Unknown => "unknown",
        }
    }

    pub fn from_key(key: &str) -> Option<Rating> {
        Rating::ALL.into_iter().find(|r| r.key() == key)
    }

    /// CVSS v3/v4 qualitative bands; SARIF `security-severity` uses the same thresholds.
    pub fn from_score(score: f64) -> Rating {
        if !score.is_finite() || !(0.0..=10.0).contains(&score) {
            Rating::Unknown
        } else if score >= 9.0 {
            Rating::Critical
        } else if score >= 7.0 {
            Rating::High
        } else if score >= 4.0 {
            Rating::Medium
        } else if score > 0.0 {
            Rating::Low
        } else {
            Rating::None
        }
    }

    /// Ratings a person must look at before the gate opens.
    pub fn needs_triage(self) -> bool {
        matches!(self, Rating::High | Rating::Unknown)
    }
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct ScanReport {
    /// `grype 0.74.0`, `CodeQL`, `trivy`, `osv-scanner`, `CycloneDX VEX`.
    pub tool: String,
    /// Open findings by rating (not suppressed, not absent from the baseline, not
    /// `not_affected` with a justification, not fixed).
    pub open: BTreeMap<Rating, u64>,
    /// Findings that do not count, and why: `suppressed`, `absent`, `not_affected`, `fixed`.
    pub excluded: BTreeMap<String, u64>,
    /// The open Critical, High and Unknown findings, one per (id, component), at most
    /// `ScanReport::MAX_LISTED`; `open` still counts them all.
    pub findings: Vec<Finding>,
    /// Ids the report states are `not_affected` (with a justification) or `fixed`: a VEX
    /// statement, which closes a finding an earlier report of the same artefact listed. A report
    /// that merely omits a finding closes nothing.
    pub cleared: Vec<String>,
    /// What the report says it scanned, in the order it names them. A report counts for an
    /// artefact only when it names the artefact (see `judge::scan_subject`); one that names
    /// nothing is not a clean scan, whatever it found.
    pub subjects: Vec<ScanSubject>,
}

impl ScanReport {
    pub const MAX_LISTED: usize = 10_000;
}

/// Something a scan names as what it scanned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum ScanSubject {
    /// An image or file by a SHA-256 digest: an image's manifest, repository or config (image
    /// id) digest, or a scanned file's hash.
    Digest(Digest),
    /// Source code at a commit (SARIF `versionControlProvenance`, `trivy repo`), with the
    /// repository when the report names it.
    Commit { repository: Option<String>, commit: String },
}

impl fmt::Display for ScanSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanSubject::Digest(d) => write!(f, "{d}"),
            ScanSubject::Commit { repository: Some(repository), commit } => {
                write!(f, "commit {commit} of {repository}")
            }
            ScanSubject::Commit { repository: None, commit } => write!(f, "commit {commit}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct Finding {
    /// The CVE/GHSA/OSV id for a vulnerability, the rule id for a SARIF result.
    pub id: String,
    pub rating: Rating,
    /// The highest trusted score, when there is one.
    pub score: Option<f64>,
    /// purl or `name@version` of the affected component.
    pub component: Option<String>,
    /// `file:line` for a SARIF result.
    pub location: Option<String>,
    /// A one-line description, at most 200 characters.
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct SbomReport {
    /// `CycloneDX 1.5 JSON`, `CycloneDX 1.4 XML`, `SPDX 2.3 JSON`.
    pub format: String,
    /// The name of what the SBOM describes (metadata component or DESCRIBES package).
    pub subject: Option<String>,
    /// The SHA-256 digests the SBOM says its subject has; the SBOM describes an artefact only
    /// if the artefact's digest is among them.
    pub describes: Vec<Digest>,
    pub components: u64,
    pub with_purl: u64,
    pub with_hashes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct PlanReport {
    pub terraform_version: String,
    /// Planned changes by action: `create`, `update`, `delete`, `replace`, `read`, `no-op`.
    pub changes: BTreeMap<String, u64>,
    /// `resource_drift`: objects changed outside Terraform since the last apply.
    pub drift: Vec<PlanItem>,
    /// Planned changes other than no-op, at most `PlanReport::MAX_LISTED`.
    pub changed: Vec<PlanItem>,
}

impl PlanReport {
    pub const MAX_LISTED: usize = 10_000;
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct PlanItem {
    pub address: String,
    pub resource_type: String,
    /// Terraform's action list, collapsed: `create`, `update`, `delete`, `replace`, `read`.
    pub action: String,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct PerfReport {
    pub metrics: Vec<PerfMetric>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub struct PerfMetric {
    pub name: String,
    pub unit: Option<String>,
    pub baseline: f64,
    pub value: f64,
    /// Whether a larger value is better (throughput) or worse (latency, errors).
    pub higher_is_better: bool,
    /// Only SLO metrics can fail the gate (4.4.3 "on any defined SLO").
    pub slo: bool,
}

impl PerfMetric {
    /// How much worse than the baseline, as a fraction (0.12 = 12% worse); negative is better.
    pub fn regression(&self) -> f64 {
        if self.baseline == 0.0 {
            return if self.value == 0.0 {
                0.0
            } else if (self.value > 0.0) == self.higher_is_better {
                -1.0
            } else {
                f64::INFINITY
            };
        }
        let change = (self.value - self.baseline) / self.baseline.abs();
        if self.higher_is_better { -change } else { change }
    }
}

/// A check Tollgate made on an artefact's signature or provenance, recorded with what was
/// checked so an auditor can see it without re-running it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "snapshot", derive(serde::Serialize, serde::Deserialize))]
pub enum Verification {
    /// A cosign-style detached signature over the artefact bytes.
    KeySignature {
        /// `ecdsa-p256-sha256` or `ed25519`.
        algorithm: String,
        /// SHA-256 of the public key's DER SubjectPublicKeyInfo.
        key: Digest,
    },
    /// A Sigstore bundle verified offline against a trusted root.
    Bundle {
        media_type: String,
        /// The certificate's SAN, or `None` when the bundle was signed with a managed key.
        identity: Option<String>,
        issuer: Option<String>,
        key: Option<Digest>,
        /// The digest of the trusted root file it was verified against.
        trusted_root: Digest,
        /// When the transparency log (or timestamp authority) says it was signed.
        signed_at: Option<Timestamp>,
    },
    /// SLSA v1 provenance in a DSSE envelope whose signature was verified with `key`.
    Provenance { builder: String, build_type: String, repository: String, git_ref: String, commit: String, key: Digest },
}

impl Verification {
    pub fn label(&self) -> &'static str {
        match self {
            Verification::KeySignature { .. } => "signature",
            Verification::Bundle { .. } => "sigstore bundle",
            Verification::Provenance { .. } => "provenance",
        }
    }
}
