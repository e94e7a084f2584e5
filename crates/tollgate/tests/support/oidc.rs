//! A fake OIDC issuer for the server tests: ES256 keys of the test's own (as GitHub Actions or
//! GitLab sign their job tokens, with the issuer's key), a JWKS served over loopback HTTP the
//! way an issuer publishes it, and the `--oidc` configuration that trusts it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};

/// GitHub Actions' issuer, as its tokens name it.
pub const GITHUB: &str = "https://token.actions.githubusercontent.com";
/// A company's single sign-on, whose ID tokens name people by e-mail.
pub const SSO: &str = "https://sso.example.com";

/// A key of the issuer: its id and private scalar.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

pub fn jwk(kid: &str, key: &SigningKey) -> Value {
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid, "x": B64.encode(&bytes[1..33]), "y": B64.encode(&bytes[33..65])})
}

/// A compact JWS of `claims` under `header`, signed with `key`.
pub fn sign(header: &Value, claims: &Value, key: &SigningKey) -> String {
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig.to_bytes()))
}

/// Seconds since the epoch: tokens are minted for the server's clock, which is the system's.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The claims of a GitHub Actions job of `repository` deploying to `environment`, valid for an
/// hour (longer than any test walk).
pub fn github_job(repository: &str, environment: &str) -> Value {
    let t = now();
    json!({
        "iss": GITHUB, "aud": "tollgate", "iat": t - 5, "nbf": t - 5, "exp": t + 3600,
        "sub": format!("repo:{repository}:environment:{environment}"),
        "repository": repository, "ref": "refs/heads/main", "environment": environment,
        "workflow": "deploy", "run_id": "4412",
    })
}

pub fn sso_login(email: &str) -> Value {
    let t = now();
    json!({"iss": SSO, "aud": "tollgate", "iat": t, "exp": t + 3600, "sub": email, "email": email, "email_verified": true})
}

/// The issuers' published key sets, served on loopback: `set` replaces one (a key rotation).
pub struct Issuers {
    pub dir: PathBuf,
    pub config: PathBuf,
    jwks: Arc<Mutex<Value>>,
    pub fetches: Arc<Mutex<u32>>,
}

impl Issuers {
    /// GitHub's keys served at a `jwks-uri` (key `gh-1`, seed 1), the SSO's in a file (key
    /// `sso-1`, seed 2). A job of acme/payments deploying to production is `ci-payments`; an
    /// SSO login is the person its e-mail names.
    pub fn start(dir: &Path) -> Issuers {
        let jwks = Arc::new(Mutex::new(json!({"keys": [jwk("gh-1", &key(1))]})));
        let fetches = Arc::new(Mutex::new(0));
        let url = serve_jwks(Arc::clone(&jwks), Arc::clone(&fetches));
        std::fs::write(dir.join("sso-jwks.json"), json!({"keys": [jwk("sso-1", &key(2))]}).to_string()).unwrap();
        let config = dir.join("oidc.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[[issuer]]
issuer = "{GITHUB}"
audience = "tollgate"
jwks-uri = "{url}/.well-known/jwks"

[[issuer]]
issuer = "{SSO}"
audience = "tollgate"
jwks-file = "sso-jwks.json"

[[identity]]
issuer = "{GITHUB}"
claims = {{ repository = "acme/payments", ref = "refs/heads/main", environment = "production" }}
person = "ci-payments"

[[identity]]
issuer = "{SSO}"
claims = {{ email_verified = true }}
claim = "email"
people = {{ "rita@example.com" = "rita", "dev@example.com" = "dev" }}
"#
            ),
        )
        .unwrap();
        Issuers { dir: dir.to_owned(), config, jwks, fetches }
    }

    /// A token of a GitHub Actions job, signed with GitHub's current key.
    pub fn github_token(&self, repository: &str, environment: &str) -> String {
        sign(&json!({"alg": "ES256", "kid": "gh-1", "typ": "JWT"}), &github_job(repository, environment), &key(1))
    }

    pub fn sso_token(&self, email: &str) -> String {
        sign(&json!({"alg": "ES256", "kid": "sso-1", "typ": "JWT"}), &sso_login(email), &key(2))
    }

    /// GitHub now publishes `keys` (what its JWKS endpoint answers from now on).
    pub fn publish(&self, keys: Value) {
        *self.jwks.lock().unwrap() = json!({ "keys": keys });
    }
}

/// Answers every request with the key set, counting the fetches.
fn serve_jwks(jwks: Arc<Mutex<Value>>, fetches: Arc<Mutex<u32>>) -> String {
    super::http::serve(move |_| {
        *fetches.lock().unwrap() += 1;
        (200, "application/json", jwks.lock().unwrap().to_string())
    })
}

/// A fake of GitHub Actions' ID token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL): with the job's
/// request token as bearer and `audience=tollgate` it answers `{"count": 1, "value": jwt}` as
/// GitHub does, else 401. Its URL carries a query already, as GitHub's does.
pub fn github_token_endpoint(request_token: &'static str, jwt: String) -> String {
    let base = super::http::serve(move |request| {
        let authorized =
            request.header("authorization").is_some_and(|v| v.eq_ignore_ascii_case(&format!("bearer {request_token}")));
        if authorized && request.target.ends_with("?api-version=2.0&audience=tollgate") {
            (200, "application/json", json!({"count": jwt.len(), "value": jwt}).to_string())
        } else {
            (401, "application/json", json!({"message": "bad request token or audience"}).to_string())
        }
    });
    format!("{base}/_apis/pipelines/1/runs/2/idtoken?api-version=2.0")
}
