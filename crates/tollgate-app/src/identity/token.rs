//! Personal API tokens: `tgt_<id>_<secret>`, where `id` is 8 random bytes in lower-case hex
//! (it names the token in the log and in `token list`) and `secret` 32 random bytes in
//! base64url without padding. The log keeps the hex SHA-256 of the whole token string.
//!
//! SHA-256 and not a password hash (Argon2, scrypt): the secret has 256 bits from the operating
//! system's generator, so nobody can guess it from its hash by trying candidates, and a slow
//! KDF would only make every request slower. A password KDF protects low-entropy secrets that
//! people choose; nobody chooses these.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tollgate_domain::{State, Timestamp};
use tollgate_sigstore::{constant_time_eq, sha256};

use super::{AuthError, Principal, Via};
use crate::codec::time;

pub const PREFIX: &str = "tgt_";
const ID_HEX: usize = 16;
const SECRET_CHARS: usize = 43;

/// A freshly generated token: `token` is shown once and kept nowhere; `sha256` goes to the log.
#[derive(Debug)]
pub struct NewToken {
    pub id: String,
    pub token: String,
    pub sha256: String,
}

/// A new token from the operating system's random number generator.
pub fn generate() -> Result<NewToken, getrandom::Error> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id)?;
    getrandom::fill(&mut secret)?;
    let id = hex::encode(id);
    let token = format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
    Ok(NewToken { sha256: hash(&token), id, token })
}

/// The hex SHA-256 of a whole token string, as the log records it.
pub fn hash(token: &str) -> String {
    hex::encode(sha256(token.as_bytes()))
}

/// The token id of a well-formed token, without looking anything up.
pub fn parse_id(presented: &str) -> Result<&str, AuthError> {
    let rest = presented.strip_prefix(PREFIX).ok_or(AuthError::MalformedToken)?;
    let (id, secret) = rest.split_at_checked(ID_HEX).ok_or(AuthError::MalformedToken)?;
    let secret = secret.strip_prefix('_').ok_or(AuthError::MalformedToken)?;
    let id_ok = id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let secret_ok =
        secret.len() == SECRET_CHARS && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if id_ok && secret_ok { Ok(id) } else { Err(AuthError::MalformedToken) }
}

/// Checks a presented API token against the tokens on record at `now`: known id, matching
/// secret (compared as SHA-256 digests in constant time), not revoked, not expired, and its
/// person still on record.
pub fn authenticate_token(state: &State, presented: &str, now: Timestamp) -> Result<Principal, AuthError> {
    let id = parse_id(presented)?;
    let token = state.tokens.get(id).ok_or_else(|| AuthError::UnknownToken { id: id.to_owned() })?;
    let stored = hex::decode(&token.sha256).unwrap_or_default();
    if !constant_time_eq(&sha256(presented.as_bytes()), &stored) {
        return Err(AuthError::WrongSecret { id: id.to_owned() });
    }
    if let Some((at, by)) = &token.revoked {
        return Err(AuthError::TokenRevoked { id: id.to_owned(), at: time(*at), by: by.clone() });
    }
    if let Some(expires) = token.expires.filter(|e| now >= *e) {
        return Err(AuthError::TokenExpired { id: id.to_owned(), at: time(expires) });
    }
    if !state.people.contains_key(&token.person) {
        return Err(AuthError::UnknownPerson { person: token.person.clone() });
    }
    Ok(Principal { name: token.person.clone(), via: Via::Token { id: id.to_owned() } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_parses_back_to_its_id_and_hashes_to_its_recorded_hash() {
        let t = generate().unwrap();
        assert_eq!(parse_id(&t.token), Ok(t.id.as_str()));
        assert_eq!(hash(&t.token), t.sha256);
        assert_eq!(t.token.len(), 4 + 16 + 1 + 43);
        assert_ne!(generate().unwrap().token, t.token);
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        let good = generate().unwrap().token;
        for bad in [
            "",
            "tgt_",
            "tgt_0011",
            &good[..good.len() - 1],
            &format!("{good}x"),
            &good.replace("tgt_", "tgx_"),
            &format!("tgt_{}_{}", "G".repeat(16), "a".repeat(43)),
            &format!("tgt_{}_{}", "0".repeat(16), "a=".repeat(21)),
            &format!("tgt_{}-{}", "0".repeat(16), "a".repeat(43)),
        ] {
            assert_eq!(parse_id(bad), Err(AuthError::MalformedToken), "{bad}");
        }
    }
}
