//! The Sigstore trusted root (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`, or
//! the `trustedroot.v0.2+json` spelling): which transparency logs, CT logs, certificate
//! authorities and timestamp authorities to believe, each for a validity period.
//!
//! The root is read strictly, as the protobuf JSON reader of the reference clients does:
//! unknown members, a key or authority without the start of its validity, a log without a
//! log id are refused, so that a malformed root cannot quietly widen what is trusted. A key
//! of a type this crate cannot use is kept, and refused only if something names it.

use crate::cert::Cert;
use crate::dsse::only_members;
use crate::error::{Result, SigError};
use crate::json::{self, Node};
use crate::keys::PublicKey;
use crate::time::{Instant, Validity};

/// Larger trusted roots are refused unread.
pub const MAX_TRUSTED_ROOT_BYTES: usize = 4 * 1024 * 1024;
const MAX_ENTRIES: usize = 256;
const MAX_CHAIN: usize = 10;

const MEDIA_TYPES: [&str; 2] =
    ["application/vnd.dev.sigstore.trustedroot+json;version=0.1", "application/vnd.dev.sigstore.trustedroot.v0.2+json"];

/// A transparency log or CT log.
#[derive(Debug)]
pub struct Log {
    pub base_url: String,
    pub key_id: Vec<u8>,
    key: std::result::Result<PublicKey, SigError>,
    pub validity: Validity,
}

impl Log {
    pub fn key(&self) -> Result<&PublicKey> {
        self.key.as_ref().map_err(|e| e.clone().context(format!("the key of log {}", self.base_url)))
    }

    /// The name the log signs checkpoints with: its URL without scheme or path.
    pub fn note_name(&self) -> &str {
        let rest = self.base_url.split_once("://").map_or(self.base_url.as_str(), |(_, rest)| rest);
        rest.split('/').next().unwrap_or(rest)
    }
}

/// A certificate or timestamp authority: its chain, leaf-most first, root last.
#[derive(Debug)]
pub struct Authority {
    pub uri: String,
    pub chain: Vec<Cert>,
    pub validity: Validity,
}

#[derive(Debug)]
pub struct TrustedRoot {
    pub tlogs: Vec<Log>,
    pub ctlogs: Vec<Log>,
    pub certificate_authorities: Vec<Authority>,
    pub timestamp_authorities: Vec<Authority>,
}

impl TrustedRoot {
    pub fn parse(bytes: &[u8]) -> Result<TrustedRoot> {
        let value = json::parse(bytes, MAX_TRUSTED_ROOT_BYTES, "trusted root")?;
        let root = Node::root(&value);
        TrustedRoot::read(&root).map_err(|e| e.context("trusted root"))
    }

    fn read(root: &Node<'_>) -> Result<TrustedRoot> {
        only_members(root, &["mediaType", "tlogs", "certificateAuthorities", "ctlogs", "timestampAuthorities"])?;
        let media_type = root.required("mediaType")?;
        if !MEDIA_TYPES.contains(&media_type.as_str()?) {
            return Err(SigError::unsupported(format!(
                "at `mediaType`: {:?} is not a trusted root version this verifier understands ({})",
                media_type.as_str()?,
                MEDIA_TYPES.join(", ")
            )));
        }
        Ok(TrustedRoot {
            tlogs: read_list(root, "tlogs", read_log)?,
            ctlogs: read_list(root, "ctlogs", read_log)?,
            certificate_authorities: read_list(root, "certificateAuthorities", read_authority)?,
            timestamp_authorities: read_list(root, "timestampAuthorities", read_authority)?,
        })
    }

    pub fn tlog(&self, key_id: &[u8]) -> Option<&Log> {
        self.tlogs.iter().find(|log| log.key_id == key_id)
    }

    pub fn ctlog(&self, key_id: &[u8]) -> Option<&Log> {
        self.ctlogs.iter().find(|log| log.key_id == key_id)
    }
}

fn read_list<T>(root: &Node<'_>, key: &str, read: fn(&Node<'_>) -> Result<T>) -> Result<Vec<T>> {
    match root.get(key) {
        None => Ok(Vec::new()),
        Some(list) => list.items(MAX_ENTRIES)?.map(|item| read(&item)).collect(),
    }
}

fn read_log(node: &Node<'_>) -> Result<Log> {
    only_members(node, &["baseUrl", "hashAlgorithm", "publicKey", "logId", "checkpointKeyId", "operator"])?;
    let base_url = node.required("baseUrl")?.as_str()?.to_owned();
    if let Some(hash) = node.get("hashAlgorithm")
        && hash.as_str()? != "SHA2_256"
    {
        return Err(hash.error(format!("only SHA2_256 logs are supported, found {:?}", hash.as_str()?)));
    }
    let log_id = node.required("logId")?;
    only_members(&log_id, &["keyId"])?;
    let key_id = log_id.required("keyId")?.as_base64()?;
    if key_id.is_empty() {
        return Err(log_id.error("the log id is empty"));
    }
    let public_key = node.required("publicKey")?;
    only_members(&public_key, &["rawBytes", "keyDetails", "validFor"])?;
    let validity = read_validity(&public_key.required("validFor")?)?;
    let raw = public_key.required("rawBytes")?.as_base64()?;
    let details_node = public_key.required("keyDetails")?;
    let details = details_node.as_str()?;
    let key = read_log_key(&raw, details).map_err(|e| e.context(format!("at `{}`", details_node.path())));
    Ok(Log { base_url, key_id, key, validity })
}

/// A log key by its declared type; the parsed key must be of that type.
fn read_log_key(raw: &[u8], details: &str) -> Result<PublicKey> {
    let expected = match details {
        "PKIX_ECDSA_P256_SHA_256" => "ECDSA P-256",
        "PKIX_ECDSA_P384_SHA_384" => "ECDSA P-384",
        "PKIX_ED25519" => "Ed25519",
        d if d.starts_with("PKIX_RSA_PKCS1V15") => "RSA",
        other => return Err(SigError::unsupported(format!("key type {other} is not supported"))),
    };
    let key = PublicKey::from_spki_der(raw)?;
    if key.describe() != expected {
        return Err(SigError::malformed(format!("the key is {}, but is declared as {details}", key.describe())));
    }
    Ok(key)
}

fn read_authority(node: &Node<'_>) -> Result<Authority> {
    only_members(node, &["subject", "uri", "certChain", "validFor", "operator"])?;
    let uri = node.opt_str("uri")?.unwrap_or_default().to_owned();
    let validity = read_validity(&node.required("validFor")?)?;
    let chain_node = node.required("certChain")?;
    only_members(&chain_node, &["certificates"])?;
    let certificates = chain_node.required("certificates")?;
    let mut chain = Vec::new();
    for cert in certificates.items(MAX_CHAIN)? {
        only_members(&cert, &["rawBytes"])?;
        let raw = cert.required("rawBytes")?;
        chain.push(Cert::from_der(&raw.as_base64()?).map_err(|e| e.context(format!("at `{}`", raw.path())))?);
    }
    if chain.is_empty() {
        return Err(certificates.error("the authority has no certificates"));
    }
    Ok(Authority { uri, chain, validity })
}

/// A `TimeRange`. The start is required: a missing bound must not read as "always".
fn read_validity(node: &Node<'_>) -> Result<Validity> {
    only_members(node, &["start", "end"])?;
    let instant = |key: &'static str| -> Result<Option<Instant>> {
        match node.get(key) {
            None => Ok(None),
            Some(n) => Instant::parse_rfc3339(n.as_str()?).map(Some).map_err(|e| n.error(e)),
        }
    };
    let start = instant("start")?.ok_or_else(|| node.error("the validity period has no start"))?;
    let end = instant("end")?;
    if end.is_some_and(|end| end < start) {
        return Err(node.error("the validity period ends before it starts"));
    }
    Ok(Validity { start, end })
}
