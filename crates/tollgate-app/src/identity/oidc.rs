//! OIDC ID tokens: which issuers are trusted, with which keys and audience, and how their
//! claims name a Tollgate person. The configuration is a TOML file:
//!
//! ```toml
//! [[issuer]]
//! issuer = "https://token.actions.githubusercontent.com"
//! audience = "tollgate"
//! jwks-file = "github-jwks.json"      # relative to this file, or instead:
//! # jwks-uri = "https://token.actions.githubusercontent.com/.well-known/jwks"
//! max-skew = "60s"                    # optional: default 60 s, at most 5 min
//!
//! # A service identity: every claim listed must equal the token's (strings or booleans).
//! [[identity]]
//! issuer = "https://token.actions.githubusercontent.com"
//! claims = { repository = "acme/payments", ref = "refs/heads/main", environment = "production" }
//! person = "ci-payments-deploy"
//!
//! # People: the value of one claim looked up in a table; `claims` may add preconditions.
//! [[identity]]
//! issuer = "https://login.example.com"
//! claims = { email_verified = true }
//! claim = "email"
//! people = { "alice@example.com" = "alice" }
//! ```
//!
//! Rules are tried in file order and the first that matches names the person; no match is a
//! refusal naming the issuer and subject. A `person` rule must list at least one claim (else
//! every token of the issuer would be that person). A JWKS file is read at load time; a
//! `jwks-uri` is fetched by the front end that loads the configuration (this layer knows no
//! HTTP: [`OidcConfig::parse`] takes the reader), which may fetch it again when a token names
//! a key it does not hold (an issuer rotating its keys) through [`OidcConfig::set_keys`].
//!
//! Checks, in order: framing and algorithm ([`super::jwt`]), `iss` is a configured issuer (read
//! before verification only to choose the key set), signature, `aud` (string or array)
//! contains the audience, `exp` present and not past, `nbf` and `iat` not in the future, each
//! with the issuer's skew, `sub` present, then the identity rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate_domain::{Span, Timestamp};
use tollgate_sigstore::PublicKey;

use super::jwt::{self, Jwk};
use super::{AuthError, Principal, Via};
use crate::codec::time;

const DEFAULT_SKEW: i64 = 60;
const MAX_SKEW: i64 = 300;

/// A configuration that failed to load: the file, the key path within it, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}{message}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct ConfigError {
    pub file: String,
    /// `issuer[0].max-skew`, or empty for the file as a whole.
    pub key: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    issuer: Vec<RawIssuer>,
    #[serde(default)]
    identity: Vec<RawIdentity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawIssuer {
    issuer: String,
    audience: String,
    jwks_file: Option<PathBuf>,
    jwks_uri: Option<String>,
    max_skew: Option<String>,
}

/// Where an issuer's keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// A file, as written in the configuration (relative to it).
    File(PathBuf),
    /// An HTTPS URL the front end fetches (plain HTTP only to a loopback address).
    Uri(String),
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::File(p) => write!(f, "{}", p.display()),
            JwksSource::Uri(u) => f.write_str(u),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    issuer: String,
    #[serde(default)]
    claims: BTreeMap<String, ClaimValue>,
    person: Option<String>,
    claim: Option<String>,
    people: Option<BTreeMap<String, String>>,
}

/// A claim value a rule asks for: matched exactly against the token's JSON value.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ClaimValue {
    Text(String),
    Flag(bool),
}

impl ClaimValue {
    fn matches(&self, v: Option<&Value>) -> bool {
        match (self, v) {
            (ClaimValue::Text(want), Some(Value::String(got))) => want == got,
            (ClaimValue::Flag(want), Some(Value::Bool(got))) => want == got,
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Issuer {
    pub issuer: String,
    pub audience: String,
    pub jwks: JwksSource,
    pub keys: Vec<Jwk>,
    /// Seconds of clock difference tolerated on `exp`, `nbf` and `iat`.
    pub max_skew: i64,
}

#[derive(Clone, Debug)]
pub enum Maps {
    /// Every claim matched: this person.
    Person(String),
    /// The value of this claim, looked up in the table.
    Claim { claim: String, people: BTreeMap<String, String> },
}

#[derive(Clone, Debug)]
pub struct IdentityRule {
    pub issuer: String,
    pub claims: BTreeMap<String, ClaimValue>,
    pub maps: Maps,
}

/// The issuers trusted and the identity rules, as loaded.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    pub issuers: Vec<Issuer>,
    pub identities: Vec<IdentityRule>,
}

impl OidcConfig {
    /// Reads the configuration and every JWKS file it names (relative to its directory); a
    /// `jwks-uri` is refused (see [`OidcConfig::load_with`]).
    pub fn load(path: &Path) -> Result<OidcConfig, ConfigError> {
        OidcConfig::load_with(path, |uri| {
            Err(format!("{uri}: this front end does not fetch key sets; give a jwks-file"))
        })
    }

    /// Reads the configuration at `path` with `fetch` for `jwks-uri` sources (files are read
    /// relative to the configuration).
    pub fn load_with(path: &Path, fetch: impl Fn(&str) -> Result<Vec<u8>, String>) -> Result<OidcConfig, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            key: String::new(),
            message: e.to_string(),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        OidcConfig::parse(&name, &text, |source| match source {
            JwksSource::File(file) => read_file(dir, file),
            JwksSource::Uri(uri) => fetch(uri),
        })
    }

    /// Parses a configuration named `name`; `read_jwks` reads a key set from where it is.
    pub fn parse(
        name: &str,
        text: &str,
        read_jwks: impl Fn(&JwksSource) -> Result<Vec<u8>, String>,
    ) -> Result<OidcConfig, ConfigError> {
        let err = |key: String, message: String| ConfigError { file: name.to_owned(), key, message };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e.span().map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                format!("line {line}: ")
            });
            err(String::new(), format!("{}invalid TOML: {}", at.unwrap_or_default(), e.message()))
        })?;
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let message = e.inner().to_string();
            let message = message.split("\nin `").next().unwrap_or(&message).trim().to_owned();
            err(e.path().to_string(), message)
        })?;
        if raw.issuer.is_empty() {
            return Err(err("issuer".into(), "no [[issuer]] is configured".into()));
        }
        let mut issuers: Vec<Issuer> = Vec::new();
        for (i, r) in raw.issuer.iter().enumerate() {
            let key = |field: &str| format!("issuer[{i}].{field}");
            if r.issuer.trim().is_empty() || issuers.iter().any(|x| x.issuer == r.issuer) {
                return Err(err(key("issuer"), format!("`{}` is empty or configured twice", r.issuer)));
            }
            if r.audience.trim().is_empty() {
                return Err(err(key("audience"), "must not be empty".into()));
            }
            let max_skew = match &r.max_skew {
                None => DEFAULT_SKEW,
                Some(text) => match text.parse::<Span>() {
                    Ok(Span::Fixed(d)) if d.num_seconds() >= 0 && d.num_seconds() <= MAX_SKEW => d.num_seconds(),
                    Ok(_) => return Err(err(key("max-skew"), format!("`{text}`: at most 5 minutes, in clock time"))),
                    Err(e) => return Err(err(key("max-skew"), e.0)),
                },
            };
            let (jwks, field) = match (&r.jwks_file, &r.jwks_uri) {
                (Some(file), None) => (JwksSource::File(file.clone()), "jwks-file"),
                (None, Some(uri)) => (JwksSource::Uri(uri.clone()), "jwks-uri"),
                _ => return Err(err(key("jwks-file"), "give exactly one of `jwks-file` and `jwks-uri`".into())),
            };
            if let JwksSource::Uri(uri) = &jwks
                && !(uri.starts_with("https://") || is_loopback_http(uri))
            {
                return Err(err(key(field), format!("`{uri}`: expected an https:// URL")));
            }
            let bytes = read_jwks(&jwks).map_err(|e| err(key(field), e))?;
            let keys = read_jwks_json(&bytes).map_err(|e| err(key(field), format!("{jwks}: {e}")))?;
            issuers.push(Issuer { issuer: r.issuer.clone(), audience: r.audience.clone(), jwks, keys, max_skew });
        }
        let mut identities = Vec::new();
        for (i, r) in raw.identity.into_iter().enumerate() {
            let key = |field: &str| format!("identity[{i}].{field}");
            if !issuers.iter().any(|x| x.issuer == r.issuer) {
                return Err(err(key("issuer"), format!("`{}` is not a configured [[issuer]]", r.issuer)));
            }
            let maps = match (r.person, r.claim, r.people) {
                (Some(_), None, None) if r.claims.is_empty() => {
                    return Err(err(
                        key("claims"),
                        "a `person` rule must match at least one claim, or every token of the issuer would be that person"
                            .into(),
                    ));
                }
                (Some(person), None, None) => Maps::Person(person),
                (None, Some(claim), Some(people)) => Maps::Claim { claim, people },
                _ => {
                    return Err(err(
                        key("person"),
                        "give either `person` (with `claims`) or both `claim` and `people`".into(),
                    ));
                }
            };
            identities.push(IdentityRule { issuer: r.issuer, claims: r.claims, maps });
        }
        Ok(OidcConfig { issuers, identities })
    }

    /// Replaces the keys of `issuer` (a key set fetched again); false if no such issuer.
    pub fn set_keys(&mut self, issuer: &str, keys: Vec<Jwk>) -> bool {
        match self.issuers.iter_mut().find(|i| i.issuer == issuer) {
            Some(i) => {
                i.keys = keys;
                true
            }
            None => false,
        }
    }

    /// Verifies an ID token at `now` and maps it to a person (not yet checked against the
    /// people on record: [`super::authenticate`] does that).
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, AuthError> {
        let unverified = jwt::decode(token)?;
        let iss = match unverified.claims.get("iss") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(AuthError::MalformedJwt("`iss` is not a string".into())),
            None => return Err(AuthError::MissingClaim { claim: "iss" }),
        };
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or_else(|| AuthError::UnknownIssuer { issuer: iss.clone() })?;
        let claims = unverified.verify(&issuer.issuer, &issuer.keys)?;
        check_claims(issuer, &claims, now)?;
        let subject = match claims.get("sub") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(AuthError::MissingClaim { claim: "sub" }),
        };
        let person = self
            .identities
            .iter()
            .filter(|r| r.issuer == issuer.issuer)
            .filter(|r| r.claims.iter().all(|(k, v)| v.matches(claims.get(k))))
            .find_map(|r| match &r.maps {
                Maps::Person(p) => Some(p.clone()),
                Maps::Claim { claim, people } => match claims.get(claim) {
                    Some(Value::String(v)) => people.get(v).cloned(),
                    _ => None,
                },
            })
            .ok_or_else(|| AuthError::NoIdentity { issuer: issuer.issuer.clone(), subject: subject.clone() })?;
        Ok(Principal { name: person, via: Via::Oidc { issuer: issuer.issuer.clone(), subject } })
    }
}

fn read_file(dir: &Path, file: &Path) -> Result<Vec<u8>, String> {
    let p = dir.join(file);
    std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
}

/// `http://127.0.0.1...`, `http://[::1]...` or `http://localhost...`: a key set served on this
/// machine (a sidecar, a test), where TLS adds nothing.
pub fn is_loopback_http(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else { return false };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host
        .rsplit_once(':')
        .filter(|(h, p)| !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    matches!(host, "localhost" | "[::1]") || host.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

fn numeric_date(claims: &Map<String, Value>, claim: &'static str) -> Result<Option<i64>, AuthError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15).map(|f| f.floor() as i64))
            .map(Some)
            .ok_or_else(|| AuthError::MalformedJwt(format!("`{claim}` is not a NumericDate"))),
        Some(_) => Err(AuthError::MalformedJwt(format!("`{claim}` is not a NumericDate"))),
    }
}

fn at(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(|| secs.to_string(), time)
}

fn check_claims(issuer: &Issuer, claims: &Map<String, Value>, now: Timestamp) -> Result<(), AuthError> {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(AuthError::MalformedJwt("`aud` is neither a string nor an array".into())),
        None => return Err(AuthError::MissingClaim { claim: "aud" }),
    };
    if !audiences.contains(&issuer.audience.as_str()) {
        return Err(AuthError::WrongAudience {
            expected: issuer.audience.clone(),
            found: format!("[{}]", audiences.join(", ")),
        });
    }
    let now = now.timestamp();
    let skew = issuer.max_skew;
    let exp = numeric_date(claims, "exp")?.ok_or(AuthError::MissingClaim { claim: "exp" })?;
    if now >= exp.saturating_add(skew) {
        return Err(AuthError::Expired { at: at(exp) });
    }
    for claim in ["nbf", "iat"] {
        if let Some(t) = numeric_date(claims, claim)?
            && now.saturating_add(skew) < t
        {
            return Err(AuthError::NotYetValid { at: at(t) });
        }
    }
    Ok(())
}

/// A JWK Set: `{"keys": [...]}`. Keys for encryption (`use: enc`) are skipped; any other key
/// this verifier cannot use is an error, so that a key set is never half-read.
pub fn read_jwks_json(bytes: &[u8]) -> Result<Vec<Jwk>, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let list = doc.get("keys").and_then(Value::as_array).ok_or("no `keys` array (expected a JWK Set)")?;
    let mut keys = Vec::new();
    for (i, k) in list.iter().enumerate() {
        let text = |name: &str| k.get(name).and_then(Value::as_str).map(str::to_owned);
        match text("use").as_deref() {
            Some("enc") => continue,
            None | Some("sig") => {}
            Some(other) => return Err(format!("keys[{i}]: unknown `use` `{other}`")),
        }
        let key = PublicKey::from_jwk(k).map_err(|e| format!("keys[{i}]: {e}"))?;
        keys.push(Jwk { kid: text("kid"), alg: text("alg"), key });
    }
    if keys.is_empty() {
        return Err("no signing key".into());
    }
    Ok(keys)
}
