//! Vulnerability reports: a snapshot per CycloneDX VEX document in the shared test data, and
//! hand-written Grype, Trivy and osv-scanner reports shaped like the tools' real output.

mod common;

use std::path::PathBuf;

use serde_json::{Value, json};
use tollgate_domain::evidence::{Finding, Rating, ScanReport};
use tollgate_evidence::vulns;
use tollgate_evidence::{Location, ParseError};

fn to_json(report: &ScanReport) -> Value {
    json!({
        "tool": report.tool,
        "open": report.open.iter().map(|(r, n)| (r.key().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "excluded": report.excluded,
        "findings": report.findings.iter().map(|f| json!({
            "id": f.id,
            "rating": f.rating.key(),
            "score": f.score,
            "component": f.component,
            "location": f.location,
            "title": f.title,
        })).collect::<Vec<_>>(),
        "subjects": report.subjects.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn ok(document: &Value) -> ScanReport {
    vulns::parse(document.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(document: &Value) -> ParseError {
    match vulns::parse(document.to_string().as_bytes()) {
        Ok(report) => panic!("expected an error, got {report:?}"),
        Err(e) => e,
    }
}

fn open(report: &ScanReport, rating: Rating) -> u64 {
    report.open.get(&rating).copied().unwrap_or(0)
}

fn excluded(report: &ScanReport, reason: &str) -> u64 {
    report.excluded.get(reason).copied().unwrap_or(0)
}

fn finding<'r>(report: &'r ScanReport, id: &str) -> &'r Finding {
    report.findings.iter().find(|f| f.id == id).unwrap_or_else(|| panic!("{id} is not listed in {report:#?}"))
}

fn path_of(e: &ParseError) -> &str {
    match &e.location {
        Location::Path { path, .. } => path,
        other => panic!("expected a JSON path, got {other:?} ({e})"),
    }
}

#[test]
fn cyclonedx_vex_documents_match_their_snapshots() {
    let Some(dir) = common::testdata("cyclonedx") else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("readable test data folder")
        .map(|entry| entry.expect("readable folder entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("VEX_")))
        .collect();
    files.sort();
    assert!(files.len() >= 39, "expected the CycloneDX VEX examples, found {}", files.len());
    for path in files {
        let file_name = path.file_name().expect("a file name").to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).expect("readable document");
        let outcome = match vulns::parse(&bytes) {
            Ok(report) => json!({ "file": file_name, "report": to_json(&report) }),
            Err(e) => json!({ "file": file_name, "refused": e.to_string() }),
        };
        let name = file_name.trim_end_matches(".json").replace(['.', '-'], "_");
        insta::assert_json_snapshot!(name, outcome);
    }
}

// --- Grype ------------------------------------------------------------------------------------

fn grype_match(id: &str, severity: &str, cvss: Value, artifact: Value) -> Value {
    json!({
        "vulnerability": {
            "id": id,
            "dataSource": format!("https://nvd.nist.gov/vuln/detail/{id}"),
            "namespace": "nvd:cpe",
            "severity": severity,
            "urls": [],
            "description": format!("{id} description\nmore detail"),
            "cvss": cvss,
            "fix": { "versions": ["9.9.9"], "state": "fixed" },
            "advisories": []
        },
        "relatedVulnerabilities": [],
        "matchDetails": [{ "type": "cpe-match", "matcher": "java-matcher", "searchedBy": {}, "found": {} }],
        "artifact": artifact
    })
}

fn grype_report(matches: Vec<Value>, ignored: Vec<Value>) -> Value {
    json!({
        "matches": matches,
        "ignoredMatches": ignored,
        "source": { "type": "image", "target": { "userInput": "app:1.0" } },
        "distro": { "name": "debian", "version": "11", "idLike": [] },
        "descriptor": { "name": "grype", "version": "0.74.0", "configuration": {}, "db": {}, "timestamp": "" }
    })
}

fn log4j() -> Value {
    json!({ "id": "a1", "name": "log4j-core", "version": "2.14.1", "type": "java-archive", "locations": [],
            "language": "java", "licenses": [], "cpes": [], "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", "upstreams": [] })
}

fn deb(name: &str, version: &str) -> Value {
    json!({ "id": name, "name": name, "version": version, "type": "deb", "locations": [], "language": "", "licenses": [], "cpes": [], "purl": "", "upstreams": [] })
}

fn nvd(version: &str, vector: &str, base_score: f64) -> Value {
    json!({ "source": "nvd@nist.gov", "type": "Primary", "version": version, "vector": vector,
            "metrics": { "baseScore": base_score, "exploitabilityScore": 3.9, "impactScore": 5.9 }, "vendorMetadata": {} })
}

#[test]
fn grype_takes_the_highest_trusted_rating() {
    let log4shell = nvd("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0);
    let mut raised = grype_match("GHSA-jfh8-c2jp-5v3q", "Medium", json!([]), deb("libfoo", "1.0"));
    raised["relatedVulnerabilities"] = json!([{
        "id": "CVE-2021-99999", "dataSource": "https://nvd.nist.gov", "namespace": "nvd:cpe", "severity": "Critical",
        "cvss": [nvd("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)]
    }]);
    let report = ok(&grype_report(
        vec![
            grype_match("CVE-2021-44228", "Critical", json!([log4shell.clone()]), log4j()),
            // The same CVE on the same package, found again through another file: one finding.
            grype_match("CVE-2021-44228", "Critical", json!([log4shell]), log4j()),
            grype_match("CVE-2004-0971", "Negligible", json!([]), deb("libkrb5-3", "1.18.3-6+deb11u1")),
            raised,
            grype_match("CVE-2023-0001", "Unknown", json!([]), deb("libbar", "2.0")),
            // A vector that cannot be scored falls back to its stated base score.
            grype_match(
                "CVE-2023-0002",
                "Low",
                json!([nvd("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", 7.5)]),
                deb("libbaz", "3.0"),
            ),
            // A v2 vector without prefix, rated by its version.
            grype_match(
                "CVE-2010-0003",
                "Unknown",
                json!([nvd("2.0", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 0.0)]),
                deb("libold", "0.1"),
            ),
        ],
        vec![],
    ));
    assert_eq!(report.tool, "grype 0.74.0");
    assert_eq!(open(&report, Rating::Critical), 2);
    assert_eq!(open(&report, Rating::High), 2);
    assert_eq!(open(&report, Rating::Low), 1, "Negligible is Low");
    assert_eq!(open(&report, Rating::Unknown), 1);
    assert_eq!(report.open.values().sum::<u64>(), 6);

    let log4shell = finding(&report, "CVE-2021-44228");
    assert_eq!(log4shell.component.as_deref(), Some("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"));
    assert_eq!(log4shell.score, Some(10.0));
    assert_eq!(log4shell.title, "CVE-2021-44228 description");
    let raised = finding(&report, "GHSA-jfh8-c2jp-5v3q");
    assert_eq!((raised.rating, raised.score), (Rating::Critical, Some(9.8)));
    assert_eq!(raised.component.as_deref(), Some("libfoo@1.0"));
    assert_eq!(finding(&report, "CVE-2023-0002").score, Some(7.5));
    assert_eq!(finding(&report, "CVE-2010-0003").score, Some(7.5), "the vector wins over the stated 0.0");
    assert_eq!(finding(&report, "CVE-2023-0001").rating, Rating::Unknown);
    assert_eq!(report.findings.len(), 5, "Low is counted, not listed");
}

#[test]
fn grype_ignored_matches_are_excluded_and_a_fix_state_is_not() {
    let mut suppressed = grype_match("CVE-2022-1111", "High", json!([]), deb("liba", "1"));
    suppressed["appliedIgnoreRules"] = json!([{ "vulnerability": "CVE-2022-1111" }]);
    let mut vex = grype_match("CVE-2022-2222", "Critical", json!([]), deb("libb", "1"));
    vex["appliedIgnoreRules"] = json!([{ "vulnerability": "CVE-2022-2222", "vex-status": "not_affected", "vex-justification": "vulnerable_code_not_present" }]);
    // Ignored in one place but still matched elsewhere: it stays open.
    let mut also_open = grype_match("CVE-2022-3333", "High", json!([]), deb("libc", "1"));
    also_open["appliedIgnoreRules"] = json!([{ "vulnerability": "CVE-2022-3333" }]);
    let report = ok(&grype_report(
        vec![grype_match("CVE-2022-3333", "High", json!([]), deb("libc", "1"))],
        vec![suppressed, vex, also_open],
    ));
    assert_eq!(excluded(&report, "suppressed"), 1);
    assert_eq!(excluded(&report, "not_affected"), 1);
    assert_eq!(open(&report, Rating::High), 1);
    assert_eq!(report.findings.len(), 1);
}

#[test]
fn grype_reports_are_checked() {
    let mut report = grype_report(vec![grype_match("CVE-1", "Severe", json!([]), deb("a", "1"))], vec![]);
    let e = err(&report);
    assert_eq!(path_of(&e), "matches[0].vulnerability.severity");
    assert!(e.message.contains("Negligible"), "{e}");

    report["matches"] = json!([]);
    report["descriptor"]["name"] = json!("syft");
    assert_eq!(path_of(&err(&report)), "descriptor.name");

    report["descriptor"]["name"] = json!("grype");
    let clean = ok(&report);
    assert!(clean.open.is_empty() && clean.findings.is_empty());
}

// --- Trivy ------------------------------------------------------------------------------------

fn trivy_vuln(id: &str, package: &str, version: &str, severity: &str, cvss: Value) -> Value {
    json!({
        "VulnerabilityID": id,
        "PkgID": format!("{package}@{version}"),
        "PkgName": package,
        "PkgIdentifier": { "PURL": format!("pkg:apk/alpine/{package}@{version}?arch=x86_64&distro=3.15.0"), "UID": "31a8b5d1b2e5a6f4" },
        "InstalledVersion": version,
        "FixedVersion": "9.9.9-r0",
        "Status": "fixed",
        "Layer": { "Digest": "sha256:59bf1c3509f33515622619af21ed55bbe26d24913cedbca106468a5fb37a50c3" },
        "SeveritySource": "nvd",
        "PrimaryURL": format!("https://avd.aquasec.com/nvd/{}", id.to_lowercase()),
        "DataSource": { "ID": "alpine", "Name": "Alpine Secdb", "URL": "https://secdb.alpinelinux.org/" },
        "Title": format!("{package}: problem {id}"),
        "Description": "A long description.",
        "Severity": severity,
        "CweIDs": ["CWE-835"],
        "VendorSeverity": { "nvd": 3 },
        "CVSS": cvss,
        "References": []
    })
}

fn trivy_report(results: Value) -> Value {
    json!({
        "SchemaVersion": 2,
        "CreatedAt": "2024-05-01T10:00:00Z",
        "ArtifactName": "alpine:3.15",
        "ArtifactType": "container_image",
        "Metadata": { "OS": { "Family": "alpine", "Name": "3.15.0" } },
        "Results": results
    })
}

#[test]
fn trivy_reads_vulnerabilities_misconfigurations_secrets_and_modified_findings() {
    let openssl = trivy_vuln(
        "CVE-2022-0778",
        "libcrypto1.1",
        "1.1.1l-r7",
        "HIGH",
        json!({ "nvd": { "V2Vector": "AV:N/AC:L/Au:N/C:N/I:N/A:P", "V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "V2Score": 5, "V3Score": 7.5 } }),
    );
    let mut no_purl = trivy_vuln("CVE-2023-5555", "busybox", "1.34.1-r3", "UNKNOWN", json!({}));
    no_purl.as_object_mut().expect("an object").remove("PkgIdentifier");
    no_purl.as_object_mut().expect("an object").remove("CVSS");
    let results = json!([
        {
            "Target": "alpine:3.15 (alpine 3.15.0)",
            "Class": "os-pkgs",
            "Type": "alpine",
            "Vulnerabilities": [
                openssl.clone(),
                openssl,
                // Red Hat's vector says more than Trivy's label.
                trivy_vuln("CVE-2023-1234", "zlib", "1.2.11-r3", "LOW",
                    json!({ "redhat": { "V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": 9.8 } })),
                trivy_vuln("CVE-2024-4444", "expat", "2.4.1-r0", "MEDIUM",
                    json!({ "ghsa": { "V40Vector": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "V40Score": 9.3 } })),
                no_purl
            ],
            "ExperimentalModifiedFindings": [
                { "Type": "vulnerability", "Status": "not_affected", "Statement": "vulnerable_code_not_in_execute_path", "Source": "openvex.json",
                  "Finding": trivy_vuln("CVE-2024-0001", "musl", "1.2.2-r7", "HIGH", json!({})) },
                { "Type": "vulnerability", "Status": "ignored", "Statement": "", "Source": ".trivyignore",
                  "Finding": trivy_vuln("CVE-2024-0002", "musl", "1.2.2-r7", "CRITICAL", json!({})) },
                // not_affected without a statement removes nothing.
                { "Type": "vulnerability", "Status": "not_affected", "Statement": "", "Source": "openvex.json",
                  "Finding": trivy_vuln("CVE-2024-0003", "musl", "1.2.2-r7", "HIGH", json!({})) },
                { "Type": "license", "Status": "ignored", "Source": ".trivyignore", "Finding": { "Severity": "HIGH", "Name": "GPL-3.0" } }
            ]
        },
        {
            "Target": "Dockerfile",
            "Class": "config",
            "Type": "dockerfile",
            "Misconfigurations": [
                { "Type": "Dockerfile Security Check", "ID": "DS002", "AVDID": "AVD-DS-0002", "Title": "Image user should not be 'root'",
                  "Severity": "HIGH", "Status": "FAIL", "CauseMetadata": { "StartLine": 1, "EndLine": 1 } },
                { "Type": "Dockerfile Security Check", "ID": "DS026", "AVDID": "AVD-DS-0026", "Title": "No HEALTHCHECK defined",
                  "Severity": "LOW", "Status": "PASS", "CauseMetadata": {} },
                { "Type": "Dockerfile Security Check", "ID": "DS001", "AVDID": "AVD-DS-0001", "Title": "':latest' tag used",
                  "Severity": "MEDIUM", "Status": "EXCEPTION", "CauseMetadata": {} }
            ]
        },
        {
            "Target": "app/config.yaml",
            "Class": "secret",
            "Secrets": [
                { "RuleID": "aws-access-key-id", "Category": "AWS", "Severity": "CRITICAL", "Title": "AWS Access Key ID",
                  "StartLine": 3, "EndLine": 3, "Match": "AWS_ACCESS_KEY_ID=*****" }
            ]
        }
    ]);
    let report = ok(&trivy_report(results));
    assert_eq!(report.tool, "trivy");
    assert_eq!(open(&report, Rating::Critical), 3, "zlib raised by Red Hat's vector, expat by v4, the secret");
    assert_eq!(open(&report, Rating::High), 3, "openssl once, DS002, CVE-2024-0003");
    assert_eq!(open(&report, Rating::Unknown), 1);
    assert_eq!(open(&report, Rating::None), 1, "a passed check");
    assert_eq!(excluded(&report, "not_affected"), 1);
    assert_eq!(excluded(&report, "suppressed"), 2, "an ignored CVE and a misconfiguration exception");

    let openssl = finding(&report, "CVE-2022-0778");
    assert_eq!(openssl.score, Some(7.5));
    assert_eq!(openssl.component.as_deref(), Some("pkg:apk/alpine/libcrypto1.1@1.1.1l-r7?arch=x86_64&distro=3.15.0"));
    assert_eq!(openssl.title, "libcrypto1.1: problem CVE-2022-0778");
    assert_eq!(finding(&report, "CVE-2023-1234").score, Some(9.8));
    assert_eq!(finding(&report, "CVE-2024-4444").score, Some(9.3));
    assert_eq!(finding(&report, "CVE-2023-5555").component.as_deref(), Some("busybox@1.34.1-r3"));
    assert_eq!(finding(&report, "DS002").location.as_deref(), Some("Dockerfile:1"));
    assert_eq!(finding(&report, "aws-access-key-id").location.as_deref(), Some("app/config.yaml:3"));
}

#[test]
fn trivy_reports_are_checked() {
    let e = err(&json!({ "SchemaVersion": 1, "Results": [] }));
    assert_eq!(e.to_string(), "at `SchemaVersion`: expected Trivy report schema 2, found 1");

    let bad = trivy_report(
        json!([{ "Target": "x", "Vulnerabilities": [trivy_vuln("CVE-1", "a", "1", "SEVERE", json!({}))] }]),
    );
    assert_eq!(path_of(&err(&bad)), "Results[0].Vulnerabilities[0].Severity");

    // No findings and no subject: it parses, but names nothing it scanned (the domain refuses it).
    let nothing = ok(&json!({ "SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem" }));
    assert!(nothing.open.is_empty() && nothing.subjects.is_empty());
}

fn subjects(report: &ScanReport) -> Vec<String> {
    report.subjects.iter().map(ToString::to_string).collect()
}

#[test]
fn reports_name_the_image_or_commit_they_scanned() {
    let (manifest, config, repo) = ("1a".repeat(32), "2b".repeat(32), "3c".repeat(32));
    // Grype: the image's manifest digest, repository digests and image id.
    let mut grype = grype_report(vec![], vec![]);
    grype["source"]["target"] = json!({
        "userInput": "ghcr.io/acme/payments:2.4.0", "imageID": format!("sha256:{config}"),
        "manifestDigest": format!("sha256:{manifest}"), "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "tags": [], "repoDigests": [format!("ghcr.io/acme/payments@sha256:{repo}")]
    });
    assert_eq!(
        subjects(&ok(&grype)),
        [format!("sha256:{manifest}"), format!("sha256:{repo}"), format!("sha256:{config}")]
    );
    // A directory scan names a path, not a digest; a malformed digest is an error.
    let mut directory = grype_report(vec![], vec![]);
    directory["source"] = json!({ "type": "directory", "target": "/src" });
    assert!(ok(&directory).subjects.is_empty());
    grype["source"]["target"]["imageID"] = json!("sha256:abc");
    assert_eq!(path_of(&err(&grype)), "source.target.imageID");

    // Trivy: ArtifactName pinned by digest, RepoDigests, ImageID; `trivy repo` names its commit.
    let mut trivy = trivy_report(json!([]));
    trivy["ArtifactName"] = json!(format!("ghcr.io/acme/payments@sha256:{repo}"));
    trivy["Metadata"]["ImageID"] = json!(format!("sha256:{config}"));
    trivy["Metadata"]["RepoDigests"] = json!([format!("ghcr.io/acme/payments@sha256:{repo}")]);
    assert_eq!(subjects(&ok(&trivy)), [format!("sha256:{repo}"), format!("sha256:{config}")]);
    let commit = "9f1c2e7a".repeat(5);
    let repo_scan = json!({ "SchemaVersion": 2, "ArtifactName": "https://github.com/acme/payments", "ArtifactType": "repository",
        "Metadata": { "RepoURL": "https://github.com/acme/payments", "Branch": "main", "Commit": commit } });
    assert_eq!(subjects(&ok(&repo_scan)), [format!("commit {commit} of https://github.com/acme/payments")]);
    // An image named by tag only names nothing.
    assert!(ok(&trivy_report(json!([]))).subjects.is_empty());

    // CycloneDX VEX: the metadata component's SHA-256 hash, or a purl that pins a digest.
    let vex = json!({ "bomFormat": "CycloneDX", "specVersion": "1.5", "metadata": { "component": {
        "type": "container", "name": "payments", "bom-ref": "payments",
        "purl": format!("pkg:oci/payments@sha256%3A{repo}?repository_url=ghcr.io/acme/payments"),
        "hashes": [{ "alg": "SHA-256", "content": manifest }, { "alg": "SHA-1", "content": "00" }] } },
        "vulnerabilities": [] });
    assert_eq!(subjects(&ok(&vex)), [format!("sha256:{manifest}"), format!("sha256:{repo}")]);
}

// --- OSV ------------------------------------------------------------------------------------

fn osv(id: &str, aliases: &[&str], severity: Value, database_specific: Value) -> Value {
    json!({
        "id": id,
        "aliases": aliases,
        "summary": format!("summary of {id}"),
        "details": "details",
        "modified": "2024-01-01T00:00:00Z",
        "published": "2021-02-15T00:00:00Z",
        "schema_version": "1.6.0",
        "severity": severity,
        "affected": [{ "package": { "ecosystem": "npm", "name": "lodash", "purl": "pkg:npm/lodash" },
                       "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "0" }, { "fixed": "4.17.21" }] }] }],
        "database_specific": database_specific
    })
}

#[test]
fn osv_scanner_groups_aliases_into_one_finding() {
    let report = ok(&json!({
        "results": [{
            "source": { "path": "/app/package-lock.json", "type": "lockfile" },
            "packages": [
                {
                    "package": { "name": "lodash", "version": "4.17.20", "ecosystem": "npm" },
                    "vulnerabilities": [
                        osv("GHSA-35jh-r3h4-6jhm", &["CVE-2021-23337"],
                            json!([{ "type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H" }]),
                            json!({ "severity": "HIGH", "cwe_ids": ["CWE-77"], "github_reviewed": true })),
                        osv("CVE-2021-23337", &["GHSA-35jh-r3h4-6jhm"], json!([]), json!({}))
                    ],
                    "groups": [{ "ids": ["CVE-2021-23337", "GHSA-35jh-r3h4-6jhm"], "aliases": ["CVE-2021-23337", "GHSA-35jh-r3h4-6jhm"], "max_severity": "7.2" }]
                },
                {
                    "package": { "name": "minimist", "version": "1.2.5", "ecosystem": "npm" },
                    "vulnerabilities": [osv("GHSA-xvch-5gv4-984h", &[], json!([]), json!({ "severity": "CRITICAL" }))],
                    "groups": [{ "ids": ["GHSA-xvch-5gv4-984h"], "aliases": [], "max_severity": "" }]
                },
                {
                    "package": { "name": "left-pad", "version": "1.0.0", "ecosystem": "npm" },
                    "vulnerabilities": [
                        osv("GHSA-v4v4-v4v4-v4v4", &[], json!([{ "type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N" }]), json!({})),
                        osv("GHSA-mmmm-mmmm-mmmm", &[], json!([]), json!({ "severity": "MODERATE" })),
                        osv("PYSEC-2024-1", &[], json!([]), json!({})),
                        // A vector Tollgate cannot score, and nothing else: Unknown, not None.
                        osv("GHSA-bbbb-bbbb-bbbb", &[], json!([{ "type": "CVSS_V3", "score": "CVSS:3.1/AV:N" }]), json!({ "severity": "whatever" }))
                    ],
                    "groups": [{ "ids": [], "aliases": [], "max_severity": "" }],
                    "license_violations": ["GPL-3.0"]
                }
            ]
        }]
    }));
    assert_eq!(report.tool, "osv-scanner");
    assert_eq!(open(&report, Rating::High), 1, "the GHSA and its CVE alias are one finding");
    assert_eq!(open(&report, Rating::Critical), 2);
    assert_eq!(open(&report, Rating::Medium), 1, "MODERATE is Medium");
    assert_eq!(open(&report, Rating::Unknown), 2);
    let lodash = finding(&report, "CVE-2021-23337");
    assert_eq!((lodash.score, lodash.component.as_deref()), (Some(7.2), Some("npm/lodash@4.17.20")));
    assert_eq!(lodash.title, "summary of GHSA-35jh-r3h4-6jhm");
    assert_eq!(finding(&report, "GHSA-v4v4-v4v4-v4v4").score, Some(9.3));
    assert_eq!(finding(&report, "GHSA-bbbb-bbbb-bbbb").rating, Rating::Unknown);
}

#[test]
fn bare_osv_records_list_one_finding_per_affected_package() {
    let mut record = osv(
        "GHSA-aaaa-bbbb-cccc",
        &[],
        json!([{ "type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P" }]),
        json!({}),
    );
    record["affected"] = json!([
        { "package": { "ecosystem": "PyPI", "name": "django" } },
        { "package": { "ecosystem": "PyPI", "name": "django" } },
        { "package": { "ecosystem": "Debian:11", "name": "python-django" } }
    ]);
    let single = ok(&record);
    assert_eq!(single.tool, "OSV");
    assert_eq!(open(&single, Rating::High), 2);
    let components: Vec<_> = single.findings.iter().map(|f| f.component.as_deref()).collect();
    assert_eq!(components, [Some("Debian:11/python-django"), Some("PyPI/django")]);

    let list = ok(&json!([
        record,
        osv("GHSA-dddd-eeee-ffff", &[], json!([{ "type": "Ubuntu", "score": "negligible" }]), json!({}))
    ]));
    assert_eq!(open(&list, Rating::High), 2);
    assert_eq!(open(&list, Rating::Low), 1);
}

#[test]
fn osv_documents_are_checked() {
    let unknown = osv("GHSA-1", &[], json!([{ "type": "CVSS_V5", "score": "CVSS:5.0/..." }]), json!({}));
    let e = err(&unknown);
    assert_eq!(path_of(&e), "severity[0].type");
    assert!(e.message.contains("CVSS_V4"), "{e}");

    let mut future = osv("GHSA-2", &[], json!([]), json!({}));
    future["schema_version"] = json!("2.0.0");
    assert_eq!(path_of(&err(&future)), "schema_version");

    let bad_max = json!({ "results": [{ "packages": [{ "package": { "name": "a" }, "vulnerabilities": [], "groups": [{ "ids": ["X"], "max_severity": "high" }] }] }] });
    assert_eq!(path_of(&err(&bad_max)), "results[0].packages[0].groups[0]");
}

// --- CycloneDX ---------------------------------------------------------------------------------

fn cdx(vulnerabilities: Value) -> Value {
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": { "component": { "type": "application", "name": "shop", "version": "3.1", "bom-ref": "app" } },
        "components": [
            { "type": "library", "name": "jackson-databind", "version": "2.10.0", "bom-ref": "jackson",
              "purl": "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0",
              "components": [{ "type": "library", "name": "inner", "version": "1", "bom-ref": "inner" }] }
        ],
        "vulnerabilities": vulnerabilities
    })
}

fn vex(id: &str, analysis: Value, ratings: Value, affects: &[&str]) -> Value {
    json!({
        "id": id,
        "source": { "name": "NVD", "url": format!("https://nvd.nist.gov/vuln/detail/{id}") },
        "ratings": ratings,
        "description": format!("{id} described"),
        "analysis": analysis,
        "affects": affects.iter().map(|r| json!({ "ref": r })).collect::<Vec<_>>()
    })
}

#[test]
fn cyclonedx_analysis_states_exclude_only_with_their_reasons() {
    let high = json!([{ "source": { "name": "NVD" }, "score": 7.5, "severity": "high", "method": "CVSSv31", "vector": "AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N" }]);
    let report = ok(&cdx(json!([
        vex(
            "CVE-1",
            json!({ "state": "not_affected", "justification": "code_not_reachable" }),
            high.clone(),
            &["jackson"]
        ),
        vex("CVE-2", json!({ "state": "not_affected", "detail": "trust us" }), high.clone(), &["jackson"]),
        vex(
            "CVE-3",
            json!({ "state": "false_positive", "detail": "the scanner matched the wrong package" }),
            high.clone(),
            &["jackson"]
        ),
        vex("CVE-4", json!({ "state": "false_positive" }), high.clone(), &["jackson"]),
        vex("CVE-5", json!({ "state": "resolved" }), high.clone(), &["jackson"]),
        vex("CVE-6", json!({ "state": "resolved_with_pedigree" }), high.clone(), &["jackson"]),
        vex("CVE-7", json!({ "state": "exploitable", "response": ["update"] }), high.clone(), &["jackson"]),
        vex("CVE-8", json!({ "state": "in_triage" }), high.clone(), &["jackson"]),
        vex("CVE-9", json!({}), high, &["jackson"]),
    ])));
    assert_eq!(report.tool, "CycloneDX VEX");
    assert_eq!(excluded(&report, "not_affected"), 2);
    assert_eq!(excluded(&report, "fixed"), 2);
    assert_eq!(open(&report, Rating::High), 5);
    let ids: Vec<_> = report.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["CVE-2", "CVE-4", "CVE-7", "CVE-8", "CVE-9"]);
    assert_eq!(
        report.findings[0].component.as_deref(),
        Some("pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0")
    );
}

#[test]
fn cyclonedx_ratings_take_the_highest_trusted_and_refs_resolve() {
    let report = ok(&cdx(json!([
        vex(
            "CVE-10",
            json!({}),
            json!([
                // OWASP scores are on another scale: only the label counts.
                { "score": 9.9, "severity": "low", "method": "OWASP" },
                { "severity": "medium", "method": "CVSSv4", "vector": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N" }
            ]),
            &["app"]
        ),
        vex("CVE-11", json!({}), json!([{ "severity": "info" }, { "severity": "none" }]), &["inner"]),
        vex(
            "CVE-12",
            json!({}),
            json!([{ "severity": "unknown" }]),
            &["urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#other"]
        ),
        vex("CVE-13", json!({}), json!([]), &[]),
        // Exploitable for some versions, not affected for others: open.
        vex("CVE-14", json!({ "state": "exploitable" }), json!([{ "severity": "critical" }]), &["app"]),
        vex(
            "CVE-14",
            json!({ "state": "not_affected", "justification": "code_not_present" }),
            json!([{ "severity": "none" }]),
            &["app"]
        ),
    ])));
    let v4 = finding(&report, "CVE-10");
    assert_eq!((v4.rating, v4.score, v4.component.as_deref()), (Rating::Critical, Some(9.3), Some("shop@3.1")));
    assert_eq!(open(&report, Rating::None), 1);
    assert_eq!(
        finding(&report, "CVE-12").component.as_deref(),
        Some("urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#other")
    );
    assert_eq!(finding(&report, "CVE-13").component, None);
    assert_eq!(finding(&report, "CVE-14").rating, Rating::Critical);
    assert_eq!(open(&report, Rating::Unknown), 2);
    assert_eq!(open(&report, Rating::Critical), 2);
    assert!(report.excluded.is_empty());
}

#[test]
fn cyclonedx_documents_are_checked() {
    let e = err(&cdx(json!([vex(
        "CVE-1",
        json!({ "state": "not_affected", "justification": "we_said_so" }),
        json!([]),
        &[]
    )])));
    assert_eq!(path_of(&e), "vulnerabilities[0].analysis.justification");
    assert!(e.message.contains("code_not_reachable"), "{e}");

    let e = err(&cdx(json!([vex("CVE-1", json!({ "state": "fine" }), json!([]), &[])])));
    assert_eq!(path_of(&e), "vulnerabilities[0].analysis.state");

    let e = err(&cdx(json!([vex("CVE-1", json!({}), json!([{ "severity": "severe" }]), &[])])));
    assert_eq!(path_of(&e), "vulnerabilities[0].ratings[0].severity");

    let e = err(&cdx(json!([vex("CVE-1", json!({}), json!([{ "method": "CVSSv5", "score": 3 }]), &[])])));
    assert_eq!(path_of(&e), "vulnerabilities[0].ratings[0].method");

    let mut old = cdx(json!([]));
    old["specVersion"] = json!("1.3");
    assert_eq!(
        err(&old).to_string(),
        "at `specVersion`: expected CycloneDX 1.4, 1.5 or 1.6 (vulnerabilities arrived in 1.4), found \"1.3\""
    );

    let mut sbom = cdx(json!([]));
    sbom.as_object_mut().expect("an object").remove("vulnerabilities");
    assert!(err(&sbom).message.contains("it is an SBOM"));

    assert!(ok(&cdx(json!([]))).open.is_empty(), "an empty list is a clean report");
}

// --- Recognising the format --------------------------------------------------------------------

#[test]
fn unrecognised_documents_are_refused_listing_the_formats() {
    let listed = |e: &ParseError| e.message.contains("Grype JSON") && e.message.contains("CycloneDX 1.4-1.6");
    for document in [&b"{\"hello\": 1}"[..], b"[]", b"42"] {
        let e = vulns::parse(document).unwrap_err();
        assert!(matches!(e.location, Location::Document) && listed(&e), "{e}");
    }
    let e = vulns::parse(b"  <?xml version=\"1.0\"?><bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\"/>").unwrap_err();
    assert!(e.message.contains("XML") && listed(&e), "{e}");
    let e = vulns::parse(br#"{"version": "2.1.0", "runs": []}"#).unwrap_err();
    assert!(e.message.contains("SARIF"), "{e}");
    let e = vulns::parse(br#"{"spdxVersion": "SPDX-2.3"}"#).unwrap_err();
    assert!(e.message.contains("SPDX"), "{e}");
    let e = vulns::parse(br#"{"matches": [], "matches": []}"#).unwrap_err();
    assert!(e.message.contains("duplicate key"), "{e}");
}
