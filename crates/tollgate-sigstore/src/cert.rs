//! X.509 certificates: path validation to a trusted chain at a given instant, and the
//! Fulcio-specific facts a signing certificate carries (the signer's identity and the OIDC
//! issuer that vouched for it).
//!
//! Path rules (RFC 5280, reduced to what Sigstore needs): every certificate on the path is
//! valid at the instant; each issuer is a CA (basicConstraints cA, keyCertSign when keyUsage
//! is present, path length respected) whose signature over the child verifies; a critical
//! extension other than basicConstraints, keyUsage, extendedKeyUsage or subjectAltName
//! makes the certificate unusable.

use der::Decode;
use spki::ObjectIdentifier;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use crate::asn1;
use crate::error::{Result, SigError};
use crate::keys::PublicKey;
use crate::time::Instant;

const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
pub const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
pub const TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// Fulcio's OIDC issuer extension, raw string (deprecated).
const FULCIO_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension, DER UTF8String.
const FULCIO_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's otherName SAN for usernames.
const FULCIO_USERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
pub const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

const UNDERSTOOD_CRITICAL: [ObjectIdentifier; 4] = [BASIC_CONSTRAINTS, KEY_USAGE, EXT_KEY_USAGE, SUBJECT_ALT_NAME];

/// A parsed certificate with the bytes its signature covers.
#[derive(Clone, Debug)]
pub struct Cert {
    pub der: Vec<u8>,
    pub cert: Certificate,
    tbs_raw: Vec<u8>,
    /// `Err` when the key type is not supported; only an error if the key is used.
    key: std::result::Result<PublicKey, SigError>,
}

impl Cert {
    pub fn from_der(der: &[u8]) -> Result<Cert> {
        let cert =
            Certificate::from_der(der).map_err(|e| SigError::malformed(format!("not a DER X.509 certificate: {e}")))?;
        let outer = asn1::read_only(der, asn1::SEQUENCE)?;
        let (tbs, _) = asn1::read(outer.content)?;
        let key = PublicKey::from_spki(cert.tbs_certificate().subject_public_key_info());
        Ok(Cert { der: der.to_vec(), tbs_raw: tbs.raw.to_vec(), cert, key })
    }

    pub fn key(&self) -> Result<&PublicKey> {
        self.key.as_ref().map_err(|e| e.clone().context(format!("the key of certificate `{}`", self.subject())))
    }

    /// The subject as an RFC 4514 string, for messages; `(empty)` for Fulcio leaves.
    pub fn subject(&self) -> String {
        let s = self.cert.tbs_certificate().subject().to_string();
        if s.is_empty() { "(empty subject)".to_owned() } else { s }
    }

    pub fn not_before(&self) -> Instant {
        Instant::from_x509(self.cert.tbs_certificate().validity().not_before)
    }

    pub fn not_after(&self) -> Instant {
        Instant::from_x509(self.cert.tbs_certificate().validity().not_after)
    }

    pub fn valid_at(&self, t: Instant) -> bool {
        self.not_before() <= t && t <= self.not_after()
    }

    pub fn tbs_raw(&self) -> &[u8] {
        &self.tbs_raw
    }

    fn is_issued_by(&self, issuer: &Cert) -> bool {
        self.cert.tbs_certificate().issuer() == issuer.cert.tbs_certificate().subject()
    }

    /// Self-issued and verifiable with its own key: a root certificate.
    pub fn is_self_signed(&self) -> bool {
        self.is_issued_by(self) && self.verify_signed_by(self).is_ok()
    }

    /// Checks this certificate's signature with `issuer`'s key.
    pub fn verify_signed_by(&self, issuer: &Cert) -> Result<()> {
        let sig = self
            .cert
            .signature()
            .as_bytes()
            .ok_or_else(|| SigError::malformed("certificate signature has unused bits"))?;
        issuer.key()?.verify_with_algorithm(self.cert.signature_algorithm(), None, &self.tbs_raw, sig).map_err(|e| {
            SigError::invalid(format!(
                "the signature of `{}` by `{}` does not verify ({e})",
                self.subject(),
                issuer.subject()
            ))
        })
    }

    fn extensions(&self) -> &[x509_cert::ext::Extension] {
        self.cert.tbs_certificate().extensions().map(Vec::as_slice).unwrap_or_default()
    }

    /// The DER content of the extension `oid`; an error when it appears twice.
    pub fn extension(&self, oid: ObjectIdentifier) -> Result<Option<&[u8]>> {
        let mut found = self.extensions().iter().filter(|e| e.extn_id == oid);
        let first = found.next();
        if found.next().is_some() {
            return Err(SigError::malformed(format!("certificate `{}` repeats the extension {oid}", self.subject())));
        }
        Ok(first.map(|e| e.extn_value.as_bytes()))
    }

    fn decode_extension<'a, T: Decode<'a>>(&'a self, oid: ObjectIdentifier, name: &str) -> Result<Option<T>> {
        self.extension(oid)?
            .map(|bytes| {
                T::from_der(bytes).map_err(|e| {
                    SigError::malformed(format!("certificate `{}`: unreadable {name} extension: {e}", self.subject()))
                })
            })
            .transpose()
    }

    fn basic_constraints(&self) -> Result<Option<BasicConstraints>> {
        self.decode_extension(BASIC_CONSTRAINTS, "basicConstraints")
    }

    fn key_usage(&self) -> Result<Option<KeyUsage>> {
        self.decode_extension(KEY_USAGE, "keyUsage")
    }

    pub fn extended_key_usage(&self) -> Result<Vec<ObjectIdentifier>> {
        Ok(self
            .decode_extension::<ExtendedKeyUsage>(EXT_KEY_USAGE, "extendedKeyUsage")?
            .map(|e| e.0)
            .unwrap_or_default())
    }

    pub fn subject_key_id(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .decode_extension::<der::asn1::OctetString>(SUBJECT_KEY_ID, "subjectKeyIdentifier")?
            .map(|o| o.as_bytes().to_vec()))
    }

    fn check_critical_extensions(&self) -> Result<()> {
        match self.extensions().iter().find(|e| e.critical && !UNDERSTOOD_CRITICAL.contains(&e.extn_id)) {
            Some(e) => Err(SigError::unsupported(format!(
                "certificate `{}` has the critical extension {}, which is not understood",
                self.subject(),
                e.extn_id
            ))),
            None => Ok(()),
        }
    }

    /// `intermediates_below`: CA certificates between this one and the end entity.
    fn check_is_ca(&self, intermediates_below: usize) -> Result<()> {
        let bc = self.basic_constraints()?;
        let Some(bc) = bc.filter(|bc| bc.ca) else {
            return Err(SigError::invalid(format!(
                "certificate `{}` issues certificates but is not a CA",
                self.subject()
            )));
        };
        if let Some(ku) = self.key_usage()?
            && !ku.key_cert_sign()
        {
            return Err(SigError::invalid(format!("CA certificate `{}` lacks the keyCertSign usage", self.subject())));
        }
        if let Some(limit) = bc.path_len_constraint
            && intermediates_below > usize::from(limit)
        {
            return Err(SigError::invalid(format!(
                "CA certificate `{}` allows {limit} intermediate(s) below it, the path has {intermediates_below}",
                self.subject()
            )));
        }
        Ok(())
    }

    /// A certificate that signs (code or timestamps), not one that issues certificates.
    pub fn check_end_entity(&self, purpose: ObjectIdentifier, purpose_name: &str) -> Result<()> {
        if self.basic_constraints()?.is_some_and(|bc| bc.ca) {
            return Err(SigError::invalid(format!(
                "certificate `{}` is a CA, not a signing certificate",
                self.subject()
            )));
        }
        if let Some(ku) = self.key_usage()?
            && !ku.digital_signature()
        {
            return Err(SigError::invalid(format!(
                "certificate `{}` lacks the digitalSignature usage",
                self.subject()
            )));
        }
        if !self.extended_key_usage()?.contains(&purpose) {
            return Err(SigError::invalid(format!(
                "certificate `{}` is not valid for {purpose_name} (extended key usage {purpose} is missing)",
                self.subject()
            )));
        }
        Ok(())
    }

    /// The subject alternative names Fulcio writes: URIs, e-mail addresses and usernames.
    pub fn san_values(&self) -> Result<Vec<String>> {
        let Some(san) = self.decode_extension::<SubjectAltName>(SUBJECT_ALT_NAME, "subjectAltName")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for name in san.0 {
            match name {
                GeneralName::UniformResourceIdentifier(uri) => out.push(uri.to_string()),
                GeneralName::Rfc822Name(email) => out.push(email.to_string()),
                GeneralName::OtherName(other) if other.type_id == FULCIO_USERNAME => {
                    let value = other
                        .value
                        .decode_as::<der::asn1::Utf8StringRef<'_>>()
                        .map_err(|e| SigError::malformed(format!("unreadable username SAN: {e}")))?;
                    out.push(value.as_str().to_owned());
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The OIDC issuer Fulcio recorded: the DER extension (…57264.1.8), else the legacy raw
    /// one (…57264.1.1). Both present and different is refused as ambiguous.
    pub fn fulcio_issuer(&self) -> Result<Option<String>> {
        let v2 = self
            .extension(FULCIO_ISSUER_V2)?
            .map(|bytes| {
                der::asn1::Utf8StringRef::from_der(bytes)
                    .map(|s| s.as_str().to_owned())
                    .map_err(|e| SigError::malformed(format!("unreadable Fulcio issuer extension: {e}")))
            })
            .transpose()?;
        let v1 = self
            .extension(FULCIO_ISSUER_V1)?
            .map(|bytes| {
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| SigError::malformed("the legacy Fulcio issuer extension is not UTF-8"))
            })
            .transpose()?;
        match (v2, v1) {
            (Some(a), Some(b)) if a != b => Err(SigError::invalid(format!(
                "the certificate names two OIDC issuers: {a:?} (1.3.6.1.4.1.57264.1.8) and {b:?} (1.3.6.1.4.1.57264.1.1)"
            ))),
            (Some(a), _) => Ok(Some(a)),
            (None, b) => Ok(b),
        }
    }
}

/// Validates `leaf` against a trusted `chain` (ordered towards the root, whose last element
/// is the trust anchor) at instant `t`. `chain` may start with `leaf` itself (a TSA's
/// signing certificate is part of its trusted chain). Returns the leaf's issuer.
pub fn validate_path<'c>(leaf: &Cert, chain: &'c [Cert], t: Instant) -> Result<Option<&'c Cert>> {
    let start = usize::from(chain.first().is_some_and(|first| first.der == leaf.der));
    let rest = chain.get(start..).unwrap_or_default();
    if !leaf.valid_at(t) {
        return Err(SigError::invalid(format!(
            "certificate `{}` is valid from {} to {}, not at {t}",
            leaf.subject(),
            leaf.not_before(),
            leaf.not_after()
        )));
    }
    leaf.check_critical_extensions()?;
    if rest.is_empty() {
        // The leaf is itself the trust anchor.
        return Ok(None);
    }
    let position = rest
        .iter()
        .position(|ca| leaf.is_issued_by(ca))
        .ok_or_else(|| SigError::invalid(format!("certificate `{}` was not issued by this chain", leaf.subject())))?;
    let path = rest.get(position..).unwrap_or_default();
    let mut child = leaf;
    for (depth, ca) in path.iter().enumerate() {
        if !child.is_issued_by(ca) {
            return Err(SigError::invalid(format!("the trusted chain is broken at `{}`", ca.subject())));
        }
        child.verify_signed_by(ca)?;
        if !ca.valid_at(t) {
            return Err(SigError::invalid(format!(
                "CA certificate `{}` is valid from {} to {}, not at {t}",
                ca.subject(),
                ca.not_before(),
                ca.not_after()
            )));
        }
        ca.check_critical_extensions()?;
        ca.check_is_ca(depth)?;
        child = ca;
    }
    Ok(path.first())
}
