//! RFC 3161 timestamps: a timestamp authority's signed statement that the bundle's signature
//! existed at `genTime`. Bundles hold either the whole `TimeStampResp` or only its token.
//!
//! A timestamp counts when: the token is CMS SignedData over a TSTInfo; its message imprint
//! is the hash of the bundle's signature; the signed attributes name TSTInfo as content and
//! carry its digest; the signer is the signing certificate of a timestamp authority of the
//! trusted root (matched by issuer and serial, or key identifier), whose signature verifies;
//! `genTime` lies in that authority's validity period; and the authority's chain is valid at
//! `genTime` with the signing certificate marked for time stamping. Certificates embedded in
//! the token are never trusted: only the trusted root's are used. The ESS signing-certificate
//! attribute is not checked: issuer and serial (or key id) already bind the signer to a
//! certificate of the trusted root.

use der::Decode;
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier};
use x509_cert::name::Name;

use crate::asn1::{self, Tlv};
use crate::cert::{self, Cert, TIME_STAMPING};
use crate::error::{Result, SigError};
use crate::keys::HashAlg;
use crate::time::Instant;
use crate::trust::{Authority, TrustedRoot};

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE_ATTR: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST_ATTR: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

/// Larger timestamps are refused unread.
pub const MAX_TIMESTAMP_BYTES: usize = 64 * 1024;

/// How the signer names its certificate.
enum SignerId<'a> {
    IssuerSerial { issuer: Name, serial: &'a [u8] },
    KeyId(&'a [u8]),
}

struct Token<'a> {
    tst_info: &'a [u8],
    gen_time: Instant,
    imprint_alg: HashAlg,
    imprint: &'a [u8],
    signer: SignerId<'a>,
    digest_alg: HashAlg,
    signed_attrs: Vec<u8>,
    attrs: Tlv<'a>,
    signature_alg: AlgorithmIdentifierOwned,
    signature: &'a [u8],
}

/// Verifies a timestamp over `signature` (the bundle's signature bytes); returns `genTime`.
pub fn verify(der: &[u8], signature: &[u8], root: &TrustedRoot) -> Result<Instant> {
    if der.len() > MAX_TIMESTAMP_BYTES {
        return Err(SigError::malformed(format!(
            "the timestamp is {} bytes; at most {MAX_TIMESTAMP_BYTES}",
            der.len()
        )));
    }
    let token = parse(der)?;
    if token.imprint != token.imprint_alg.digest(signature).as_slice() {
        return Err(SigError::invalid(format!(
            "the timestamp covers {} {}, not the bundle's signature",
            token.imprint_alg.name(),
            hex::encode(token.imprint)
        )));
    }
    check_signed_attributes(&token)?;
    if root.timestamp_authorities.is_empty() {
        return Err(SigError::invalid("the trusted root lists no timestamp authority"));
    }
    let mut reasons = Vec::new();
    for tsa in &root.timestamp_authorities {
        match verify_with(&token, tsa) {
            Ok(()) => return Ok(token.gen_time),
            Err(e) => reasons.push(format!("{}: {e}", if tsa.uri.is_empty() { "(unnamed)" } else { &tsa.uri })),
        }
    }
    Err(SigError::invalid(format!(
        "the timestamp of {} is not from a timestamp authority of the trusted root ({})",
        token.gen_time,
        reasons.join("; ")
    )))
}

fn verify_with(token: &Token<'_>, tsa: &Authority) -> Result<()> {
    let signer = tsa.chain.first().ok_or_else(|| SigError::invalid("the authority has no certificate"))?;
    if !names(signer, &token.signer)? {
        return Err(SigError::invalid(format!("its certificate `{}` is not the token's signer", signer.subject())));
    }
    if !tsa.validity.contains(token.gen_time) {
        return Err(SigError::invalid(format!(
            "the timestamp's time {} is outside the authority's validity ({})",
            token.gen_time, tsa.validity
        )));
    }
    signer
        .key()?
        .verify_with_algorithm(&token.signature_alg, Some(token.digest_alg), &token.signed_attrs, token.signature)
        .map_err(|e| SigError::invalid(format!("the token's signature does not verify ({e})")))?;
    cert::validate_path(signer, &tsa.chain, token.gen_time)?;
    signer.check_end_entity(TIME_STAMPING, "time stamping")
}

fn names(cert: &Cert, signer: &SignerId<'_>) -> Result<bool> {
    match signer {
        SignerId::IssuerSerial { issuer, serial } => {
            let tbs = cert.cert.tbs_certificate();
            Ok(tbs.issuer() == issuer && tbs.serial_number().as_bytes() == *serial)
        }
        SignerId::KeyId(id) => Ok(cert.subject_key_id()?.is_some_and(|ski| ski == *id)),
    }
}

fn check_signed_attributes(token: &Token<'_>) -> Result<()> {
    let mut content_type = None;
    let mut digest = None;
    for attr in asn1::children(token.attrs.content, 64)? {
        let fields = asn1::children(attr.content, 2)?;
        let [oid, values] = fields.as_slice() else {
            return Err(SigError::malformed("timestamp: a signed attribute is not (type, values)"));
        };
        asn1::expect_tag(oid, asn1::OID)?;
        asn1::expect_tag(values, asn1::SET)?;
        let values = asn1::children(values.content, 1)?;
        let [value] = values.as_slice() else {
            return Err(SigError::malformed("timestamp: a signed attribute must have exactly one value"));
        };
        let target = if oid.content == CONTENT_TYPE_ATTR.as_bytes() {
            &mut content_type
        } else if oid.content == MESSAGE_DIGEST_ATTR.as_bytes() {
            &mut digest
        } else {
            continue;
        };
        if target.replace(*value).is_some() {
            return Err(SigError::malformed("timestamp: a signed attribute is repeated"));
        }
    }
    let content_type = content_type.ok_or_else(|| SigError::malformed("timestamp: no content-type attribute"))?;
    asn1::expect_tag(&content_type, asn1::OID)?;
    if content_type.content != TST_INFO.as_bytes() {
        return Err(SigError::invalid("timestamp: the signed content type is not TSTInfo"));
    }
    let digest = digest.ok_or_else(|| SigError::malformed("timestamp: no message-digest attribute"))?;
    asn1::expect_tag(&digest, asn1::OCTET_STRING)?;
    if digest.content != token.digest_alg.digest(token.tst_info).as_slice() {
        return Err(SigError::invalid("timestamp: the signed digest does not match the TSTInfo"));
    }
    Ok(())
}

fn parse(der: &[u8]) -> Result<Token<'_>> {
    let outer = asn1::read_only(der, asn1::SEQUENCE)?;
    let fields = asn1::children(outer.content, 3)?;
    // A TimeStampResp starts with PKIStatusInfo (a SEQUENCE); a bare token with an OID.
    let content_info = match fields.as_slice() {
        [status, token] if status.tag == asn1::SEQUENCE => {
            check_status(status)?;
            asn1::expect_tag(token, asn1::SEQUENCE)?;
            asn1::children(token.content, 2)?
        }
        [status] if status.tag == asn1::SEQUENCE => {
            check_status(status)?;
            return Err(SigError::invalid("the timestamp response carries no token"));
        }
        _ => fields,
    };
    let [content_type, content] = content_info.as_slice() else {
        return Err(SigError::malformed("timestamp: expected ContentInfo (type, content)"));
    };
    asn1::expect_tag(content_type, asn1::OID)?;
    if content_type.content != SIGNED_DATA.as_bytes() {
        return Err(SigError::unsupported("timestamp: the token is not CMS SignedData"));
    }
    asn1::expect_tag(content, 0xa0)?;
    let signed_data = asn1::read_only(content.content, asn1::SEQUENCE)?;
    let parts = asn1::children(signed_data.content, 6)?;
    let mut parts = parts.iter();
    let (_version, _digest_algs) = (parts.next(), parts.next());
    let encap = parts.next().ok_or_else(|| SigError::malformed("timestamp: SignedData has no content"))?;
    let signer_infos = parts
        .next_back()
        .filter(|t| t.tag == asn1::SET)
        .ok_or_else(|| SigError::malformed("timestamp: SignedData has no signer infos"))?;

    let encap = asn1::children(encap.content, 2)?;
    let [encap_type, econtent] = encap.as_slice() else {
        return Err(SigError::malformed("timestamp: the encapsulated content is missing"));
    };
    if encap_type.content != TST_INFO.as_bytes() {
        return Err(SigError::invalid("timestamp: the signed content is not a TSTInfo"));
    }
    asn1::expect_tag(econtent, 0xa0)?;
    let tst_info = asn1::read_only(econtent.content, asn1::OCTET_STRING)?.content;
    let (gen_time, imprint_alg, imprint) = parse_tst_info(tst_info)?;

    let infos = asn1::children(signer_infos.content, 2)?;
    let [info] = infos.as_slice() else {
        return Err(SigError::unsupported(format!("timestamp: expected one signer, found {}", infos.len())));
    };
    let info = asn1::children(info.content, 7)?;
    let mut info = info.iter();
    let _version = info.next();
    let sid = info.next().ok_or_else(|| SigError::malformed("timestamp: signer info has no signer id"))?;
    let signer = match sid.tag {
        asn1::SEQUENCE => {
            let parts = asn1::children(sid.content, 2)?;
            let [issuer, serial] = parts.as_slice() else {
                return Err(SigError::malformed("timestamp: the signer id is not issuer and serial"));
            };
            let issuer = Name::from_der(issuer.raw)
                .map_err(|e| SigError::malformed(format!("timestamp: signer issuer: {e}")))?;
            asn1::expect_tag(serial, asn1::INTEGER)?;
            SignerId::IssuerSerial { issuer, serial: serial.content }
        }
        0x80 => SignerId::KeyId(sid.content),
        other => return Err(SigError::malformed(format!("timestamp: unknown signer id tag {other:#04x}"))),
    };
    let digest_alg = info.next().ok_or_else(|| SigError::malformed("timestamp: no digest algorithm"))?;
    let digest_alg = HashAlg::from_oid(&algorithm(digest_alg)?.oid)?;
    let attrs = *info.next().filter(|t| t.tag == 0xa0).ok_or_else(|| {
        SigError::malformed("timestamp: the signer info has no signed attributes, which RFC 3161 requires")
    })?;
    let signature_alg =
        algorithm(info.next().ok_or_else(|| SigError::malformed("timestamp: no signature algorithm"))?)?;
    let signature = info.next().ok_or_else(|| SigError::malformed("timestamp: no signature"))?;
    asn1::expect_tag(signature, asn1::OCTET_STRING)?;
    Ok(Token {
        tst_info,
        gen_time,
        imprint_alg,
        imprint,
        signer,
        digest_alg,
        // The signature covers the attributes re-tagged as an explicit SET OF (RFC 5652 §5.4).
        signed_attrs: asn1::encode(asn1::SET, attrs.content),
        attrs,
        signature_alg,
        signature: signature.content,
    })
}

fn check_status(status: &Tlv<'_>) -> Result<()> {
    let fields = asn1::children(status.content, 3)?;
    let code = fields.first().filter(|t| t.tag == asn1::INTEGER).map(|t| t.content);
    match code {
        Some([0]) | Some([1]) => Ok(()),
        _ => Err(SigError::invalid("the timestamp response does not grant a timestamp")),
    }
}

fn algorithm(tlv: &Tlv<'_>) -> Result<AlgorithmIdentifierOwned> {
    AlgorithmIdentifierOwned::from_der(tlv.raw).map_err(|e| SigError::malformed(format!("timestamp: algorithm: {e}")))
}

/// `genTime` and the message imprint.
fn parse_tst_info(der: &[u8]) -> Result<(Instant, HashAlg, &[u8])> {
    let info = asn1::read_only(der, asn1::SEQUENCE)?;
    let fields = asn1::children(info.content, 10)?;
    let [version, _policy, imprint, _serial, gen_time, ..] = fields.as_slice() else {
        return Err(SigError::malformed("timestamp: TSTInfo is incomplete"));
    };
    if version.content != [1] {
        return Err(SigError::unsupported("timestamp: TSTInfo version is not 1"));
    }
    let imprint = asn1::children(imprint.content, 2)?;
    let [alg, hashed] = imprint.as_slice() else {
        return Err(SigError::malformed("timestamp: the message imprint is incomplete"));
    };
    let alg = HashAlg::from_oid(&algorithm(alg)?.oid)?;
    asn1::expect_tag(hashed, asn1::OCTET_STRING)?;
    asn1::expect_tag(gen_time, asn1::GENERALIZED_TIME)?;
    Ok((parse_generalized_time(gen_time.content)?, alg, hashed.content))
}

/// `YYYYMMDDHHMMSS[.fraction]Z`.
fn parse_generalized_time(bytes: &[u8]) -> Result<Instant> {
    let text = std::str::from_utf8(bytes).map_err(|_| SigError::malformed("timestamp: genTime is not text"))?;
    let bad = || SigError::malformed(format!("timestamp: genTime {text:?} is not YYYYMMDDHHMMSS[.f]Z"));
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, frac) = match body.split_once('.') {
        Some((_, "")) => return Err(bad()),
        Some(parts) => parts,
        None => (body, ""),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}{}{}Z",
        &whole[0..4],
        &whole[4..6],
        &whole[6..8],
        &whole[8..10],
        &whole[10..12],
        &whole[12..14],
        if frac.is_empty() { "" } else { "." },
        frac
    );
    Instant::parse_rfc3339(&rfc3339).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_times() {
        assert_eq!(parse_generalized_time(b"19700101000001Z").unwrap(), Instant::from_secs(1));
        assert_eq!(parse_generalized_time(b"19700101000001.5Z").unwrap(), Instant { secs: 1, nanos: 500_000_000 });
        for bad in [&b"19700101000001"[..], b"1970010100000Z", b"19700101000001+0100", b"19700101000001.Z"] {
            assert!(parse_generalized_time(bad).is_err(), "{bad:?}");
        }
    }
}
