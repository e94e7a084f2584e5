//! OIDC ID tokens, minted by the test with its own keys (ES256 with `p256`, RS256 with
//! `openssl`, which generates a 2048-bit key in a fraction of a second where a debug build of
//! `rsa` takes far longer), checked against a configuration and JWKS files written to a
//! temporary directory. Each test is given / when / then.

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use tollgate_app::identity::{AuthError, OidcConfig, Principal, Via, authenticate};
use tollgate_domain::state::Person;
use tollgate_domain::{State, Timestamp};

const GH: &str = "https://token.actions.githubusercontent.com";
const IDP: &str = "https://login.example.com";

fn now() -> Timestamp {
    "2026-11-03T10:00:00Z".parse().unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

/// The RSA key: PEM private key path, and its JWK members. `None` without openssl on PATH.
struct Rsa {
    _dir: tempfile::TempDir,
    pem: std::path::PathBuf,
    jwk: Value,
    public_pem: Vec<u8>,
}

fn openssl(args: &[&str], input: Option<&[u8]>) -> Option<Vec<u8>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(input.unwrap_or_default()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(out.stdout)
}

fn rsa() -> Option<&'static Rsa> {
    static KEY: OnceLock<Option<Rsa>> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("rsa.pem");
        let p = pem.to_str().unwrap();
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", p], None)?;
        let modulus = String::from_utf8(openssl(&["rsa", "-in", p, "-noout", "-modulus"], None)?).unwrap();
        let n = hex::decode(modulus.trim().strip_prefix("Modulus=").unwrap()).unwrap();
        let public_pem = openssl(&["pkey", "-in", p, "-pubout"], None)?;
        let jwk = json!({"kty": "RSA", "kid": "rsa-1", "use": "sig", "n": b64(n), "e": b64([1, 0, 1])});
        Some(Rsa { _dir: dir, pem, jwk, public_pem })
    })
    .as_ref()
}

/// Without openssl the RS256 cases cannot mint a token: say so rather than pass silently.
fn rsa_or_skip(test: &str) -> Option<&'static Rsa> {
    let key = rsa();
    if key.is_none() {
        eprintln!("{test}: skipped, `openssl` is not on PATH to mint RS256 tokens");
    }
    key
}

fn es_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
}

fn es_jwk(kid: &str) -> Value {
    let point = es_key().verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&bytes[1..33]), "y": b64(&bytes[33..65])})
}

enum Key<'a> {
    Es,
    Rsa(&'a Rsa),
}

fn sign(key: &Key, input: &str) -> Vec<u8> {
    match key {
        Key::Es => {
            let sig: p256::ecdsa::Signature = es_key().sign(input.as_bytes());
            sig.to_bytes().to_vec()
        }
        Key::Rsa(k) => openssl(&["dgst", "-sha256", "-sign", k.pem.to_str().unwrap()], Some(input.as_bytes())).unwrap(),
    }
}

fn mint(header: Value, claims: &Value, key: &Key) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let sig = sign(key, &input);
    format!("{input}.{}", b64(sig))
}

fn github_claims() -> Value {
    let t = now().timestamp();
    json!({
        "iss": GH, "aud": "tollgate", "sub": "repo:acme/payments:environment:production",
        "iat": t - 10, "nbf": t - 10, "exp": t + 300,
        "repository": "acme/payments", "ref": "refs/heads/main", "environment": "production",
    })
}

fn idp_claims() -> Value {
    let t = now().timestamp();
    json!({
        "iss": IDP, "aud": ["other", "tollgate"], "sub": "00u1a2b3", "iat": t, "exp": t + 600,
        "email": "alice@example.com", "email_verified": true,
    })
}

/// The configuration of the module doc: GitHub Actions (RSA keys) and a login service (EC).
fn config(dir: &Path) -> OidcConfig {
    let mut gh_keys = vec![es_jwk("unused-ec")];
    if let Some(k) = rsa() {
        gh_keys.insert(0, k.jwk.clone());
    }
    std::fs::write(dir.join("github-jwks.json"), json!({ "keys": gh_keys }).to_string()).unwrap();
    std::fs::write(dir.join("idp-jwks.json"), json!({"keys": [es_jwk("ec-1")]}).to_string()).unwrap();
    let path = dir.join("oidc.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[issuer]]
issuer = "{GH}"
audience = "tollgate"
jwks-file = "github-jwks.json"

[[issuer]]
issuer = "{IDP}"
audience = "tollgate"
jwks-file = "idp-jwks.json"
max-skew = "30s"

[[identity]]
issuer = "{GH}"
claims = {{ repository = "acme/payments", ref = "refs/heads/main", environment = "production" }}
person = "ci-payments-deploy"

[[identity]]
issuer = "{IDP}"
claims = {{ email_verified = true }}
claim = "email"
people = {{ "alice@example.com" = "alice", "ghost@example.com" = "ghost" }}
"#
        ),
    )
    .unwrap();
    OidcConfig::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn state() -> State {
    let mut s = State::default();
    for name in ["alice", "ci-payments-deploy"] {
        s.people.insert(name.into(), std::sync::Arc::new(Person { name: name.into(), roles: Default::default() }));
    }
    s
}

struct Given {
    _dir: tempfile::TempDir,
    config: OidcConfig,
    state: State,
}

fn given() -> Given {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    Given { _dir: dir, config, state: state() }
}

impl Given {
    fn auth(&self, token: &str) -> Result<Principal, AuthError> {
        authenticate(&self.state, Some(&self.config), token, now())
    }
}

fn es_header() -> Value {
    json!({"alg": "ES256", "kid": "ec-1", "typ": "JWT"})
}

fn rs_header() -> Value {
    json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"})
}

#[test]
fn a_github_actions_token_signed_rs256_maps_to_its_service_identity() {
    let Some(rsa) = rsa_or_skip("rs256") else { return };
    let g = given();
    let token = mint(rs_header(), &github_claims(), &Key::Rsa(rsa));
    assert_eq!(
        g.auth(&token),
        Ok(Principal {
            name: "ci-payments-deploy".into(),
            via: Via::Oidc { issuer: GH.into(), subject: "repo:acme/payments:environment:production".into() },
        })
    );
}

#[test]
fn a_login_token_signed_es256_maps_its_email_to_a_person() {
    let g = given();
    let token = mint(es_header(), &idp_claims(), &Key::Es);
    let p = g.auth(&token).unwrap();
    assert_eq!(p.name, "alice");
    assert_eq!(p.via, Via::Oidc { issuer: IDP.into(), subject: "00u1a2b3".into() });
    // Without a kid, the issuer's one EC key is used
    let token = mint(json!({"alg": "ES256"}), &idp_claims(), &Key::Es);
    assert_eq!(g.auth(&token).unwrap().name, "alice");
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

#[test]
fn the_validity_window_allows_the_issuers_skew_and_no_more() {
    let g = given();
    let t = now().timestamp();
    let es = |claims: Value| g.auth(&mint(es_header(), &claims, &Key::Es));
    // The login service allows 30 s
    assert!(es(with(idp_claims(), "exp", json!(t - 20))).is_ok());
    assert_eq!(
        es(with(idp_claims(), "exp", json!(t - 31))),
        Err(AuthError::Expired { at: "2026-11-03T09:59:29Z".into() })
    );
    assert!(es(with(idp_claims(), "nbf", json!(t + 20))).is_ok());
    assert_eq!(
        es(with(idp_claims(), "nbf", json!(t + 120))),
        Err(AuthError::NotYetValid { at: "2026-11-03T10:02:00Z".into() })
    );
    assert_eq!(
        es(with(idp_claims(), "iat", json!(t + 120))),
        Err(AuthError::NotYetValid { at: "2026-11-03T10:02:00Z".into() })
    );
    assert_eq!(es(with(idp_claims(), "exp", Value::Null)), Err(AuthError::MissingClaim { claim: "exp" }));
    assert!(matches!(es(with(idp_claims(), "exp", json!("tomorrow"))), Err(AuthError::MalformedJwt(_))));
}

#[test]
fn a_token_for_another_audience_or_from_an_unknown_issuer_is_refused() {
    let g = given();
    let es = |claims: Value| g.auth(&mint(es_header(), &claims, &Key::Es));
    assert_eq!(
        es(with(idp_claims(), "aud", json!("someone-else"))),
        Err(AuthError::WrongAudience { expected: "tollgate".into(), found: "[someone-else]".into() })
    );
    assert_eq!(es(with(idp_claims(), "aud", Value::Null)), Err(AuthError::MissingClaim { claim: "aud" }));
    assert_eq!(
        es(with(idp_claims(), "iss", json!("https://evil.example.com"))),
        Err(AuthError::UnknownIssuer { issuer: "https://evil.example.com".into() })
    );
}

#[test]
fn an_unknown_kid_a_tampered_payload_or_a_der_signature_is_refused() {
    let g = given();
    let token = mint(json!({"alg": "ES256", "kid": "rotated-away"}), &idp_claims(), &Key::Es);
    assert_eq!(g.auth(&token), Err(AuthError::KeyNotFound { issuer: IDP.into(), kid: "rotated-away".into() }));
    // Tampered: alice's token made out to someone else, signature kept
    let token = mint(es_header(), &idp_claims(), &Key::Es);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = with(idp_claims(), "email", json!("ghost@example.com"));
    let tampered = format!("{}.{}.{}", parts[0], b64(forged.to_string()), parts[2]);
    assert_eq!(g.auth(&tampered), Err(AuthError::BadSignature { issuer: IDP.into(), kid: "ec-1".into() }));
    // JOSE signatures are r || s: the same signature in DER is refused
    let sig = p256::ecdsa::Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
    let der = format!("{}.{}.{}", parts[0], parts[1], b64(sig.to_der().as_bytes()));
    assert_eq!(g.auth(&der), Err(AuthError::BadSignature { issuer: IDP.into(), kid: "ec-1".into() }));
}

/// HMAC-SHA256 (RFC 2104), for minting the attacker's token.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&tollgate_sigstore::sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = tollgate_sigstore::sha256(&[pad(0x36), message.to_vec()].concat());
    tollgate_sigstore::sha256(&[pad(0x5c), inner.to_vec()].concat())
}

#[test]
fn alg_none_and_hmac_with_the_public_key_are_refused_before_any_key_is_used() {
    let g = given();
    let claims = github_claims();
    let none = format!("{}.{}.", b64(json!({"alg": "none"}).to_string()), b64(claims.to_string()));
    assert_eq!(g.auth(&none), Err(AuthError::AlgorithmRefused { alg: "none".into() }));
    // The classic confusion: HS256 keyed with the RSA public key everyone can read
    let public: Vec<u8> = match rsa() {
        Some(k) => k.public_pem.clone(),
        None => es_jwk("ec-1").to_string().into_bytes(),
    };
    let input = format!("{}.{}", b64(json!({"alg": "HS256", "kid": "rsa-1"}).to_string()), b64(claims.to_string()));
    let forged = format!("{input}.{}", b64(hmac_sha256(&public, input.as_bytes())));
    assert_eq!(g.auth(&forged), Err(AuthError::AlgorithmRefused { alg: "HS256".into() }));
}

#[test]
fn an_es256_header_naming_an_rsa_key_is_refused() {
    let Some(_) = rsa_or_skip("alg/key mismatch") else { return };
    let g = given();
    let token = mint(json!({"alg": "ES256", "kid": "rsa-1"}), &github_claims(), &Key::Es);
    assert_eq!(
        g.auth(&token),
        Err(AuthError::KeyMismatch { alg: "ES256".into(), kid: "rsa-1".into(), key: "RSA".into() })
    );
}

#[test]
fn garbage_is_refused_as_malformed() {
    let g = given();
    for garbage in ["", "eyJ", "a.b.c", "!!!.???.***", "eyJhbGciOiJFUzI1NiJ9.e30"] {
        assert!(matches!(g.auth(garbage), Err(AuthError::MalformedJwt(_))), "{garbage:?}: {:?}", g.auth(garbage));
    }
}

#[test]
fn a_token_no_rule_maps_or_mapping_to_nobody_on_record_is_refused() {
    let Some(rsa) = rsa_or_skip("no identity") else { return };
    let g = given();
    // A feature branch of the same repository is not the production deployer
    let claims = with(github_claims(), "ref", json!("refs/heads/feature"));
    let token = mint(rs_header(), &claims, &Key::Rsa(rsa));
    assert_eq!(
        g.auth(&token),
        Err(AuthError::NoIdentity { issuer: GH.into(), subject: "repo:acme/payments:environment:production".into() })
    );
    let e = g.auth(&token).unwrap_err().to_string();
    assert!(e.contains(GH) && e.contains("repo:acme/payments"), "{e}");
}

#[test]
fn a_mapped_person_who_is_not_on_record_or_an_unverified_email_is_refused() {
    let g = given();
    let ghost = mint(es_header(), &with(idp_claims(), "email", json!("ghost@example.com")), &Key::Es);
    assert_eq!(g.auth(&ghost), Err(AuthError::UnknownPerson { person: "ghost".into() }));
    let unverified = mint(es_header(), &with(idp_claims(), "email_verified", json!(false)), &Key::Es);
    assert!(matches!(g.auth(&unverified), Err(AuthError::NoIdentity { .. })));
}

#[test]
fn without_an_oidc_configuration_only_api_tokens_are_accepted() {
    let token = mint(es_header(), &idp_claims(), &Key::Es);
    assert_eq!(authenticate(&state(), None, &token, now()), Err(AuthError::OidcNotConfigured));
    assert_eq!(authenticate(&state(), None, "tgt_nonsense", now()), Err(AuthError::MalformedToken));
}

fn load_error(toml: &str, jwks: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.json"), jwks).unwrap();
    let path = dir.path().join("oidc.toml");
    std::fs::write(&path, toml).unwrap();
    let e = OidcConfig::load(&path).unwrap_err();
    assert!(e.to_string().starts_with(&path.display().to_string()), "{e}");
    format!("{}: {}", e.key, e.message)
}

#[test]
fn configuration_errors_name_the_file_and_the_field() {
    let jwks = json!({"keys": [es_jwk("ec-1")]}).to_string();
    let issuer = "[[issuer]]\nissuer = \"https://i\"\naudience = \"a\"\njwks-file = \"k.json\"\n";
    for (toml, jwks, says) in [
        (format!("{issuer}max-skew = \"10m\"\n"), jwks.as_str(), "issuer[0].max-skew: `10m`: at most 5 minutes"),
        (format!("{issuer}max-skew = \"soon\"\n"), &jwks, "issuer[0].max-skew: `soon` is not a duration"),
        (format!("{issuer}colour = \"red\"\n"), &jwks, "issuer[0].colour: unknown field `colour`"),
        (issuer.replace("k.json", "missing.json"), &jwks, "issuer[0].jwks-file: "),
        (
            issuer.to_owned(),
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#,
            "keys[0]: JWK: key type `oct` is not supported",
        ),
        (issuer.to_owned(), r#"{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}"#, "EC curve P-384"),
        (
            format!("{issuer}[[identity]]\nissuer = \"https://i\"\nperson = \"x\"\n"),
            &jwks,
            "identity[0].claims: a `person` rule must match at least one claim",
        ),
        (
            format!("{issuer}[[identity]]\nissuer = \"https://j\"\nclaims = {{ a = \"b\" }}\nperson = \"x\"\n"),
            &jwks,
            "identity[0].issuer: `https://j` is not a configured",
        ),
        (
            format!("{issuer}[[identity]]\nissuer = \"https://i\"\nclaim = \"email\"\n"),
            &jwks,
            "identity[0].person: give either",
        ),
        ("issuer = [".to_owned(), &jwks, "invalid TOML"),
        (String::new(), &jwks, "issuer: no [[issuer]] is configured"),
    ] {
        let e = load_error(&toml, jwks);
        assert!(e.contains(says), "expected {says:?} in {e:?}");
    }
}
