//! Public keys and signature checks. Keys arrive as SubjectPublicKeyInfo (PEM `PUBLIC KEY`,
//! certificates, trusted roots); a key's fingerprint is SHA-256 of its SPKI DER, which is also
//! how Sigstore names transparency and CT logs.
//!
//! ECDSA P-256/P-384, Ed25519 and RSA PKCS#1 v1.5 are verified. RSA is here for verification
//! only, because CAs of real Sigstore deployments sign with it; no private-key operation
//! exists in this crate. RSA-PSS, P-521 and anything else are refused by name.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use der::{Decode, Encode};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};

use crate::error::{Result, SigError};

pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const SHA256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// The digest algorithm named by an AlgorithmIdentifier OID (CMS, RFC 3161).
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<HashAlg> {
        match *oid {
            SHA256_OID => Ok(HashAlg::Sha256),
            SHA384_OID => Ok(HashAlg::Sha384),
            SHA512_OID => Ok(HashAlg::Sha512),
            other => Err(SigError::unsupported(format!("digest algorithm {other} is not supported"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
        }
    }
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Whether two byte strings are equal, in time that depends only on their lengths: for
/// comparing a presented secret's hash with the stored one. The one copy in the workspace.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// How an ECDSA signature may be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcdsaEncoding {
    /// ASN.1 DER `SEQUENCE { r, s }`: what openssl, cosign and X.509 write.
    Der,
    /// DER, or the fixed-size `r || s` some DSSE signers write.
    DerOrFixed,
    /// Only the fixed-size `r || s` (JOSE: RFC 7518 §3.4); DER is refused.
    Fixed,
}

#[derive(Clone, Debug)]
enum Kind {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

/// A public key and the SPKI DER it was read from.
#[derive(Clone, Debug)]
pub struct PublicKey {
    kind: Kind,
    spki_der: Vec<u8>,
}

impl PublicKey {
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey> {
        let spki_der = spki.to_der().map_err(|e| SigError::malformed(format!("public key: {e}")))?;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| SigError::malformed("public key: the key bit string has unused bits".to_owned()))?;
        let kind = match spki.algorithm.oid {
            ID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    .ok_or_else(|| SigError::malformed("public key: an EC key without a named curve"))?;
                match curve {
                    SECP256R1 => Kind::P256(
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                            .map_err(|_| SigError::malformed("public key: not a point on P-256"))?,
                    ),
                    SECP384R1 => Kind::P384(
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                            .map_err(|_| SigError::malformed("public key: not a point on P-384"))?,
                    ),
                    SECP521R1 => return Err(SigError::unsupported("ECDSA P-521 keys are not supported")),
                    other => return Err(SigError::unsupported(format!("EC keys on curve {other} are not supported"))),
                }
            }
            ED25519 => {
                let bytes: [u8; 32] =
                    bits.try_into().map_err(|_| SigError::malformed("public key: an Ed25519 key is 32 bytes"))?;
                Kind::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                        .map_err(|_| SigError::malformed("public key: not a valid Ed25519 point"))?,
                )
            }
            RSA_ENCRYPTION => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                Kind::Rsa(
                    rsa::RsaPublicKey::from_pkcs1_der(bits)
                        .map_err(|e| SigError::malformed(format!("public key: not a usable RSA key: {e}")))?,
                )
            }
            RSA_PSS => return Err(SigError::unsupported("RSA-PSS keys are not supported")),
            other => return Err(SigError::unsupported(format!("public key algorithm {other} is not supported"))),
        };
        Ok(PublicKey { kind, spki_der })
    }

    /// A JSON Web Key (RFC 7517/7518): `kty: RSA` with `n` and `e`, or `kty: EC` with
    /// `crv: P-256`, `x` and `y` (base64url without padding). It is turned into the same
    /// SubjectPublicKeyInfo every other key is read from, so one code path checks them all.
    /// RSA keys shorter than 2048 bits are refused; anything else (`oct`, `OKP`, other curves,
    /// private members) is refused by name.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<PublicKey> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let member = |name: &str| -> Result<Vec<u8>> {
            let text = jwk
                .get(name)
                .and_then(|v| v.as_str())
                .ok_or_else(|| SigError::malformed(format!("JWK: no `{name}` string")))?;
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|e| SigError::malformed(format!("JWK: `{name}` is not base64url without padding: {e}")))
        };
        if jwk.get("d").is_some() {
            return Err(SigError::malformed("JWK: a private key (`d`) in a key set of public keys"));
        }
        let kty = jwk.get("kty").and_then(|v| v.as_str()).ok_or_else(|| SigError::malformed("JWK: no `kty`"))?;
        let (algorithm, bits) = match kty {
            "RSA" => {
                use rsa::pkcs1::EncodeRsaPublicKey;
                let n = rsa::BoxedUint::from_be_slice_vartime(&member("n")?);
                let e = rsa::BoxedUint::from_be_slice_vartime(&member("e")?);
                let key = rsa::RsaPublicKey::new(n, e)
                    .map_err(|e| SigError::malformed(format!("JWK: not a usable RSA key: {e}")))?;
                let size = rsa::traits::PublicKeyParts::n(&key).bits();
                if size < 2048 {
                    return Err(SigError::unsupported(format!(
                        "JWK: an RSA key of {size} bits is too short (2048 at least)"
                    )));
                }
                let der = key.to_pkcs1_der().map_err(|e| SigError::malformed(format!("JWK: {e}")))?;
                let null = der::Any::new(der::Tag::Null, Vec::new()).expect("an empty NULL");
                (AlgorithmIdentifierOwned { oid: RSA_ENCRYPTION, parameters: Some(null) }, der.as_bytes().to_vec())
            }
            "EC" => {
                match jwk.get("crv").and_then(|v| v.as_str()) {
                    Some("P-256") => {}
                    Some(other) => {
                        return Err(SigError::unsupported(format!("JWK: EC curve {other} is not supported")));
                    }
                    None => return Err(SigError::malformed("JWK: an EC key without `crv`")),
                }
                let (x, y) = (member("x")?, member("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(SigError::malformed("JWK: P-256 coordinates are 32 bytes each"));
                }
                let mut point = vec![0x04];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let curve = der::Any::encode_from(&SECP256R1).map_err(|e| SigError::malformed(format!("JWK: {e}")))?;
                (AlgorithmIdentifierOwned { oid: ID_EC_PUBLIC_KEY, parameters: Some(curve) }, point)
            }
            other => return Err(SigError::unsupported(format!("JWK: key type `{other}` is not supported"))),
        };
        let subject_public_key =
            der::asn1::BitString::from_bytes(&bits).map_err(|e| SigError::malformed(format!("JWK: {e}")))?;
        PublicKey::from_spki(&SubjectPublicKeyInfoOwned { algorithm, subject_public_key })
    }

    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey> {
        let spki = SubjectPublicKeyInfoOwned::from_der(der)
            .map_err(|e| SigError::malformed(format!("public key: not a DER SubjectPublicKeyInfo: {e}")))?;
        PublicKey::from_spki(&spki)
    }

    /// A PEM `PUBLIC KEY` block (SubjectPublicKeyInfo), as `openssl pkey -pubout` and
    /// `cosign generate-key-pair` write.
    pub fn from_pem(pem: &str) -> Result<PublicKey> {
        let (label, der) = decode_pem(pem).map_err(|e| e.context("public key"))?;
        match label.as_str() {
            "PUBLIC KEY" => PublicKey::from_spki_der(&der),
            "RSA PUBLIC KEY" => Err(SigError::unsupported("public key: PKCS#1 RSA keys are not accepted")),
            "CERTIFICATE" => {
                Err(SigError::malformed("public key: expected a `PUBLIC KEY` PEM block, found a certificate"))
            }
            other => {
                Err(SigError::malformed(format!("public key: expected a `PUBLIC KEY` PEM block, found `{other}`")))
            }
        }
    }

    /// SHA-256 of the SubjectPublicKeyInfo DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        sha256(&self.spki_der)
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::P256(_) => "ECDSA P-256",
            Kind::P384(_) => "ECDSA P-384",
            Kind::Ed25519(_) => "Ed25519",
            Kind::Rsa(_) => "RSA",
        }
    }

    pub fn is_ed25519(&self) -> bool {
        matches!(self.kind, Kind::Ed25519(_))
    }

    pub fn is_p256(&self) -> bool {
        matches!(self.kind, Kind::P256(_))
    }

    pub fn is_rsa(&self) -> bool {
        matches!(self.kind, Kind::Rsa(_))
    }

    /// The hash a signer with this key applies to a message before signing (Sigstore's
    /// defaults); `None` for Ed25519, which signs the message itself.
    pub fn message_hash(&self) -> Option<HashAlg> {
        match self.kind {
            Kind::P256(_) | Kind::Rsa(_) => Some(HashAlg::Sha256),
            Kind::P384(_) => Some(HashAlg::Sha384),
            Kind::Ed25519(_) => None,
        }
    }

    /// Verifies `sig` over `message` with the key's own hash (see [`PublicKey::message_hash`]).
    pub fn verify_message(&self, message: &[u8], sig: &[u8], encoding: EcdsaEncoding) -> Result<()> {
        match (&self.kind, self.message_hash()) {
            (Kind::Ed25519(key), _) => verify_ed25519(key, message, sig),
            (_, Some(hash)) => self.verify_digest(&hash.digest(message), sig, encoding),
            (_, None) => Err(SigError::unsupported("no hash for this key")),
        }
    }

    /// Verifies `sig` over an already computed digest. Ed25519 signs messages, not digests,
    /// and is refused here.
    pub fn verify_digest(&self, digest: &[u8], sig: &[u8], encoding: EcdsaEncoding) -> Result<()> {
        let bad = || SigError::invalid(format!("the {} signature does not verify", self.describe()));
        match &self.kind {
            Kind::P256(key) => {
                let sig = p256_signature(sig, encoding)?;
                key.verify_prehash(digest, &sig).map_err(|_| bad())
            }
            Kind::P384(key) => {
                let sig = p384_signature(sig, encoding)?;
                key.verify_prehash(digest, &sig).map_err(|_| bad())
            }
            Kind::Rsa(key) => {
                let scheme = match digest.len() {
                    32 => rsa::pkcs1v15::Pkcs1v15Sign::new::<Sha256>(),
                    48 => rsa::pkcs1v15::Pkcs1v15Sign::new::<Sha384>(),
                    64 => rsa::pkcs1v15::Pkcs1v15Sign::new::<Sha512>(),
                    n => return Err(SigError::unsupported(format!("no RSA digest of {n} bytes"))),
                };
                key.verify(scheme, digest, sig).map_err(|_| bad())
            }
            Kind::Ed25519(_) => Err(SigError::unsupported(
                "an Ed25519 signature covers the message itself, so a digest alone cannot be checked",
            )),
        }
    }

    /// Verifies an X.509 or CMS signature: `algorithm` is the signature AlgorithmIdentifier;
    /// `digest_alg` the separate digest algorithm CMS may name (used when the signature
    /// algorithm is a bare key algorithm such as `rsaEncryption`).
    pub fn verify_with_algorithm(
        &self,
        algorithm: &AlgorithmIdentifierOwned,
        digest_alg: Option<HashAlg>,
        message: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        let (family, hash) = match algorithm.oid {
            ECDSA_SHA256 => (Family::Ecdsa, Some(HashAlg::Sha256)),
            ECDSA_SHA384 => (Family::Ecdsa, Some(HashAlg::Sha384)),
            ECDSA_SHA512 => (Family::Ecdsa, Some(HashAlg::Sha512)),
            RSA_SHA256 => (Family::Rsa, Some(HashAlg::Sha256)),
            RSA_SHA384 => (Family::Rsa, Some(HashAlg::Sha384)),
            RSA_SHA512 => (Family::Rsa, Some(HashAlg::Sha512)),
            ED25519 => (Family::Ed25519, None),
            ID_EC_PUBLIC_KEY => (Family::Ecdsa, digest_alg),
            RSA_ENCRYPTION => (Family::Rsa, digest_alg),
            other => return Err(SigError::unsupported(format!("signature algorithm {other} is not supported"))),
        };
        let matches = matches!(
            (&self.kind, family),
            (Kind::P256(_) | Kind::P384(_), Family::Ecdsa)
                | (Kind::Rsa(_), Family::Rsa)
                | (Kind::Ed25519(_), Family::Ed25519)
        );
        if !matches {
            return Err(SigError::invalid(format!(
                "signature algorithm {} does not fit the signer's {} key",
                algorithm.oid,
                self.describe()
            )));
        }
        match (&self.kind, hash) {
            (Kind::Ed25519(key), _) => verify_ed25519(key, message, sig),
            (_, Some(hash)) => self.verify_digest(&hash.digest(message), sig, EcdsaEncoding::Der),
            (_, None) => Err(SigError::unsupported(format!("signature algorithm {} names no digest", algorithm.oid))),
        }
    }
}

/// One PEM block: its label and DER. Line lengths are not checked (Go's reader, which wrote
/// many of the PEM blocks Sigstore logs hold, does not either); anything but whitespace
/// around the block is refused.
pub fn decode_pem(text: &str) -> Result<(String, Vec<u8>)> {
    let bad = |why: &str| SigError::malformed(format!("expected a PEM block: {why}"));
    let text = text.trim();
    let rest = text.strip_prefix("-----BEGIN ").ok_or_else(|| bad("no `-----BEGIN` line"))?;
    let (label, rest) = rest.split_once("-----").ok_or_else(|| bad("unterminated BEGIN line"))?;
    let end = format!("-----END {label}-----");
    let body = rest.strip_suffix(end.as_str()).ok_or_else(|| bad(&format!("no `{end}` line at the end")))?;
    if body.contains(':') || body.contains("-----") {
        return Err(bad("headers or several blocks are not accepted"));
    }
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(compact).map_err(|e| bad(&format!("invalid base64: {e}")))?;
    Ok((label.to_owned(), der))
}

#[derive(Clone, Copy)]
enum Family {
    Ecdsa,
    Rsa,
    Ed25519,
}

fn verify_ed25519(key: &ed25519_dalek::VerifyingKey, message: &[u8], sig: &[u8]) -> Result<()> {
    let sig = ed25519_dalek::Signature::from_slice(sig)
        .map_err(|_| SigError::invalid(format!("an Ed25519 signature is 64 bytes, this one is {}", sig.len())))?;
    key.verify_strict(message, &sig).map_err(|_| SigError::invalid("the Ed25519 signature does not verify"))
}

fn p256_signature(sig: &[u8], encoding: EcdsaEncoding) -> Result<p256::ecdsa::Signature> {
    if encoding == EcdsaEncoding::Fixed {
        return p256::ecdsa::Signature::from_slice(sig).map_err(|_| {
            SigError::invalid(format!("an ES256 signature is r || s, 64 bytes; this one is {} bytes", sig.len()))
        });
    }
    match p256::ecdsa::Signature::from_der(sig) {
        Ok(s) => Ok(s),
        Err(_) if encoding == EcdsaEncoding::DerOrFixed && sig.len() == 64 => p256::ecdsa::Signature::from_slice(sig)
            .map_err(|_| SigError::invalid("the ECDSA P-256 signature is not a valid r || s pair")),
        Err(_) => Err(SigError::invalid("the ECDSA signature is not ASN.1 DER")),
    }
}

fn p384_signature(sig: &[u8], encoding: EcdsaEncoding) -> Result<p384::ecdsa::Signature> {
    if encoding == EcdsaEncoding::Fixed {
        return p384::ecdsa::Signature::from_slice(sig)
            .map_err(|_| SigError::invalid("an ECDSA P-384 signature in JOSE form is r || s, 96 bytes"));
    }
    match p384::ecdsa::Signature::from_der(sig) {
        Ok(s) => Ok(s),
        Err(_) if encoding == EcdsaEncoding::DerOrFixed && sig.len() == 96 => p384::ecdsa::Signature::from_slice(sig)
            .map_err(|_| SigError::invalid("the ECDSA P-384 signature is not a valid r || s pair")),
        Err(_) => Err(SigError::invalid("the ECDSA signature is not ASN.1 DER")),
    }
}
