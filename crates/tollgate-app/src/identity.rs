//! Who is acting, for front ends that cannot take a person's word for it (the server): a bearer
//! credential authenticates a person of the log, or nothing.
//!
//! Personal API tokens are `tgt_<id>_<secret>`: the id (8 random bytes, hex) finds the token in
//! the log, which holds only the SHA-256 of the whole string. The secret is 32 random bytes, so
//! a fast hash is the right one (no password KDF is needed against guessing 256 bits), and the
//! comparison is in constant time. A token acts as its person with the roles that person holds
//! at the moment of use: revoking a role takes effect on the next request.
//!
//! OIDC ID tokens (a CI job's identity) are not accepted yet: `OidcConfig` refuses to load.

use std::path::Path;

use sha2::{Digest, Sha256};
use tollgate_domain::{State, Timestamp};

/// An authenticated person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub via: Via,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    Token { id: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("not a Tollgate API token (expected tgt_<id>_<secret>); OIDC ID tokens are not accepted by this server")]
    Malformed,
    #[error("unknown token {0}")]
    Unknown(String),
    #[error("token {0} does not match: check it was copied whole")]
    Mismatch(String),
    #[error("token {id} expired at {at}")]
    Expired { id: String, at: String },
    #[error("token {id} was revoked at {at}")]
    Revoked { id: String, at: String },
    #[error("token {id}'s person {person} is no longer on record")]
    NoPerson { id: String, person: String },
}

/// The issuer configuration of OIDC ID tokens: not supported yet, so refused with the reason.
#[derive(Debug)]
pub struct OidcConfig(());

impl OidcConfig {
    pub fn load(path: &Path) -> Result<OidcConfig, String> {
        Err(format!(
            "{}: OIDC ID tokens are not supported yet; authenticate pipelines with an API token (tollgate token create)",
            path.display()
        ))
    }
}

/// A new token for `id`: the string to hand out once, and the hash the log keeps.
pub fn new_token(id: &str, secret: &[u8; 32]) -> (String, String) {
    let token = format!("tgt_{id}_{}", hex::encode(secret));
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    (token, hash)
}

/// The person `bearer` authenticates at `now`.
pub fn authenticate(
    state: &State,
    _oidc: Option<&OidcConfig>,
    bearer: &str,
    now: Timestamp,
) -> Result<Principal, AuthError> {
    let id = bearer
        .strip_prefix("tgt_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
        .filter(|id| tollgate_domain::decide::valid_token_id(id))
        .ok_or(AuthError::Malformed)?;
    let token = state.tokens.get(id).ok_or_else(|| AuthError::Unknown(id.to_owned()))?;
    let presented = Sha256::digest(bearer.as_bytes());
    let stored = hex::decode(&token.sha256).unwrap_or_default();
    if !constant_time_eq(&presented, &stored) {
        return Err(AuthError::Mismatch(id.to_owned()));
    }
    if let Some((at, _)) = &token.revoked {
        return Err(AuthError::Revoked { id: id.to_owned(), at: at.to_rfc3339() });
    }
    if let Some(at) = token.expires.filter(|at| *at <= now) {
        return Err(AuthError::Expired { id: id.to_owned(), at: at.to_rfc3339() });
    }
    if !state.people.contains_key(&token.person) {
        return Err(AuthError::NoPerson { id: id.to_owned(), person: token.person.clone() });
    }
    Ok(Principal { name: token.person.clone(), via: Via::Token { id: id.to_owned() } })
}

/// Equal bytes, in a time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
