//! Transparency log entries (Rekor v1 and v2) as bundles carry them.
//!
//! An entry proves the signature was published. It is believed when: its log is in the
//! trusted root; its body (the canonicalised entry the log stored) records exactly this
//! bundle's signature, signer and artefact digest (or DSSE payload); and the log vouches for
//! it with an inclusion proof up to a checkpoint the log signed, and/or (Rekor v1) a signed
//! entry timestamp over the body, integrated time, index and log id. Only a verified signed
//! entry timestamp makes the integrated time a trusted time.
//!
//! Entry kinds understood: Rekor v1 `hashedrekord` 0.0.1, `dsse` 0.0.1, `intoto` 0.0.2;
//! Rekor v2 `hashedrekord` 0.0.2 (also for DSSE, where it records the digest of the PAE)
//! and `dsse` 0.0.2. Any other kind is refused.

use crate::checkpoint;
use crate::dsse::{Envelope, only_members};
use crate::error::{Result, SigError};
use crate::json::{self, Node, decode_base64, encode_base64};
use crate::keys::{EcdsaEncoding, decode_pem, sha256};
use crate::merkle;
use crate::time::Instant;
use crate::trust::{Log, TrustedRoot};

const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub struct Entry {
    pub log_index: u64,
    pub log_id: Vec<u8>,
    pub kind: String,
    pub version: String,
    integrated_time: i64,
    promise: Option<Vec<u8>>,
    proof: Option<Proof>,
    body: Vec<u8>,
}

#[derive(Debug)]
struct Proof {
    log_index: u64,
    root: [u8; 32],
    tree_size: u64,
    hashes: Vec<[u8; 32]>,
    checkpoint: String,
}

/// Who signed, as the bundle says.
pub enum Signer<'a> {
    /// DER of the signing certificate.
    Certificate(&'a [u8]),
    /// DER SubjectPublicKeyInfo of the signing key.
    Key(&'a [u8]),
}

/// What was signed, as the bundle says.
pub enum Content<'a> {
    Message { artifact_sha256: [u8; 32], signature: &'a [u8] },
    Dsse(&'a Envelope),
}

/// A verified entry: its log, and the integrated time when a signed entry timestamp
/// vouches for it.
pub struct Verified<'r> {
    pub log: &'r Log,
    pub integrated_time: Option<Instant>,
}

/// Reads one `TransparencyLogEntry` of a bundle.
pub fn read_entry(node: &Node<'_>) -> Result<Entry> {
    only_members(
        node,
        &[
            "logIndex",
            "logId",
            "kindVersion",
            "integratedTime",
            "inclusionPromise",
            "inclusionProof",
            "canonicalizedBody",
        ],
    )?;
    let log_index = node.required("logIndex")?.as_non_negative()?;
    let log_id_node = node.required("logId")?;
    only_members(&log_id_node, &["keyId"])?;
    let log_id = log_id_node.required("keyId")?.as_base64()?;
    let kind_version = node.required("kindVersion")?;
    only_members(&kind_version, &["kind", "version"])?;
    let kind = kind_version.required("kind")?.as_str()?.to_owned();
    let version = kind_version.required("version")?.as_str()?.to_owned();
    let integrated_time = match node.get("integratedTime") {
        Some(t) => {
            let value = t.as_i64()?;
            if value < 0 {
                return Err(t.error(format!("expected a non-negative integer, found {value}")));
            }
            value
        }
        None => 0,
    };
    let promise = match node.get("inclusionPromise") {
        Some(p) => {
            only_members(&p, &["signedEntryTimestamp"])?;
            Some(p.required("signedEntryTimestamp")?.as_base64()?)
        }
        None => None,
    };
    let proof = node.get("inclusionProof").map(|p| read_proof(&p)).transpose()?;
    let body = node.required("canonicalizedBody")?.as_base64()?;
    Ok(Entry { log_index, log_id, kind, version, integrated_time, promise, proof, body })
}

fn read_proof(node: &Node<'_>) -> Result<Proof> {
    only_members(node, &["logIndex", "rootHash", "treeSize", "hashes", "checkpoint"])?;
    let log_index = node.required("logIndex")?.as_non_negative()?;
    let tree_size = node.required("treeSize")?.as_non_negative()?;
    let root = hash32(&node.required("rootHash")?)?;
    let hashes_node = node.required("hashes")?;
    let hashes = hashes_node.items(merkle::MAX_PROOF_HASHES)?.map(|h| hash32(&h)).collect::<Result<Vec<_>>>()?;
    let checkpoint = node
        .get("checkpoint")
        .ok_or_else(|| node.error("the inclusion proof has no checkpoint: nothing signed ties it to the log"))?;
    only_members(&checkpoint, &["envelope"])?;
    let checkpoint = checkpoint.required("envelope")?.as_str()?.to_owned();
    Ok(Proof { log_index, root, tree_size, hashes, checkpoint })
}

fn hash32(node: &Node<'_>) -> Result<[u8; 32]> {
    let bytes = node.as_base64()?;
    bytes.try_into().map_err(|b: Vec<u8>| node.error(format!("expected a 32-byte hash, found {} bytes", b.len())))
}

impl Entry {
    fn is_rekor_v2(&self) -> bool {
        self.version == "0.0.2" && (self.kind == "hashedrekord" || self.kind == "dsse")
    }

    /// Verifies the entry against the trusted root and what the bundle says was signed.
    /// `proof_required`: bundles from v0.2 on must carry an inclusion proof; v0.1 ones a
    /// signed entry timestamp.
    pub fn verify<'r>(
        &self,
        root: &'r TrustedRoot,
        signer: &Signer<'_>,
        content: &Content<'_>,
        proof_required: bool,
        now: Instant,
    ) -> Result<Verified<'r>> {
        let log = root.tlog(&self.log_id).ok_or_else(|| {
            SigError::invalid(format!(
                "the entry is from a transparency log the trusted root does not list (log id {})",
                encode_base64(&self.log_id)
            ))
        })?;
        self.check_body(signer, content)?;
        let integrated_time = self.verify_promise(log, proof_required, now)?;
        match &self.proof {
            Some(proof) => self.verify_proof(proof, log)?,
            None if proof_required => {
                return Err(SigError::invalid("the entry has no inclusion proof, which bundles from v0.2 on require"));
            }
            None => {}
        }
        Ok(Verified { log, integrated_time })
    }

    /// The signed entry timestamp, if any; `Some(integrated time)` when it verifies.
    fn verify_promise(&self, log: &Log, proof_required: bool, now: Instant) -> Result<Option<Instant>> {
        let Some(set) = &self.promise else {
            if !proof_required {
                return Err(SigError::invalid(
                    "a v0.1 bundle's entry needs a signed entry timestamp (inclusion promise)",
                ));
            }
            return Ok(None);
        };
        if self.is_rekor_v2() {
            return Err(SigError::invalid("a Rekor v2 entry cannot carry a signed entry timestamp"));
        }
        if self.integrated_time == 0 {
            return Err(SigError::invalid("the entry has a signed entry timestamp but no integrated time"));
        }
        // RFC 8785 canonical JSON of the four fields, keys in sorted order.
        let payload = format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            encode_base64(&self.body),
            self.integrated_time,
            hex::encode(&self.log_id),
            self.log_index
        );
        log.key()?.verify_message(payload.as_bytes(), set, EcdsaEncoding::Der).map_err(|e| {
            SigError::invalid(format!("the signed entry timestamp does not verify with the log's key ({e})"))
        })?;
        let t = Instant::from_secs(self.integrated_time);
        if t > now {
            return Err(SigError::invalid(format!("the entry's integrated time {t} is in the future (now is {now})")));
        }
        if !log.validity.contains(t) {
            return Err(SigError::invalid(format!(
                "the entry's integrated time {t} is outside the log key's validity ({})",
                log.validity
            )));
        }
        Ok(Some(t))
    }

    fn verify_proof(&self, proof: &Proof, log: &Log) -> Result<()> {
        if self.is_rekor_v2() && proof.log_index != self.log_index {
            return Err(SigError::invalid(format!(
                "the inclusion proof is for index {}, the entry is at {}",
                proof.log_index, self.log_index
            )));
        }
        merkle::verify_inclusion(
            &merkle::leaf_hash(&self.body),
            proof.log_index,
            proof.tree_size,
            &proof.hashes,
            &proof.root,
        )?;
        let checkpoint = checkpoint::verify(&proof.checkpoint, log)?;
        if checkpoint.size != proof.tree_size || checkpoint.root != proof.root {
            return Err(SigError::invalid(format!(
                "the inclusion proof does not lead to the checkpoint's root: the proof is for a tree of {} with root {}, \
                 the checkpoint signs a tree of {} with root {}",
                proof.tree_size,
                encode_base64(&proof.root),
                checkpoint.size,
                encode_base64(&checkpoint.root)
            )));
        }
        Ok(())
    }

    fn check_body(&self, signer: &Signer<'_>, content: &Content<'_>) -> Result<()> {
        let value = json::parse(&self.body, MAX_BODY_BYTES, "log entry body")?;
        let body = Node::root(&value);
        let body_kind = body.required("kind")?.as_str()?;
        let body_version = body.required("apiVersion")?.as_str()?;
        if body_kind != self.kind || body_version != self.version {
            return Err(SigError::invalid(format!(
                "the entry says it is {} {} but its body is {body_kind} {body_version}",
                self.kind, self.version
            )));
        }
        let spec = body.required("spec")?;
        match (self.kind.as_str(), self.version.as_str(), content) {
            ("hashedrekord", "0.0.1", Content::Message { artifact_sha256, signature }) => {
                hashedrekord_v001(&spec, signer, artifact_sha256, signature)
            }
            ("hashedrekord", "0.0.2", Content::Message { artifact_sha256, signature }) => {
                let spec = spec.required("hashedRekordV002")?;
                hashedrekord_v002(&spec, signer, artifact_sha256, signature)
            }
            ("hashedrekord", "0.0.2", Content::Dsse(envelope)) => {
                // Rekor v2 logs a DSSE signature as a hashed record of the PAE.
                let spec = spec.required("hashedRekordV002")?;
                hashedrekord_v002(&spec, signer, &sha256(&envelope.pae()), single_signature(envelope)?)
            }
            ("dsse", "0.0.1", Content::Dsse(envelope)) => dsse_v001(&spec, signer, envelope),
            ("dsse", "0.0.2", Content::Dsse(envelope)) => {
                let spec = spec.required("dsseV002")?;
                dsse_v002(&spec, signer, envelope)
            }
            ("intoto", "0.0.2", Content::Dsse(envelope)) => intoto_v002(&spec, signer, envelope),
            (kind @ ("hashedrekord" | "dsse" | "intoto"), version, content) if known(kind, version) => {
                Err(SigError::invalid(format!(
                    "the entry is a {kind} {version} record, which cannot record a {}",
                    match content {
                        Content::Message { .. } => "message signature",
                        Content::Dsse(_) => "DSSE envelope",
                    }
                )))
            }
            (kind, version, _) => {
                Err(SigError::unsupported(format!("log entries of kind {kind} {version} are not supported")))
            }
        }
        .map_err(|e| e.context("the log entry body"))
    }
}

fn known(kind: &str, version: &str) -> bool {
    matches!((kind, version), ("hashedrekord", "0.0.1" | "0.0.2") | ("dsse", "0.0.1" | "0.0.2") | ("intoto", "0.0.2"))
}

fn single_signature(envelope: &Envelope) -> Result<&[u8]> {
    match envelope.signatures.as_slice() {
        [only] => Ok(only),
        other => {
            Err(SigError::invalid(format!("a bundle's DSSE envelope must have one signature, it has {}", other.len())))
        }
    }
}

fn hashedrekord_v001(spec: &Node<'_>, signer: &Signer<'_>, digest: &[u8; 32], signature: &[u8]) -> Result<()> {
    let hash = spec.required("data")?;
    let hash = hash.required("hash")?;
    let algorithm = hash.required("algorithm")?;
    if algorithm.as_str()? != "sha256" {
        return Err(SigError::unsupported(format!(
            "the recorded digest algorithm {:?} is not supported",
            algorithm.as_str()?
        )));
    }
    let value = hash.required("value")?;
    let recorded = hex::decode(value.as_str()?).map_err(|_| value.error("expected a hex digest"))?;
    same_digest(&recorded, digest)?;
    let sig = spec.required("signature")?;
    same_signature(&sig.required("content")?.as_base64()?, signature)?;
    let key = sig.required("publicKey")?;
    same_signer_pem(&key.required("content")?.as_base64()?, signer)
}

fn hashedrekord_v002(spec: &Node<'_>, signer: &Signer<'_>, digest: &[u8; 32], signature: &[u8]) -> Result<()> {
    let data = spec.required("data")?;
    let algorithm = data.required("algorithm")?;
    if algorithm.as_str()? != "SHA2_256" {
        return Err(SigError::unsupported(format!(
            "the recorded digest algorithm {:?} is not supported",
            algorithm.as_str()?
        )));
    }
    same_digest(&data.required("digest")?.as_base64()?, digest)?;
    let sig = spec.required("signature")?;
    same_signature(&sig.required("content")?.as_base64()?, signature)?;
    same_verifier(&sig.required("verifier")?, signer)
}

fn dsse_v001(spec: &Node<'_>, signer: &Signer<'_>, envelope: &Envelope) -> Result<()> {
    same_payload_hash(&spec.required("payloadHash")?, &envelope.payload)?;
    let recorded = spec.required("signatures")?;
    let recorded: Vec<Node<'_>> = recorded.items(crate::dsse::MAX_SIGNATURES)?.collect();
    let [only] = recorded.as_slice() else {
        return Err(SigError::invalid(format!(
            "the entry records {} signatures, the envelope has one",
            recorded.len()
        )));
    };
    same_signature(&only.required("signature")?.as_base64()?, single_signature(envelope)?)?;
    same_signer_pem(&only.required("verifier")?.as_base64()?, signer)
}

fn dsse_v002(spec: &Node<'_>, signer: &Signer<'_>, envelope: &Envelope) -> Result<()> {
    let hash = spec.required("payloadHash")?;
    let algorithm = hash.required("algorithm")?;
    if algorithm.as_str()? != "SHA2_256" {
        return Err(SigError::unsupported(format!(
            "the recorded digest algorithm {:?} is not supported",
            algorithm.as_str()?
        )));
    }
    same_digest(&hash.required("digest")?.as_base64()?, &sha256(&envelope.payload))
        .map_err(|_| SigError::invalid("the entry records a different DSSE payload"))?;
    let recorded = spec.required("signatures")?;
    let recorded: Vec<Node<'_>> = recorded.items(crate::dsse::MAX_SIGNATURES)?.collect();
    let [only] = recorded.as_slice() else {
        return Err(SigError::invalid(format!(
            "the entry records {} signatures, the envelope has one",
            recorded.len()
        )));
    };
    same_signature(&only.required("content")?.as_base64()?, single_signature(envelope)?)?;
    same_verifier(&only.required("verifier")?, signer)
}

fn intoto_v002(spec: &Node<'_>, signer: &Signer<'_>, envelope: &Envelope) -> Result<()> {
    let content = spec.required("content")?;
    same_payload_hash(&content.required("payloadHash")?, &envelope.payload)?;
    let recorded = content.required("envelope")?;
    if recorded.required("payloadType")?.as_str()? != envelope.payload_type {
        return Err(SigError::invalid("the entry records a different DSSE payload type"));
    }
    // intoto 0.0.2 stores the envelope's base64 strings base64-encoded once more.
    if let Some(payload) = recorded.get("payload") {
        let once = payload.as_base64()?;
        if once != encode_base64(&envelope.payload).as_bytes() {
            return Err(SigError::invalid("the entry records a different DSSE payload"));
        }
    }
    let sigs = recorded.required("signatures")?;
    let sigs: Vec<Node<'_>> = sigs.items(crate::dsse::MAX_SIGNATURES)?.collect();
    let [only] = sigs.as_slice() else {
        return Err(SigError::invalid(format!("the entry records {} signatures, the envelope has one", sigs.len())));
    };
    let once = only.required("sig")?.as_base64()?;
    let twice = std::str::from_utf8(&once).ok().and_then(|s| decode_base64(s).ok()).unwrap_or_default();
    same_signature(&twice, single_signature(envelope)?)?;
    same_signer_pem(&only.required("publicKey")?.as_base64()?, signer)
}

fn same_payload_hash(hash: &Node<'_>, payload: &[u8]) -> Result<()> {
    let algorithm = hash.required("algorithm")?;
    if algorithm.as_str()? != "sha256" {
        return Err(SigError::unsupported(format!(
            "the recorded digest algorithm {:?} is not supported",
            algorithm.as_str()?
        )));
    }
    let value = hash.required("value")?;
    let recorded = hex::decode(value.as_str()?).map_err(|_| value.error("expected a hex digest"))?;
    if recorded != sha256(payload) {
        return Err(SigError::invalid("the entry records a different DSSE payload"));
    }
    Ok(())
}

fn same_digest(recorded: &[u8], digest: &[u8; 32]) -> Result<()> {
    if recorded == digest {
        Ok(())
    } else {
        Err(SigError::invalid(format!(
            "the entry records the digest sha256:{}, not the artefact's sha256:{}",
            hex::encode(recorded),
            hex::encode(digest)
        )))
    }
}

fn same_signature(recorded: &[u8], signature: &[u8]) -> Result<()> {
    if recorded == signature {
        Ok(())
    } else {
        Err(SigError::invalid("the entry records a different signature than the bundle's"))
    }
}

/// A PEM certificate or public key, as Rekor v1 records the signer.
fn same_signer_pem(pem: &[u8], signer: &Signer<'_>) -> Result<()> {
    let text = std::str::from_utf8(pem).map_err(|_| SigError::malformed("the recorded signer is not PEM text"))?;
    let (label, der) = decode_pem(text).map_err(|e| e.context("the recorded signer"))?;
    let same = match signer {
        Signer::Certificate(cert) => label == "CERTIFICATE" && der == *cert,
        Signer::Key(spki) => label == "PUBLIC KEY" && der == *spki,
    };
    if same { Ok(()) } else { Err(different_signer(signer)) }
}

/// A Rekor v2 `Verifier`: `x509Certificate.rawBytes` or `publicKey.rawBytes`.
fn same_verifier(verifier: &Node<'_>, signer: &Signer<'_>) -> Result<()> {
    let same = match signer {
        Signer::Certificate(cert) => match verifier.get("x509Certificate") {
            Some(c) => c.required("rawBytes")?.as_base64()? == *cert,
            None => false,
        },
        Signer::Key(spki) => match verifier.get("publicKey") {
            Some(k) => k.required("rawBytes")?.as_base64()? == *spki,
            None => false,
        },
    };
    if same { Ok(()) } else { Err(different_signer(signer)) }
}

fn different_signer(signer: &Signer<'_>) -> SigError {
    SigError::invalid(match signer {
        Signer::Certificate(_) => "the entry records a different signing certificate than the bundle's",
        Signer::Key(_) => "the entry records a different public key than the bundle's",
    })
}
