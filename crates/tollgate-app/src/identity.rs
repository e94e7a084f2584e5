//! Who is making a request, for front ends that cannot take `--as` on trust (`tollgate serve`).
//! Two kinds of bearer credential are accepted, both checked offline against what this process
//! already holds:
//!
//! - a personal API token (`tgt_<id>_<secret>`, [`token`]): issued by `tollgate token create`,
//!   recorded in the log as its SHA-256 only, checked against [`State::tokens`];
//! - an OIDC ID token (a JWT, [`jwt`]) from an issuer configured in an [`OidcConfig`]
//!   ([`oidc`]): signature (RS256 or ES256) against the issuer's JWKS file, issuer, audience,
//!   validity window, then the identity rules that map its claims to a Tollgate person.
//!
//! Either way the result is a [`Principal`] naming a person on record; what that person may do
//! is `decide`'s, by the roles they hold, exactly as for the command line.
//!
//! Errors: [`AuthError`] says precisely why a credential was refused, for the server's log and
//! for the operator; it never contains the secret. A server may answer every variant with the
//! same `401` and keep the detail for its log.

pub mod jwt;
pub mod oidc;
pub mod token;

use tollgate_domain::{State, Timestamp};

pub use jwt::Jwk;
pub use oidc::{ConfigError, JwksSource, OidcConfig, read_jwks_json};
pub use token::{NewToken, authenticate_token};

/// The person a request acts as, and how they proved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub via: Via,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// A personal API token, by its id (never its secret).
    Token { id: String },
    /// An OIDC ID token: its issuer and `sub` claim.
    Oidc { issuer: String, subject: String },
}

/// Why a bearer credential was refused. Each refusal has its own variant, so tests and the
/// server's log can tell them apart; none carries the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("not a Tollgate API token: expected tgt_<16 hex digits>_<43 base64url characters>")]
    MalformedToken,
    #[error("API token {id} is not known to this store")]
    UnknownToken { id: String },
    #[error("API token {id}: the secret does not match")]
    WrongSecret { id: String },
    #[error("API token {id} expired at {at}")]
    TokenExpired { id: String, at: String },
    #[error("API token {id} was revoked by {by} at {at}")]
    TokenRevoked { id: String, at: String, by: String },
    #[error("{person} is not a person on record; the credential names nobody who can act")]
    UnknownPerson { person: String },
    #[error("OIDC ID tokens are not accepted: no OIDC configuration is loaded")]
    OidcNotConfigured,
    #[error("not a well-formed JWT: {0}")]
    MalformedJwt(String),
    #[error("JWT algorithm `{alg}` is refused; only RS256 and ES256 are accepted")]
    AlgorithmRefused { alg: String },
    #[error("JWT signed by unknown issuer `{issuer}`")]
    UnknownIssuer { issuer: String },
    #[error("no key {kid} in the JWKS of {issuer}")]
    KeyNotFound { issuer: String, kid: String },
    #[error("JWT algorithm {alg} does not fit key {kid}, which is {key}")]
    KeyMismatch { alg: String, kid: String, key: String },
    #[error("the JWT signature does not verify against key {kid} of {issuer}")]
    BadSignature { issuer: String, kid: String },
    #[error("JWT audience {found} does not include `{expected}`")]
    WrongAudience { expected: String, found: String },
    #[error("JWT has no `{claim}` claim, which is required")]
    MissingClaim { claim: &'static str },
    #[error("JWT expired at {at}")]
    Expired { at: String },
    #[error("JWT is not valid before {at}")]
    NotYetValid { at: String },
    #[error("no identity rule maps issuer {issuer}, subject {subject} to a Tollgate person")]
    NoIdentity { issuer: String, subject: String },
}

/// Authenticates a bearer credential: a token starting `tgt_` is a personal API token, any
/// other an OIDC ID token checked against `oidc`. The person it names must be on record in
/// `state`. `now` is the recording machine's clock, injected (the server passes its own); an API
/// token's expiry is judged on the store's time (a sandbox's runs ahead).
pub fn authenticate(
    state: &State,
    oidc: Option<&OidcConfig>,
    bearer: &str,
    now: Timestamp,
) -> Result<Principal, AuthError> {
    if bearer.starts_with(token::PREFIX) {
        // A token's expiry is a time of the store's (it was given as `+2 weeks` from the
        // store's now): on a sandbox, its clock; an ID token's is the issuer's, real time.
        return authenticate_token(state, bearer, crate::sandbox::now(state, now));
    }
    let config = oidc.ok_or(AuthError::OidcNotConfigured)?;
    let principal = config.verify(bearer, now)?;
    if !state.people.contains_key(&principal.name) {
        return Err(AuthError::UnknownPerson { person: principal.name });
    }
    Ok(principal)
}
