//! Compact JWS (RFC 7515) as OIDC ID tokens use it: `header.payload.signature`, each part
//! base64url without padding. Only RS256 (RSA PKCS#1 v1.5 with SHA-256) and ES256 (ECDSA P-256
//! with SHA-256, the signature `r || s` in 64 bytes) are accepted. The algorithm is checked
//! before any key is touched, and then must fit the key's type: `alg: none`, HMAC (`HS256`,
//! which would let anyone holding the public key sign) and everything else are refused by name.
//!
//! The signature primitives are `tollgate-sigstore`'s (one copy of each in the workspace);
//! this module only reads the JOSE framing. Claims are checked in [`super::oidc`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use tollgate_sigstore::{EcdsaEncoding, PublicKey};

use super::AuthError;

/// Longer than any ID token an issuer writes; refused before decoding.
pub const MAX_LEN: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// The JWK `kty` of keys that sign with this algorithm.
    pub fn kty(self) -> &'static str {
        match self {
            Alg::Rs256 => "RSA",
            Alg::Es256 => "EC",
        }
    }

    fn fits(self, key: &PublicKey) -> bool {
        match self {
            Alg::Rs256 => key.is_rsa(),
            Alg::Es256 => key.is_p256(),
        }
    }
}

/// A JWT whose framing has been read and whose signature has not yet been checked.
#[derive(Debug)]
pub struct Unverified<'a> {
    pub alg: Alg,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

fn part(name: &str, text: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| AuthError::MalformedJwt(format!("the {name} is not base64url without padding ({e})")))
}

fn object(name: &str, bytes: &[u8]) -> Result<Map<String, Value>, AuthError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthError::MalformedJwt(format!("the {name} is not a JSON object"))),
        Err(e) => Err(AuthError::MalformedJwt(format!("the {name} is not JSON ({e})"))),
    }
}

/// Reads the framing: three parts, a header naming an accepted algorithm (refused before
/// anything else is decoded), claims that are a JSON object.
pub fn decode(token: &str) -> Result<Unverified<'_>, AuthError> {
    if token.len() > MAX_LEN {
        return Err(AuthError::MalformedJwt(format!("longer than {MAX_LEN} bytes")));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedJwt("expected three dot-separated parts (a compact JWS)".into()));
    };
    let header = object("header", &part("header", header)?)?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) if a == "RS256" => Alg::Rs256,
        Some(Value::String(a)) if a == "ES256" => Alg::Es256,
        Some(Value::String(a)) => return Err(AuthError::AlgorithmRefused { alg: a.clone() }),
        _ => return Err(AuthError::MalformedJwt("the header has no `alg` string".into())),
    };
    // Extensions the verifier must understand (RFC 7515 §4.1.11): this one understands none.
    if header.contains_key("crit") {
        return Err(AuthError::MalformedJwt("the header lists critical extensions (`crit`), none is supported".into()));
    }
    // Keys are the configured JWKS's only, never ones the token brings along.
    for embedded in ["jwk", "jku", "x5u", "x5c"] {
        if header.contains_key(embedded) {
            return Err(AuthError::MalformedJwt(format!(
                "the header carries `{embedded}`; keys come from the JWKS file"
            )));
        }
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(AuthError::MalformedJwt("`kid` is not a string".into())),
    };
    let claims = object("payload", &part("payload", payload)?)?;
    let signature = part("signature", signature)?;
    let signing_input = &token[..token.len() - token.rsplit('.').next().map_or(0, str::len) - 1];
    Ok(Unverified { alg, kid, claims, signing_input, signature })
}

/// One key of an issuer's JWKS.
#[derive(Clone, Debug)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The JWK's own `alg`, when it names one: the key is then used with that algorithm only.
    pub alg: Option<String>,
    pub key: PublicKey,
}

impl Unverified<'_> {
    /// Verifies the signature with the key the header names (`kid`); without a `kid`, the one
    /// key of the algorithm's type when the set has exactly one.
    pub fn verify(self, issuer: &str, keys: &[Jwk]) -> Result<Map<String, Value>, AuthError> {
        let alg = self.alg;
        let jwk = match &self.kid {
            Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid.as_str())),
            None => {
                let mut fitting = keys.iter().filter(|k| alg.fits(&k.key));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            }
        };
        let kid = self.kid.clone().unwrap_or_else(|| format!("(none given; {} key)", alg.kty()));
        let jwk = jwk.ok_or_else(|| AuthError::KeyNotFound { issuer: issuer.to_owned(), kid: kid.clone() })?;
        let key_alg_differs = jwk.alg.as_deref().is_some_and(|a| a != alg.name());
        if !alg.fits(&jwk.key) || key_alg_differs {
            let key = match &jwk.alg {
                Some(a) => format!("{} for {a}", jwk.key.describe()),
                None => jwk.key.describe().to_owned(),
            };
            return Err(AuthError::KeyMismatch { alg: alg.name().to_owned(), kid, key });
        }
        jwk.key
            .verify_message(self.signing_input.as_bytes(), &self.signature, EcdsaEncoding::Fixed)
            .map_err(|_| AuthError::BadSignature { issuer: issuer.to_owned(), kid })?;
        Ok(self.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn the_algorithm_is_refused_before_the_rest_is_read() {
        for alg in ["none", "HS256", "HS512", "RS384", "PS256", "ES384", "EdDSA"] {
            let t = format!("{}.not base64!.x", b64(&format!(r#"{{"alg":"{alg}"}}"#)));
            assert_eq!(decode(&t).unwrap_err(), AuthError::AlgorithmRefused { alg: alg.into() });
        }
    }

    #[test]
    fn framing_errors_say_what_is_wrong() {
        let h = b64(r#"{"alg":"ES256"}"#);
        for (token, says) in [
            ("a.b".to_owned(), "three dot-separated parts"),
            ("a.b.c.d".to_owned(), "three dot-separated parts"),
            (format!("{h}=.e30.AA"), "header is not base64url"),
            (format!("{}.e30.AA", b64("[1]")), "header is not a JSON object"),
            (format!("{}.e30.AA", b64(r#"{"alg":"ES256","crit":["b64"]}"#)), "critical extensions"),
            (format!("{}.e30.AA", b64(r#"{"alg":"ES256","jwk":{}}"#)), "carries `jwk`"),
            (format!("{h}.{}.AA", b64("nope")), "payload is not JSON"),
            (format!("{h}.e30.A+/="), "signature is not base64url"),
        ] {
            let e = decode(&token).unwrap_err().to_string();
            assert!(e.contains(says), "{token}: {e}");
        }
        let token = format!("{h}.e30.AAAA");
        let ok = decode(&token).unwrap();
        assert_eq!(ok.signing_input, format!("{h}.e30"));
    }
}
