//! Sigstore bundles (`application/vnd.dev.sigstore.bundle+json;version=0.1|0.2|0.3`, and the
//! `bundle.v0.3+json` spelling), verified offline against a trusted root, following the
//! Sigstore client specification:
//!
//! 1. The bundle's signer matches the policy: a Fulcio certificate for an identity policy,
//!    a public key for a key policy. Never one for the other.
//! 2. The signature verifies: over the artefact (message signature, whose recorded digest
//!    must also be the artefact's), or over a DSSE envelope whose in-toto statement names
//!    the artefact's SHA-256 among its subjects.
//! 3. Exactly one transparency log entry, which records this signature and signer and is
//!    vouched for by its log (see `rekor`).
//! 4. Trusted times: the integrated time of a verified signed entry timestamp, and every
//!    RFC 3161 timestamp (each must verify). At least one is required; Rekor v2 entries have
//!    no integrated time, so they need a timestamp.
//! 5. For a certificate: at every trusted time, the certificate chains to a Fulcio CA of the
//!    trusted root valid then (certificate and CA validity, the CA's trusted-root period);
//!    it is for code signing; an SCT from a trusted CT log verifies; its subject alternative
//!    name and OIDC issuer equal the policy's exactly.
//!
//! The bundle JSON is read strictly: duplicate keys, unknown members, unknown media types
//! and unknown entry kinds are refused.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::cert::{self, CODE_SIGNING, Cert};
use crate::dsse::{self, Envelope, only_members};
use crate::error::{Result, SigError};
use crate::json::{self, Node};
use crate::keys::{EcdsaEncoding, HashAlg, PublicKey, sha256};
use crate::rekor::{self, Content, Signer};
use crate::sct;
use crate::time::Instant;
use crate::trust::TrustedRoot;
use crate::tsa;

/// Larger bundles are refused unread.
pub const MAX_BUNDLE_BYTES: usize = 32 * 1024 * 1024;
const MAX_CERTIFICATES: usize = 10;
const MAX_TLOG_ENTRIES: usize = 8;
const MAX_TIMESTAMPS: usize = 16;
const MAX_SUBJECTS: usize = 10_000;

const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const IN_TOTO_STATEMENTS: [&str; 2] = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];

/// The artefact a bundle is checked against: its bytes, or only their SHA-256. Signatures
/// by Ed25519 or P-384 keys cover the bytes and need [`Artifact::Bytes`].
#[derive(Clone, Copy, Debug)]
pub enum Artifact<'a> {
    Bytes(&'a [u8]),
    Digest([u8; 32]),
}

impl Artifact<'_> {
    fn sha256(&self) -> [u8; 32] {
        match self {
            Artifact::Bytes(bytes) => sha256(bytes),
            Artifact::Digest(digest) => *digest,
        }
    }
}

/// Who must have signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Keyless signing: the Fulcio certificate's subject alternative name and OIDC issuer,
    /// both compared exactly.
    Identity { san: String, issuer: String },
    /// A long-lived key, PEM `PUBLIC KEY`.
    Key(String),
}

/// What a verified bundle establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBundle {
    pub media_type: String,
    /// The certificate's subject alternative name (identity policy).
    pub identity: Option<String>,
    /// The certificate's OIDC issuer (identity policy).
    pub issuer: Option<String>,
    /// SHA-256 of the signing key's SPKI DER (key policy).
    pub key_fingerprint: Option<[u8; 32]>,
    /// The earliest trusted time of signing, Unix seconds.
    pub signed_at: Option<i64>,
    /// The DSSE payload (the in-toto statement) of an attestation bundle.
    pub statement: Option<Vec<u8>>,
}

/// Verifies a bundle as of now. See the module documentation for the rules.
pub fn verify_bundle(
    bundle_json: &[u8],
    artifact: Artifact<'_>,
    trusted_root_json: &[u8],
    policy: &Policy,
) -> Result<VerifiedBundle> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    verify_bundle_at(bundle_json, artifact, trusted_root_json, policy, now)
}

/// [`verify_bundle`] with "now" given (Unix seconds): log entries dated after it are refused.
pub fn verify_bundle_at(
    bundle_json: &[u8],
    artifact: Artifact<'_>,
    trusted_root_json: &[u8],
    policy: &Policy,
    now: i64,
) -> Result<VerifiedBundle> {
    let root = TrustedRoot::parse(trusted_root_json)?;
    let value = json::parse(bundle_json, MAX_BUNDLE_BYTES, "bundle")?;
    let bundle = Bundle::read(&Node::root(&value))?;
    bundle.verify(artifact, &root, policy, Instant::from_secs(now))
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    V01,
    V02,
    V03,
}

enum Material {
    Certificate { leaf: Box<Cert> },
    PublicKey,
}

enum Signed {
    Message { digest: Option<[u8; 32]>, signature: Vec<u8> },
    Dsse(Envelope),
}

struct Bundle {
    media_type: String,
    version: Version,
    material: Material,
    entries: Vec<rekor::Entry>,
    timestamps: Vec<Vec<u8>>,
    signed: Signed,
}

impl Bundle {
    fn read(root: &Node<'_>) -> Result<Bundle> {
        only_members(root, &["mediaType", "verificationMaterial", "messageSignature", "dsseEnvelope"])?;
        let media_type_node = root.required("mediaType")?;
        let media_type = media_type_node.as_str()?.to_owned();
        let version = match media_type.as_str() {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Version::V01,
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Version::V02,
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Version::V03,
            other => {
                return Err(SigError::unsupported(format!(
                    "at `mediaType`: {other:?} is not a bundle version this verifier understands (0.1, 0.2, 0.3)"
                )));
            }
        };
        let vm = root.required("verificationMaterial")?;
        only_members(
            &vm,
            &["publicKey", "x509CertificateChain", "certificate", "tlogEntries", "timestampVerificationData"],
        )?;
        let material = read_material(&vm)?;
        let entries_node = vm
            .get("tlogEntries")
            .ok_or_else(|| vm.error("the bundle has no transparency log entry (`tlogEntries`)"))?;
        let entries =
            entries_node.items(MAX_TLOG_ENTRIES)?.map(|e| rekor::read_entry(&e)).collect::<Result<Vec<_>>>()?;
        let timestamps = match vm.get("timestampVerificationData") {
            None => Vec::new(),
            Some(data) => {
                only_members(&data, &["rfc3161Timestamps"])?;
                match data.get("rfc3161Timestamps") {
                    None => Vec::new(),
                    Some(list) => list
                        .items(MAX_TIMESTAMPS)?
                        .map(|t| {
                            only_members(&t, &["signedTimestamp"])?;
                            t.required("signedTimestamp")?.as_base64()
                        })
                        .collect::<Result<Vec<_>>>()?,
                }
            }
        };
        let signed = match (root.get("messageSignature"), root.get("dsseEnvelope")) {
            (Some(message), None) => read_message(&message)?,
            (None, Some(envelope)) => Signed::Dsse(dsse::read_envelope(&envelope, dsse::Base64::Standard)?),
            _ => return Err(root.error("expected exactly one of `messageSignature` and `dsseEnvelope`")),
        };
        Ok(Bundle { media_type, version, material, entries, timestamps, signed })
    }

    fn signature(&self) -> Result<&[u8]> {
        match &self.signed {
            Signed::Message { signature, .. } => Ok(signature),
            Signed::Dsse(envelope) => match envelope.signatures.as_slice() {
                [only] => Ok(only),
                other => Err(SigError::invalid(format!(
                    "a bundle's DSSE envelope must carry exactly one signature, this one has {}",
                    other.len()
                ))),
            },
        }
    }

    fn verify(
        &self,
        artifact: Artifact<'_>,
        root: &TrustedRoot,
        policy: &Policy,
        now: Instant,
    ) -> Result<VerifiedBundle> {
        let signer_key = self.signer_key(policy)?;
        let signature = self.signature()?;
        let artifact_sha256 = artifact.sha256();

        // 2. The signature over the artefact or the envelope.
        let statement = match &self.signed {
            Signed::Message { digest, signature } => {
                if let Some(digest) = digest
                    && *digest != artifact_sha256
                {
                    return Err(SigError::invalid(format!(
                        "the bundle's message digest is sha256:{}, the artefact's is sha256:{}",
                        hex::encode(digest),
                        hex::encode(artifact_sha256)
                    )));
                }
                verify_artifact_signature(&signer_key, artifact, signature)?;
                None
            }
            Signed::Dsse(envelope) => {
                signer_key
                    .verify_message(&envelope.pae(), signature, EcdsaEncoding::DerOrFixed)
                    .map_err(|e| SigError::invalid(format!("the DSSE envelope's signature does not verify ({e})")))?;
                check_statement(envelope, &artifact_sha256)?;
                Some(envelope.payload.clone())
            }
        };

        // 3. The transparency log entry.
        let [entry] = self.entries.as_slice() else {
            return Err(SigError::invalid(format!(
                "expected exactly one transparency log entry, the bundle has {}",
                self.entries.len()
            )));
        };
        let signer = match &self.material {
            Material::Certificate { leaf } => Signer::Certificate(&leaf.der),
            Material::PublicKey => Signer::Key(signer_key.spki_der()),
        };
        let content = match &self.signed {
            Signed::Message { .. } => Content::Message { artifact_sha256, signature },
            Signed::Dsse(envelope) => Content::Dsse(envelope),
        };
        let logged = entry
            .verify(root, &signer, &content, self.version >= Version::V02, now)
            .map_err(|e| e.context(format!("transparency log entry {}", entry.log_index)))?;

        // 4. Trusted times.
        let mut times: Vec<Instant> = logged.integrated_time.into_iter().collect();
        for (i, stamp) in self.timestamps.iter().enumerate() {
            let t = tsa::verify(stamp, signature, root).map_err(|e| e.context(format!("RFC 3161 timestamp {i}")))?;
            if logged.integrated_time.is_none() && !logged.log.validity.contains(t) {
                return Err(SigError::invalid(format!(
                    "RFC 3161 timestamp {i}: {t} is outside the validity of the log key ({})",
                    logged.log.validity
                )));
            }
            times.push(t);
        }
        let Some(&signed_at) = times.iter().min() else {
            return Err(SigError::invalid(
                "no trusted time of signing: the log entry has no signed entry timestamp and the bundle has no RFC 3161 timestamp",
            ));
        };

        // 5. The signer.
        let mut verified = VerifiedBundle {
            media_type: self.media_type.clone(),
            identity: None,
            issuer: None,
            key_fingerprint: None,
            signed_at: Some(signed_at.secs),
            statement,
        };
        match (&self.material, policy) {
            (Material::Certificate { leaf }, Policy::Identity { san, issuer }) => {
                for &t in &times {
                    verify_certificate_at(leaf, root, t)?;
                }
                let (found_san, found_issuer) = check_identity(leaf, san, issuer)?;
                verified.identity = Some(found_san);
                verified.issuer = Some(found_issuer);
            }
            (Material::PublicKey, Policy::Key(_)) => verified.key_fingerprint = Some(signer_key.fingerprint()),
            _ => return Err(SigError::invalid("the bundle's signer does not fit the policy")),
        }
        Ok(verified)
    }

    /// The key that signed, after checking the bundle's signer kind fits the policy.
    fn signer_key(&self, policy: &Policy) -> Result<PublicKey> {
        match (&self.material, policy) {
            (Material::Certificate { leaf }, Policy::Identity { .. }) => leaf.key().cloned(),
            (Material::PublicKey, Policy::Key(pem)) => {
                PublicKey::from_pem(pem).map_err(|e| e.context("the policy's key"))
            }
            (Material::PublicKey, Policy::Identity { .. }) => Err(SigError::invalid(
                "the bundle is signed with a long-lived public key, but the policy requires a certificate for an identity",
            )),
            (Material::Certificate { .. }, Policy::Key(_)) => Err(SigError::invalid(
                "the bundle is signed with a certificate, but the policy requires a specific public key",
            )),
        }
    }
}

fn read_material(vm: &Node<'_>) -> Result<Material> {
    let present: Vec<&str> =
        ["publicKey", "x509CertificateChain", "certificate"].into_iter().filter(|k| vm.get(k).is_some()).collect();
    let [kind] = present.as_slice() else {
        return Err(vm.error("expected exactly one of `publicKey`, `x509CertificateChain` and `certificate`"));
    };
    match *kind {
        "publicKey" => {
            let key = vm.required("publicKey")?;
            only_members(&key, &["hint"])?;
            key.opt_str("hint")?;
            Ok(Material::PublicKey)
        }
        "certificate" => {
            let cert = vm.required("certificate")?;
            Ok(Material::Certificate { leaf: Box::new(read_certificate(&cert)?) })
        }
        _ => {
            let chain = vm.required("x509CertificateChain")?;
            only_members(&chain, &["certificates"])?;
            let certificates = chain.required("certificates")?;
            let mut certs = Vec::new();
            for cert in certificates.items(MAX_CERTIFICATES)? {
                certs.push(read_certificate(&cert)?);
            }
            let Some((leaf, rest)) = certs.split_first() else {
                return Err(certificates.error("the certificate chain is empty"));
            };
            // The trusted root supplies the CA certificates; a root shipped in the bundle
            // would invite trusting what the bundle brought along.
            if let Some(root) = rest.iter().find(|c| c.is_self_signed()) {
                return Err(certificates.error(format!(
                    "the chain contains the root certificate `{}`; bundles must not carry trust anchors",
                    root.subject()
                )));
            }
            Ok(Material::Certificate { leaf: Box::new(leaf.clone()) })
        }
    }
}

fn read_certificate(node: &Node<'_>) -> Result<Cert> {
    only_members(node, &["rawBytes"])?;
    let raw = node.required("rawBytes")?;
    Cert::from_der(&raw.as_base64()?).map_err(|e| raw.error(e))
}

fn read_message(node: &Node<'_>) -> Result<Signed> {
    only_members(node, &["messageDigest", "signature"])?;
    let signature = node.required("signature")?.as_base64()?;
    if signature.is_empty() {
        return Err(node.error("the signature is empty"));
    }
    let digest = match node.get("messageDigest") {
        None => None,
        Some(d) => {
            only_members(&d, &["algorithm", "digest"])?;
            let algorithm = d.required("algorithm")?;
            if algorithm.as_str()? != "SHA2_256" {
                return Err(SigError::unsupported(format!(
                    "at `{}`: message digest algorithm {:?} is not supported",
                    algorithm.path(),
                    algorithm.as_str()?
                )));
            }
            let digest = d.required("digest")?;
            let bytes: [u8; 32] =
                digest.as_base64()?.try_into().map_err(|_| digest.error("expected a 32-byte SHA-256 digest"))?;
            Some(bytes)
        }
    };
    Ok(Signed::Message { digest, signature })
}

/// A message signature over the artefact with the signer's usual hash. With only the
/// artefact's SHA-256 at hand, only keys that hash with SHA-256 can be checked.
fn verify_artifact_signature(key: &PublicKey, artifact: Artifact<'_>, signature: &[u8]) -> Result<()> {
    let result = match (key.message_hash(), artifact) {
        (Some(HashAlg::Sha256), artifact) => key.verify_digest(&artifact.sha256(), signature, EcdsaEncoding::Der),
        (_, Artifact::Bytes(bytes)) => key.verify_message(bytes, signature, EcdsaEncoding::Der),
        (_, Artifact::Digest(_)) => {
            return Err(SigError::unsupported(format!(
                "the signer's {} key signs the artefact bytes, not their SHA-256: verify with the artefact itself",
                key.describe()
            )));
        }
    };
    result.map_err(|e| SigError::invalid(format!("the bundle's signature over the artefact does not verify ({e})")))
}

/// The envelope is an in-toto statement one of whose subjects is the artefact.
fn check_statement(envelope: &Envelope, artifact_sha256: &[u8; 32]) -> Result<()> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(SigError::unsupported(format!(
            "the DSSE payload type is {:?}; only in-toto statements ({IN_TOTO_PAYLOAD_TYPE}) can name the artefact",
            envelope.payload_type
        )));
    }
    let value = json::parse(&envelope.payload, MAX_BUNDLE_BYTES, "in-toto statement")?;
    let statement = Node::root(&value);
    let statement_type = statement.required("_type")?;
    if !IN_TOTO_STATEMENTS.contains(&statement_type.as_str()?) {
        return Err(SigError::unsupported(format!(
            "at `_type`: the in-toto statement type {:?} is not supported",
            statement_type.as_str()?
        )));
    }
    let wanted = hex::encode(artifact_sha256);
    let subjects = statement.required("subject")?;
    let mut seen = Vec::new();
    for subject in subjects.items(MAX_SUBJECTS)? {
        let digest = subject.required("digest")?;
        if let Some(sha) = digest.opt_str("sha256")? {
            if sha.eq_ignore_ascii_case(&wanted) {
                return Ok(());
            }
            seen.push(sha.to_owned());
        }
    }
    Err(SigError::invalid(format!(
        "the in-toto statement's subjects (sha256: {}) do not include the artefact's sha256:{wanted}",
        if seen.is_empty() { "none".to_owned() } else { seen.join(", ") }
    )))
}

/// The Fulcio certificate at a trusted time `t`: a CA of the trusted root valid then issues
/// it, it is for code signing, and a trusted CT log has seen it.
fn verify_certificate_at(leaf: &Cert, root: &TrustedRoot, t: Instant) -> Result<()> {
    if root.certificate_authorities.is_empty() {
        return Err(SigError::invalid("the trusted root lists no certificate authority"));
    }
    let mut reasons = Vec::new();
    for ca in &root.certificate_authorities {
        if !ca.validity.contains(t) {
            reasons.push(format!("{} is trusted {}, not at {t}", ca.uri, ca.validity));
            continue;
        }
        match cert::validate_path(leaf, &ca.chain, t) {
            Ok(Some(issuer)) => {
                leaf.check_end_entity(CODE_SIGNING, "code signing")?;
                sct::verify_embedded(leaf, issuer, root)?;
                return Ok(());
            }
            Ok(None) => reasons.push(format!("{}: the signing certificate is itself a trust anchor", ca.uri)),
            Err(e) => reasons.push(format!("{}: {e}", ca.uri)),
        }
    }
    Err(SigError::invalid(format!(
        "the signing certificate does not chain to a certificate authority of the trusted root at {t} ({})",
        reasons.join("; ")
    )))
}

fn check_identity(leaf: &Cert, san: &str, issuer: &str) -> Result<(String, String)> {
    let sans = leaf.san_values()?;
    if !sans.iter().any(|s| s == san) {
        return Err(SigError::invalid(format!(
            "the certificate's subject alternative name is {}, the policy requires {san:?}",
            if sans.is_empty() { "absent".to_owned() } else { format!("{:?}", sans.join(", ")) }
        )));
    }
    let found = leaf
        .fulcio_issuer()?
        .ok_or_else(|| SigError::invalid("the certificate names no OIDC issuer (extension 1.3.6.1.4.1.57264.1.8)"))?;
    if found != issuer {
        return Err(SigError::invalid(format!(
            "the certificate's OIDC issuer is {found:?}, the policy requires {issuer:?}"
        )));
    }
    Ok((san.to_owned(), found))
}
