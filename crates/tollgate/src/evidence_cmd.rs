//! `tollgate artefact ...` and `tollgate evidence ...`: the shell reads the files, checks the
//! cryptography and parses the evidence; `decide` then judges what was verified against the
//! profile and the release. A file that does not verify or parse is refused before anything is
//! recorded, with the file named.

use std::io::{BufReader, Read};
use std::path::Path;

use serde_json::json;
use sha2::{Digest as _, Sha256};
use tollgate_domain::Command;
use tollgate_domain::evidence::{Digest, EvidenceKind, Report, Verification};
use tollgate_domain::judge;
use tollgate_domain::release::TriageOutcome;
use tollgate_evidence::ParseError;
use tollgate_ledger::SqliteLedger;

use crate::cli::{ArtefactCmd, EvidenceCmd};
use crate::run::{Ctx, Failure, error, release_id};
use crate::view::View;
use tollgate_app::app::App;

/// JSON and XML evidence is read whole up to this size; JUnit is streamed at any size.
const MAX_EVIDENCE: u64 = tollgate_evidence::json::MAX_DOCUMENT_BYTES as u64;
/// Keys, signatures, bundles, trusted roots and provenance envelopes are small.
const MAX_SMALL: u64 = 16 << 20;

fn read(file: &Path, limit: u64) -> Result<Vec<u8>, Failure> {
    crate::files::read(file, limit, "which is more than this kind of file holds")
}

fn text(file: &Path) -> Result<String, Failure> {
    String::from_utf8(read(file, MAX_SMALL)?).map_err(|_| error(format!("{}: not UTF-8 text", file.display())))
}

fn sha256(bytes: &[u8]) -> Digest {
    Digest::from_sha256(Sha256::digest(bytes).into())
}

/// A hashing reader: the JUnit file's digest is computed in the same single pass as parsing.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

fn parse_failed(file: &Path, kind: EvidenceKind, e: ParseError) -> Failure {
    error(format!("{}: not a valid {}: {e}", file.display(), kind.label()))
}

pub(crate) fn fingerprint_only(ctx: &Ctx, key: &Path) -> Result<(), Failure> {
    ctx.print(fingerprint(key)?);
    Ok(())
}

pub(crate) fn artefact(ctx: &Ctx, app: &mut App<SqliteLedger>, cmd: ArtefactCmd) -> Result<(), Failure> {
    match cmd {
        ArtefactCmd::Fingerprint { key } => fingerprint_only(ctx, &key),
        ArtefactCmd::Add {
            id,
            name,
            file,
            digest,
            signature,
            key,
            bundle,
            trusted_root,
            provenance,
            provenance_key,
        } => {
            let id = release_id(&id)?;
            let (digest, bytes) = match (file, digest) {
                (Some(file), _) => {
                    let bytes = crate::files::read(&file, u64::MAX >> 1, "")?;
                    (sha256(&bytes), Some(bytes))
                }
                (None, Some(d)) => (Digest::parse(&d).map_err(|e| error(format!("--digest: {e}")))?, None),
                (None, None) => return Err(error("give --file or --digest")),
            };
            let mut verifications = Vec::new();
            // A bundle is key-signed when --key comes without a detached signature to go with it.
            let bundle_key = if signature.is_none() { key.clone() } else { None };
            if let Some(sig) = signature {
                let key = key.as_deref().ok_or_else(|| error("--signature needs --key"))?;
                verifications.push(key_signature(&digest, bytes.as_deref(), &sig, key)?);
            }
            if let Some(bundle) = bundle {
                let root = trusted_root.as_deref().ok_or_else(|| error("--bundle needs --trusted-root"))?;
                let policy = app.state().releases.get(&id).map(|r| app.state().policy_of(r).clone());
                let policy = policy.ok_or_else(|| error(format!("unknown release {id}")))?;
                verifications.push(sigstore_bundle(
                    &digest,
                    bytes.as_deref(),
                    &bundle,
                    root,
                    bundle_key.as_deref(),
                    &policy,
                )?);
            }
            if let Some(envelope) = provenance {
                let key = provenance_key.as_deref().ok_or_else(|| error("--provenance needs --provenance-key"))?;
                verifications.push(slsa_provenance(&digest, &envelope, key)?);
            }
            let checked: Vec<String> = verifications.iter().map(tollgate_domain::artefact::describe).collect();
            let summary = if checked.is_empty() {
                format!("{id}: artefact {name} {digest}")
            } else {
                format!("{id}: artefact {name} {digest}; verified {}", checked.join("; "))
            };
            let recorded = ctx.execute(app, Command::AddArtefact { release: id, name, digest, verifications })?;
            ctx.done(&recorded, summary);
            Ok(())
        }
    }
}

/// SHA-256 of the key's DER SubjectPublicKeyInfo: the body of its PEM `PUBLIC KEY` block.
fn fingerprint(key: &Path) -> Result<View, Failure> {
    use base64::Engine;
    let pem = text(key)?;
    let body = pem
        .split("-----BEGIN PUBLIC KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END PUBLIC KEY-----").next())
        .ok_or_else(|| error(format!("{}: expected a PEM `PUBLIC KEY` block", key.display())))?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| error(format!("{}: the PEM body is not base64: {e}", key.display())))?;
    let fingerprint = sha256(&der);
    Ok(View {
        json: json!({"key": key.display().to_string(), "fingerprint": fingerprint.to_string()}),
        text: format!("{fingerprint}\n"),
    })
}

/// A Sigstore bundle verified offline against the trusted root: with `--key` as a key-signed
/// bundle, otherwise against each keyless signer the profile names (the first that verifies).
fn sigstore_bundle(
    digest: &Digest,
    bytes: Option<&[u8]>,
    bundle: &Path,
    root: &Path,
    key: Option<&Path>,
    policy: &tollgate_domain::policy::Policy,
) -> Result<Verification, Failure> {
    let bundle_bytes = read(bundle, MAX_SMALL)?;
    let root_bytes = read(root, MAX_SMALL)?;
    let trusted_root = sha256(&root_bytes);
    let mut raw = [0u8; 32];
    hex::decode_to_slice(digest.hex(), &mut raw).map_err(|e| error(e.to_string()))?;
    let artifact = match bytes {
        Some(b) => tollgate_sigstore::Artifact::Bytes(b),
        None => tollgate_sigstore::Artifact::Digest(raw),
    };
    let policies: Vec<(String, tollgate_sigstore::Policy)> = match key {
        Some(k) => vec![(k.display().to_string(), tollgate_sigstore::Policy::Key(text(k)?))],
        None => policy
            .artefacts
            .signers
            .iter()
            .map(|s| {
                let p = tollgate_sigstore::Policy::Identity { san: s.identity.clone(), issuer: s.issuer.clone() };
                (format!("signer {} ({})", s.identity, s.issuer), p)
            })
            .collect(),
    };
    if policies.is_empty() {
        return Err(error(format!(
            "{}: the profile names no Sigstore signers ([artefacts] signers); give --key for a bundle signed with a key",
            bundle.display()
        )));
    }
    let mut failures = Vec::new();
    for (who, p) in &policies {
        match tollgate_sigstore::verify_bundle(&bundle_bytes, artifact, &root_bytes, p) {
            Ok(v) => {
                return Ok(Verification::Bundle {
                    media_type: v.media_type,
                    identity: v.identity,
                    issuer: v.issuer,
                    key: v.key_fingerprint.map(Digest::from_sha256),
                    trusted_root,
                    signed_at: v.signed_at.and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
                });
            }
            Err(e) => failures.push(format!("{who}: {e}")),
        }
    }
    Err(error(format!(
        "{}: the Sigstore bundle does not verify for {digest} against {}: {}",
        bundle.display(),
        root.display(),
        failures.join("; ")
    )))
}

fn key_signature(digest: &Digest, bytes: Option<&[u8]>, sig: &Path, key: &Path) -> Result<Verification, Failure> {
    let signature = read(sig, MAX_SMALL)?;
    let pem = text(key)?;
    let checked = match bytes {
        Some(bytes) => tollgate_sigstore::verify_key_signature(bytes, &signature, &pem),
        None => {
            let mut raw = [0u8; 32];
            hex::decode_to_slice(digest.hex(), &mut raw).map_err(|e| error(e.to_string()))?;
            tollgate_sigstore::verify_key_signature_digest(&raw, &signature, &pem)
        }
    }
    .map_err(|e| {
        error(format!("{}: the signature does not verify for {digest} with {}: {e}", sig.display(), key.display()))
    })?;
    Ok(Verification::KeySignature {
        algorithm: checked.algorithm.as_str().to_owned(),
        key: Digest::from_sha256(checked.key_fingerprint),
    })
}

fn slsa_provenance(digest: &Digest, envelope: &Path, key: &Path) -> Result<Verification, Failure> {
    let bytes = read(envelope, MAX_SMALL)?;
    let pem = text(key)?;
    // The envelope's signature is checked before a byte of its payload is interpreted.
    let dsse = tollgate_sigstore::verify_dsse(&bytes, &pem).map_err(|e| {
        error(format!("{}: the provenance envelope does not verify with {}: {e}", envelope.display(), key.display()))
    })?;
    if dsse.payload_type != tollgate_evidence::provenance::PAYLOAD_TYPE {
        return Err(error(format!(
            "{}: payload type `{}`; expected an in-toto statement ({})",
            envelope.display(),
            dsse.payload_type,
            tollgate_evidence::provenance::PAYLOAD_TYPE
        )));
    }
    let p = tollgate_evidence::provenance::parse(&dsse.payload)
        .map_err(|e| error(format!("{}: the provenance statement: {e}", envelope.display())))?;
    if !p.covers(digest) {
        let subjects: Vec<String> = p.subjects.iter().map(|(n, d)| format!("{n} {d}")).collect();
        return Err(error(format!(
            "{}: the provenance is about {}, not the artefact {digest}",
            envelope.display(),
            subjects.join(", ")
        )));
    }
    Ok(Verification::Provenance {
        builder: p.builder,
        build_type: p.build_type,
        repository: p.repository,
        git_ref: p.git_ref,
        commit: p.commit,
        key: Digest::from_sha256(dsse.key_fingerprint),
    })
}

pub(crate) fn evidence(ctx: &Ctx, app: &mut App<SqliteLedger>, cmd: EvidenceCmd) -> Result<(), Failure> {
    match cmd {
        EvidenceCmd::Add { id, phase, junit, sarif, sbom, vulns, tfplan, perf, digest, rerun_reason } => {
            let id = release_id(&id)?;
            let (kind, file) = [
                (EvidenceKind::Junit, junit),
                (EvidenceKind::Sarif, sarif),
                (EvidenceKind::Sbom, sbom),
                (EvidenceKind::Vulns, vulns),
                (EvidenceKind::Tfplan, tfplan),
                (EvidenceKind::Perf, perf),
            ]
            .into_iter()
            .find_map(|(k, f)| f.map(|f| (k, f)))
            .ok_or_else(|| error("give one evidence file"))?;
            let artefact =
                digest.as_deref().map(Digest::parse).transpose().map_err(|e| error(format!("--digest: {e}")))?;
            let (report, file_digest, bytes) = parse_file(kind, &file)?;
            let summary = format!("{id}: {phase} {} {}: {}", kind.label(), file.display(), judge::summary(&report));
            let command = Command::AddEvidence {
                release: id,
                phase,
                kind,
                artefact,
                file: file.display().to_string(),
                file_digest,
                bytes,
                report: Box::new(report),
                rerun_reason,
            };
            let recorded = ctx.execute(app, command)?;
            // Say straight away whether the file passes, as the gate will judge it now.
            let state = app.state();
            let verdict = state.releases.get(&id).and_then(|r| {
                let e = r.evidence.last()?;
                Some(judge::problems(state.policy_of(r), r, &e.value, ctx.now()))
            });
            let verdict = match verdict {
                Some(problems) if !problems.is_empty() => {
                    format!("\n  does not pass: {}", problems.join("\n  does not pass: "))
                }
                _ => String::new(),
            };
            ctx.done(&recorded, format!("{summary}{verdict}"));
            Ok(())
        }
        EvidenceCmd::Triage { id, finding, accept_risk, remediate: _, until, comment } => {
            let id = release_id(&id)?;
            let until = ctx.time(&until, "--until")?;
            let outcome = if accept_risk { TriageOutcome::AcceptRisk } else { TriageOutcome::Remediate };
            let summary =
                format!("{id}: {finding} triaged ({}) until {}", outcome.key(), tollgate_domain::gate::when(until));
            let recorded =
                ctx.execute(app, Command::TriageFinding { release: id, finding, outcome, until, comment })?;
            ctx.done(&recorded, summary);
            Ok(())
        }
    }
}

/// Parses one evidence file into its report, with the file's own digest and size.
pub fn parse_file(kind: EvidenceKind, file: &Path) -> Result<(Report, Digest, u64), Failure> {
    if kind == EvidenceKind::Junit {
        let f = crate::files::open(file)?;
        let mut reader = Hashing { inner: f, hasher: Sha256::new(), bytes: 0 };
        let report = tollgate_evidence::junit::parse(BufReader::with_capacity(1 << 16, &mut reader))
            .map_err(|e| parse_failed(file, kind, e))?;
        // Whatever the parser did not need is still part of the file's digest.
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| error(format!("{}: {e}", file.display())))?;
        let digest = Digest::from_sha256(reader.hasher.finalize().into());
        return Ok((Report::Tests(report), digest, reader.bytes));
    }
    let bytes = read(file, MAX_EVIDENCE)?;
    let report = match kind {
        EvidenceKind::Sarif => tollgate_evidence::sarif::parse(&bytes).map(Report::Scan),
        EvidenceKind::Vulns => tollgate_evidence::vulns::parse(&bytes).map(Report::Scan),
        EvidenceKind::Sbom => tollgate_evidence::sbom::parse(&bytes).map(Report::Sbom),
        EvidenceKind::Tfplan => tollgate_evidence::tfplan::parse(&bytes).map(Report::Plan),
        EvidenceKind::Perf => tollgate_evidence::perf::parse(&bytes).map(Report::Perf),
        EvidenceKind::Junit => unreachable!("streamed above"),
    }
    .map_err(|e| parse_failed(file, kind, e))?;
    Ok((report, sha256(&bytes), bytes.len() as u64))
}
