//! Signed certificate timestamps embedded in a Fulcio certificate (RFC 6962 §3.2): proof that
//! a CT log of the trusted root saw the certificate, so a mis-issued one would be public.
//!
//! An embedded SCT signs the *precertificate*: the TBS certificate without the SCT
//! extension, plus the SHA-256 of the issuer's public key. At least one SCT must come from a
//! CT log of the trusted root, fall inside that log's validity, and verify; an SCT from a
//! log the root does not know is ignored, but one from a known log that fails is an error.

use crate::asn1;
use crate::cert::{Cert, SCT_LIST};
use crate::error::{Result, SigError};
use crate::keys::{EcdsaEncoding, HashAlg, sha256};
use crate::time::Instant;
use crate::trust::TrustedRoot;

const MAX_SCTS: usize = 32;

struct Sct<'a> {
    log_id: &'a [u8],
    timestamp_ms: u64,
    extensions: &'a [u8],
    hash: u8,
    signature: &'a [u8],
}

/// Verifies the certificate's embedded SCTs; returns how many verified.
pub fn verify_embedded(leaf: &Cert, issuer: &Cert, root: &TrustedRoot) -> Result<usize> {
    let Some(ext) = leaf.extension(SCT_LIST)? else {
        return Err(SigError::invalid("the signing certificate carries no signed certificate timestamp"));
    };
    let list = asn1::read_only(ext, asn1::OCTET_STRING)?.content;
    let scts = parse_list(list)?;
    let precert_tbs = tbs_without_sct(leaf.tbs_raw())?;
    let issuer_key_hash = sha256(issuer.key()?.spki_der());
    let mut verified = 0;
    let mut unknown = Vec::new();
    for (i, sct) in scts.iter().enumerate() {
        let Some(log) = root.ctlog(sct.log_id) else {
            unknown.push(crate::json::encode_base64(sct.log_id));
            continue;
        };
        let at = Instant::from_millis(sct.timestamp_ms);
        if !log.validity.contains(at) {
            return Err(SigError::invalid(format!(
                "SCT {i} from {} is dated {at}, outside the log's validity ({})",
                log.base_url, log.validity
            )));
        }
        let hash = match sct.hash {
            4 => HashAlg::Sha256,
            5 => HashAlg::Sha384,
            6 => HashAlg::Sha512,
            other => return Err(SigError::unsupported(format!("SCT {i} uses TLS hash algorithm {other}"))),
        };
        let signed = signed_data(sct, &issuer_key_hash, &precert_tbs)?;
        log.key()?
            .verify_digest(&hash.digest(&signed), sct.signature, EcdsaEncoding::Der)
            .map_err(|e| SigError::invalid(format!("SCT {i} from {} does not verify ({e})", log.base_url)))?;
        verified += 1;
    }
    if verified == 0 {
        return Err(SigError::invalid(format!(
            "no signed certificate timestamp is from a CT log of the trusted root (logs named: {})",
            unknown.join(", ")
        )));
    }
    Ok(verified)
}

/// The TLS-encoded `SignedCertificateTimestampList`.
fn parse_list(data: &[u8]) -> Result<Vec<Sct<'_>>> {
    let mut r = Reader(data);
    let mut list = Reader(r.vec(2)?);
    r.end()?;
    let mut out = Vec::new();
    while !list.0.is_empty() {
        if out.len() == MAX_SCTS {
            return Err(SigError::malformed(format!("more than {MAX_SCTS} SCTs")));
        }
        let mut sct = Reader(list.vec(2)?);
        let version = sct.u8()?;
        if version != 0 {
            return Err(SigError::unsupported(format!("SCT version {version} is not supported")));
        }
        let log_id = sct.take(32)?;
        let timestamp_ms = u64::from_be_bytes(sct.take(8)?.try_into().map_err(|_| bad_sct())?);
        let extensions = sct.vec(2)?;
        let hash = sct.u8()?;
        let _signature_algorithm = sct.u8()?;
        let signature = sct.vec(2)?;
        sct.end()?;
        out.push(Sct { log_id, timestamp_ms, extensions, hash, signature });
    }
    Ok(out)
}

/// RFC 6962 §3.2 `digitally-signed` input for a precertificate entry.
fn signed_data(sct: &Sct<'_>, issuer_key_hash: &[u8; 32], tbs: &[u8]) -> Result<Vec<u8>> {
    let tbs_len = u32::try_from(tbs.len()).ok().filter(|&n| n < 1 << 24).ok_or_else(bad_sct)?;
    let ext_len = u16::try_from(sct.extensions.len()).map_err(|_| bad_sct())?;
    let mut out = Vec::with_capacity(tbs.len() + sct.extensions.len() + 64);
    out.push(0); // sct_version v1
    out.push(0); // signature_type certificate_timestamp
    out.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    out.extend_from_slice(tbs);
    out.extend_from_slice(&ext_len.to_be_bytes());
    out.extend_from_slice(sct.extensions);
    Ok(out)
}

/// The TBS certificate DER with the SCT list extension removed, as the log saw it.
fn tbs_without_sct(tbs: &[u8]) -> Result<Vec<u8>> {
    let tbs = asn1::read_only(tbs, asn1::SEQUENCE)?;
    let mut content = Vec::with_capacity(tbs.content.len());
    for field in asn1::children(tbs.content, 16)? {
        if field.tag != 0xa3 {
            content.extend_from_slice(field.raw);
            continue;
        }
        let list = asn1::read_only(field.content, asn1::SEQUENCE)?;
        let mut kept = Vec::new();
        for ext in asn1::children(list.content, 256)? {
            let (oid, _) = asn1::read(ext.content)?;
            asn1::expect_tag(&oid, asn1::OID)?;
            if oid.content != SCT_LIST.as_bytes() {
                kept.extend_from_slice(ext.raw);
            }
        }
        content.extend_from_slice(&asn1::encode(0xa3, &asn1::encode(asn1::SEQUENCE, &kept)));
    }
    Ok(asn1::encode(asn1::SEQUENCE, &content))
}

fn bad_sct() -> SigError {
    SigError::malformed("a signed certificate timestamp is truncated or oversized")
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad_sct());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    /// A vector with a big-endian length prefix of `len_bytes` bytes.
    fn vec(&mut self, len_bytes: usize) -> Result<&'a [u8]> {
        let len = self.take(len_bytes)?.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        self.take(len)
    }

    fn end(&self) -> Result<()> {
        if self.0.is_empty() { Ok(()) } else { Err(bad_sct()) }
    }
}
