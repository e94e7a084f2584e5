//! `tollgate serve`, really started on a free loopback port: who may do what through it, what
//! bad requests get, what survives a kill -9, and the API's published description.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::server::{create_token, spawn};
use support::*;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POST `body` (JSON) to `path` with `token`: the status and the answer.
fn post(url: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = agent().post(format!("{url}{path}")).content_type("application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut res = req.send(serde_json::to_vec(body).unwrap()).unwrap();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {status} not JSON ({e}): {text}")))
}

fn get(url: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = agent().get(format!("{url}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut res = req.call().unwrap();
    (res.status().as_u16(), res.body_mut().read_to_string().unwrap())
}

fn raw(url: &str, path: &str, token: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = agent().post(format!("{url}{path}")).header("Authorization", &format!("Bearer {token}"));
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    match req.send(body) {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let text = res.body_mut().read_to_string().unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        }
        // The server may answer 413 on the declared length and close while the body is still
        // being sent: the client then sees its write fail, not the answer.
        Err(ureq::Error::Io(e))
            if matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset) =>
        {
            (413, json!({"error": {"message": "length limit (connection closed while sending)"}}))
        }
        Err(e) => panic!("{path}: {e}"),
    }
}

fn served(tg: &Tg) -> String {
    tg.serve("rita");
    tg.remote.lock().unwrap().as_ref().unwrap().url.clone()
}

fn token(tg: &Tg, person: &str) -> String {
    tg.remote.lock().unwrap().as_ref().unwrap().token(person)
}

/// Every operation of the API, from its own OpenAPI document: (method, path).
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if !["/healthz", "/readyz", "/metrics"].contains(&path.as_str()) {
                ops.push((method.clone(), path.replace("{id}", "R-1")));
            }
        }
    }
    ops
}

#[test]
fn no_operation_answers_without_a_valid_credential_and_nothing_is_written() {
    // Given a served store and a revoked token (expiry is checked on an injected clock in
    // tollgate-app's tests/identity.rs, through the same `authenticate`)
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let url = served(&tg);
    let revoked = create_token(&tg, "rita", "eli");
    let id = revoked.split('_').nth(1).unwrap().to_owned();
    tg.ok("rita", &["token", "revoke", &id]);
    let before = tg.events();
    let (_, doc) = get(&url, "/api/v1/openapi.json", None);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let ops = operations(&doc);
    assert!(ops.len() > 60, "{} operations", ops.len());
    // When every operation is called with no token, a malformed one, an unknown one, one with a
    // forged secret and a revoked one
    let last = if revoked.ends_with('x') { "y" } else { "x" };
    let forged = format!("{}{last}", &revoked[..revoked.len() - 1]);
    let credentials: [(&str, Option<&str>); 5] = [
        ("none", None),
        ("malformed", Some("not a token")),
        ("unknown", Some("tgt_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        ("forged secret", Some(forged.as_str())),
        ("revoked", Some(revoked.as_str())),
    ];
    let mut bypasses = Vec::new();
    for (method, path) in &ops {
        for (what, credential) in &credentials {
            let status = if method == "get" {
                get(&url, path, *credential).0
            } else {
                post(&url, path, *credential, &json!({"args": {}})).0
            };
            if status != 401 {
                bypasses.push(format!("{method} {path} with {what} credential: {status}"));
            }
        }
    }
    // Then each is 401, and the log is as it was
    assert!(bypasses.is_empty(), "{} bypasses:\n{}", bypasses.len(), bypasses.join("\n"));
    assert_eq!(tg.events(), before);
    // And the health endpoints need none
    assert_eq!(get(&url, "/healthz", None).0, 200);
    assert_eq!(get(&url, "/readyz", None).0, 200);
    let (status, metrics) = get(&url, "/metrics", None);
    assert_eq!(status, 200);
    let failures = metrics
        .lines()
        .find(|l| l.starts_with("tollgate_auth_failures_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("auth failures counted");
    assert_eq!(failures, (ops.len() * credentials.len()) as u64);
}

#[test]
fn roles_decide_what_an_authenticated_person_may_do() {
    // Given a served store under the default procedure
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let url = served(&tg);
    let id = minor_release(&tg, "3.0.0");
    // Each write, by someone without the role and by someone with it
    let cases: &[(&str, Value, &str, &str)] = &[
        ("/api/v1/person/add", json!({"name": "zoe", "role": ["qa-lead"]}), "quinn", "rita"),
        ("/api/v1/blackout/add", json!({"from": "+30d", "to": "+31d", "reason": "year end"}), "dev", "rita"),
        ("/api/v1/risk/add", json!({"category": "tech", "risk": "r", "mitigation": "m", "owner": "o"}), "dev", "rita"),
        ("/api/v1/release/scope", json!({"id": id, "add": "ticket:PAY-1", "rollback": "redeploy"}), "pat", "eli"),
        ("/api/v1/release/scope", json!({"id": id, "lock": true}), "dev", "rita"),
        ("/api/v1/release/withdraw", json!({"id": id, "reason": "replanned"}), "eli", "rita"),
    ];
    for (path, args, wrong, right) in cases {
        let (wrong_token, right_token) = (token(&tg, wrong), token(&tg, right));
        let before = tg.events();
        let (status, answer) = post(&url, path, Some(&wrong_token), &json!({"args": args}));
        assert_eq!(status, 403, "{path} as {wrong}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden", "{answer}");
        assert_eq!(answer["exit"], 3);
        assert_eq!(tg.events(), before, "{path} as {wrong} wrote");
        let (status, answer) = post(&url, path, Some(&right_token), &json!({"args": args}));
        assert_eq!(status, 200, "{path} as {right}: {answer}");
        assert!(tg.events() > before);
    }
    // A refusal by the procedure (not about who asks) is a 422 naming the criterion
    let (status, answer) =
        post(&url, "/api/v1/release/advance", Some(&token(&tg, "rita")), &json!({"args": {"id": id}}));
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "refused");
    assert_eq!(answer["error"]["criterion"], "phase");
}

#[test]
fn the_acting_person_is_the_one_the_token_authenticates() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let url = served(&tg);
    let eve_token = token(&tg, "eve");
    // The body cannot name another actor
    let (status, answer) = post(
        &url,
        "/api/v1/person/add",
        Some(&eve_token),
        &json!({"args": {"name": "mallory", "role": ["sre"], "as": "rita"}}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("bearer token"), "{answer}");
    // Nor the CLI
    let out = tg.run("eve", &["--as", "rita", "person", "add", "mallory", "--role", "sre"]);
    check(&out, 1, &["--as through the server"]);
    assert!(stderr(&out).contains("drop --as"), "{}", stderr(&out));
    // TOLLGATE_USER in the environment is not who acts either: the token is
    let out = assert_cmd::Command::cargo_bin("tollgate")
        .unwrap()
        .env("TOLLGATE_SERVER", &url)
        .env("TOLLGATE_TOKEN", &eve_token)
        .env("TOLLGATE_USER", "rita")
        .args(["--json", "risk", "add", "--category", "c", "--risk", "r", "--mitigation", "m", "--owner", "o"])
        .output()
        .unwrap();
    check(&out, 3, &["risk add as eve"]);
    let log = tg.local("rita", &["--json", "audit", "log"]);
    assert!(!String::from_utf8_lossy(&log.stdout).contains("mallory"));
    let (status, who) = get(&url, "/api/v1/whoami", Some(&eve_token));
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&who).unwrap()["result"]["person"], "eve");
}

#[test]
fn bad_requests_get_a_clear_4xx_and_write_nothing() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let (url, mut child) = spawn(&tg, &["--max-body-mib", "1"]);
    let rita = create_token(&tg, "rita", "rita");
    let before = tg.events();
    // (path, content type, body, status, what the message says)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("/api/v1/person/add", Some("application/json"), b"{not json".to_vec(), 400, "body: not JSON"),
        ("/api/v1/person/add", Some("application/json"), b"[1,2]".to_vec(), 400, "expected a JSON object"),
        (
            "/api/v1/person/add",
            Some("application/json"),
            br#"{"args": {"name": true}}"#.to_vec(),
            400,
            "args.name: expected a string",
        ),
        (
            "/api/v1/person/add",
            Some("application/json"),
            br#"{"args": {"nme": "x"}}"#.to_vec(),
            400,
            "args.nme: not an argument of `person add`",
        ),
        ("/api/v1/person/add", Some("application/json"), br#"{"args": {"name": "x"}}"#.to_vec(), 400, "--role"),
        ("/api/v1/person/add", Some("application/json"), br#"{"argz": {}}"#.to_vec(), 400, "body.argz: unknown field"),
        (
            "/api/v1/person/add",
            Some("application/json"),
            br#"{"files": {"a": "%%%"}}"#.to_vec(),
            400,
            "body.files.a: not base64",
        ),
        ("/api/v1/person/add", Some("text/plain"), b"name=x".to_vec(), 415, "Content-Type text/plain"),
        ("/api/v1/person/add", None, b"{}".to_vec(), 415, "Content-Type missing"),
        ("/api/v1/release/launch", Some("application/json"), b"{}".to_vec(), 404, "no command `release launch`"),
        ("/api/v1/person/add", Some("application/json"), vec![b' '; 2 << 20], 413, "length limit"),
        ("/api/v1/init", Some("application/json"), b"{}".to_vec(), 400, "runs on the machine that holds the store"),
        (
            "/api/v1/release/doc",
            Some("application/json"),
            br#"{"args": {"id": "R-1", "kind": "release-notes", "file": "/etc/passwd"}}"#.to_vec(),
            400,
            "not uploaded with the request",
        ),
    ];
    for (path, ct, body, status, says) in cases {
        let (got, answer) = raw(&url, path, &rita, ct, body);
        assert_eq!(got, status, "{path} {ct:?}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{path}: {message:?} does not say {says:?}");
    }
    assert_eq!(tg.events(), before);
    child.kill();
}

#[test]
fn evidence_is_uploaded_as_the_files_bytes() {
    // Given a release in preparation whose artefact is recorded by digest
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let url = served(&tg);
    let id = minor_release(&tg, "4.0.0");
    // When a document is uploaded as its own bytes, its arguments in the query
    let notes = b"# Release notes\n\nFaster refunds.\n".to_vec();
    let (status, answer) = raw(
        &url,
        &format!("/api/v1/release/doc?id={id}&kind=release-notes&file=notes.md"),
        &token(&tg, "eli"),
        Some("application/octet-stream"),
        notes.clone(),
    );
    // Then it is recorded under the name the client gave, with the bytes' digest
    assert_eq!(status, 200, "{answer}");
    let show = tg.json("rita", &["release", "show", &id]);
    let doc = &show["documents"]["release-notes"];
    assert_eq!(doc["name"], "notes.md", "{show}");
    assert_eq!(doc["sha256"], ci::sha256_hex(&notes));
}

#[test]
fn every_acknowledged_write_survives_kill_9() {
    // Given a served store and writers creating risks as fast as they can
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let rita = create_token(&tg, "rita", "rita");
    let mut acknowledged: Vec<String> = Vec::new();
    let rounds: usize = std::env::var("TOLLGATE_KILL_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(50);
    for round in 0..rounds {
        let (url, mut child) = spawn(&tg, &[]);
        let acked = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for w in 0..4 {
                let (url, rita, acked) = (&url, &rita, &acked);
                s.spawn(move || {
                    for i in 0.. {
                        let risk = format!("round {round} writer {w} risk {i}");
                        let body = json!({"args": {"category": "tech", "risk": risk, "mitigation": "m", "owner": "o"}});
                        let req = agent().post(format!("{url}/api/v1/risk/add")).content_type("application/json");
                        let res = req
                            .header("Authorization", &format!("Bearer {rita}"))
                            .send(serde_json::to_vec(&body).unwrap());
                        match res {
                            Ok(r) if r.status() == 200 => acked.lock().unwrap().push(risk),
                            _ => break,
                        }
                    }
                });
            }
            // When the server is killed mid-way: after a few acknowledged writes, a different
            // number each round (progress, not time, decides when)
            let target = 1 + round % 7;
            while acked.lock().unwrap().len() < target {
                std::thread::yield_now();
            }
            child.kill();
        });
        acknowledged.extend(acked.into_inner().unwrap());
    }
    // Then every write it acknowledged is in the log, and the log verifies
    let v = tg.json("rita", &["risk", "list"]);
    let recorded: std::collections::HashSet<&str> =
        v.as_array().unwrap().iter().map(|r| r["risk"].as_str().unwrap()).collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|r| !recorded.contains(r.as_str())).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged writes lost: {lost:?}", lost.len(), acknowledged.len());
    assert!(acknowledged.len() > rounds, "too few writes got through to mean anything: {}", acknowledged.len());
    let verify = tg.json("rita", &["audit", "verify"]);
    assert_eq!(verify["intact"], true, "{verify}");
}

#[test]
fn the_openapi_document_is_generated_from_the_commands_and_pinned() {
    let doc = tollgate::serve::openapi::document();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi.json");
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("TOLLGATE_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let pinned = std::fs::read_to_string(&path).expect("tests/openapi.json (TOLLGATE_BLESS=1 writes it)");
    assert!(
        pinned == text,
        "the API changed: review it and run TOLLGATE_BLESS=1 cargo test -p tollgate --test server to pin it"
    );
    // Every command of the CLI is in it, the local-only ones excepted
    for path in ["/api/v1/release/approve", "/api/v1/evidence/add", "/api/v1/check", "/api/v1/releases/{id}"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["paths"].get("/api/v1/init").is_none());
    let approve = &doc["paths"]["/api/v1/release/approve"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        ["properties"]["args"];
    assert_eq!(approve["required"], json!(["id"]));
    assert_eq!(approve["properties"]["reject"]["type"], "boolean");
}

/// A local fake of GitHub's review endpoint: records each request's path, authorization and
/// JSON body, and answers 204 as GitHub does.
struct FakeGitHub {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, Value)>>>,
}

impl FakeGitHub {
    fn start() -> FakeGitHub {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = std::sync::Arc::clone(&seen);
        let url = support::http::serve(move |request| {
            let auth = request.header("authorization").unwrap_or_default().to_owned();
            let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            record.lock().unwrap().push((request.target, auth, body));
            (204, "text/plain", String::new())
        });
        FakeGitHub { url, seen }
    }
}

fn hub_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn github_asks_before_deploying_and_tollgate_reviews_through_the_callback() {
    // Given a release of payments built from a recorded commit, not yet through its gates, and a
    // server acting as the deployment protection rule of acme/payments
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let id = minor_release(&tg, "5.0.0");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    tg.ok(
        "eli",
        &[
            "release",
            "source",
            &id,
            "--repo",
            "https://github.com/acme/payments",
            "--tag",
            "v5.0.0",
            "--commit",
            commit,
        ],
    );
    tg.ok("dev", &["artefact", "add", &id, "--name", "payments", "--digest", &format!("sha256:{}", "ab".repeat(32))]);
    let github = FakeGitHub::start();
    let secret = "a webhook secret of some length";
    std::fs::write(tg.path("secret"), secret).unwrap();
    std::fs::write(tg.path("token"), "ghs_installation_token").unwrap();
    std::fs::write(
        tg.path("github.toml"),
        format!(
            "webhook-secret-file = \"secret\"\ntoken-file = \"token\"\napi-url = \"{}\"\n[[repository]]\nname = \"acme/payments\"\nservice = \"payments\"\n",
            github.url
        ),
    )
    .unwrap();
    let (url, mut child) = spawn(&tg, &["--github", tg.path("github.toml").to_str().unwrap()]);
    let delivery = |sha: &str, signature: Option<String>| {
        let body = serde_json::to_vec(&json!({
            "action": "requested",
            "environment": "production",
            "event": "push",
            "deployment_callback_url": format!("{}/repos/acme/payments/actions/runs/42/deployment_protection_rule", github.url),
            "deployment": {"sha": sha, "environment": "production"},
            "repository": {"full_name": "acme/payments"},
        }))
        .unwrap();
        let mut req = agent()
            .post(format!("{url}/api/v1/github/deployment-protection-rule"))
            .header("X-GitHub-Event", "deployment_protection_rule")
            .content_type("application/json");
        if let Some(sig) = signature.or_else(|| Some(hub_signature(secret, &body))) {
            req = req.header("X-Hub-Signature-256", &sig);
        }
        let mut res = req.send(body).unwrap();
        (res.status().as_u16(), res.body_mut().read_to_string().unwrap())
    };
    // When GitHub asks for that commit
    let (status, answer) = delivery(commit, None);
    // Then Tollgate rejects it through the callback, saying which criteria are unmet
    assert_eq!(status, 200, "{answer}");
    {
        let seen = github.seen.lock().unwrap();
        let (path, auth, review) = seen.last().expect("a review posted");
        assert_eq!(path, "/repos/acme/payments/actions/runs/42/deployment_protection_rule");
        assert_eq!(auth, "Bearer ghs_installation_token");
        assert_eq!(review["environment_name"], "production");
        assert_eq!(review["state"], "rejected");
        let comment = review["comment"].as_str().unwrap();
        assert!(comment.contains(&format!("{id} may not deploy here now")), "{comment}");
        assert!(comment.contains("[phase]") || comment.contains("gate:"), "{comment}");
    }
    // A commit no release is built from is rejected too, saying so
    delivery("ffffffffffffffffffffffffffffffffffffffff", None);
    let last = github.seen.lock().unwrap().last().unwrap().2.clone();
    assert_eq!(last["state"], "rejected");
    assert!(last["comment"].as_str().unwrap().contains("no open release of payments records commit"), "{last}");
    // And a delivery not signed with the secret is refused and never answered
    let before = github.seen.lock().unwrap().len();
    let (status, _) = delivery(commit, Some(hub_signature("another secret entirely", b"{}")));
    assert_eq!(status, 401);
    let (status, _) = delivery(commit, Some("sha256=zz".into()));
    assert_eq!(status, 401);
    assert_eq!(github.seen.lock().unwrap().len(), before);
    child.kill();
}

#[test]
fn a_pipeline_authenticates_with_its_oidc_id_token_and_forged_ones_write_nothing() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use hmac::{KeyInit, Mac};
    use support::oidc::{self, GITHUB, jwk, key, sign};
    // Given a store whose service identity ci-payments deploys, served trusting GitHub Actions
    // (its key set fetched from a URL) and a company SSO (its key set in a file)
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    tg.ok("rita", &["person", "add", "ci-payments", "--role", "devops-engineer"]);
    let issuers = oidc::Issuers::start(tg.dir.path());
    let (url, _server) = spawn(&tg, &["--oidc", issuers.config.to_str().unwrap()]);
    let before = tg.events();
    // When a GitHub Actions job of acme/payments deploying to production asks who it is
    let job = issuers.github_token("acme/payments", "production");
    let (status, body) = get(&url, "/api/v1/whoami", Some(&job));
    // Then it is ci-payments, authenticated by GitHub as that job
    assert_eq!(status, 200, "{body}");
    let who: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        who["result"],
        json!({"person": "ci-payments", "via": {"kind": "oidc", "issuer": GITHUB, "subject": "repo:acme/payments:environment:production"}})
    );
    // And it may ask the gate (no release ships this artefact: exit 3), not govern people
    let artefact = format!("sha256:{}", "ab".repeat(32));
    let (status, answer) = post(
        &url,
        "/api/v1/check",
        Some(&job),
        &json!({"args": {"service": "payments", "artefact": artefact, "env": "production"}}),
    );
    assert_eq!((status, answer["exit"].as_i64()), (200, Some(3)), "{answer}");
    let (status, answer) =
        post(&url, "/api/v1/person/grant", Some(&job), &json!({"args": {"name": "ci-payments", "role": "executive"}}));
    assert_eq!(status, 403, "{answer}");
    // And the CLI in a GitHub Actions job asks GitHub for the job's token itself
    let endpoint = oidc::github_token_endpoint("job-request-token", job.clone());
    let cli = |request_token: &str| {
        assert_cmd::Command::cargo_bin("tollgate")
            .unwrap()
            .env_remove("TOLLGATE_TOKEN")
            .env("TOLLGATE_SERVER", &url)
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", &endpoint)
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token)
            .args(["check", "--service", "payments", "--artefact", &artefact, "--env", "production"])
            .output()
            .unwrap()
    };
    let out = cli("job-request-token");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("NO: payments"), "{out:?}");
    let out = cli("another-job");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ACTIONS_ID_TOKEN_REQUEST_URL: asking GitHub for the job's ID token: answered 401"));
    // And an SSO login is the person its e-mail names
    let (status, body) = get(&url, "/api/v1/whoami", Some(&issuers.sso_token("rita@example.com")));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""person":"rita""#), "{body}");

    // When ID tokens that must not pass are presented
    let t = oidc::now();
    let header = json!({"alg": "ES256", "kid": "gh-1", "typ": "JWT"});
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = oidc::github_job("acme/payments", "production");
        change(&mut claims);
        sign(&header, &claims, &key(1))
    };
    let input = |h: &Value| {
        format!(
            "{}.{}",
            B64.encode(h.to_string()),
            B64.encode(oidc::github_job("acme/payments", "production").to_string())
        )
    };
    let none = format!("{}.", input(&json!({"alg": "none", "typ": "JWT"})));
    let hs256 = {
        // HMAC keyed with the issuer's public key, which anyone can read from its JWKS.
        let public = jwk("gh-1", &key(1)).to_string();
        let signed = input(&json!({"alg": "HS256", "kid": "gh-1", "typ": "JWT"}));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(public.as_bytes()).unwrap();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", B64.encode(mac.finalize().into_bytes()))
    };
    // acme/other's claims under acme/payments's signature
    let other = issuers.github_token("acme/other", "production");
    let mut parts: Vec<&str> = job.split('.').collect();
    parts[1] = other.split('.').nth(1).unwrap();
    let tampered = parts.join(".");
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired beyond the skew", with(&|c| c["exp"] = json!(t - 120)), "expired"),
        ("not valid yet", with(&|c| c["nbf"] = json!(t + 600)), "not valid before"),
        ("for another audience", with(&|c| c["aud"] = json!("someone-else")), "audience"),
        ("from an unknown issuer", with(&|c| c["iss"] = json!("https://evil.example.com")), "unknown issuer"),
        ("of a job no rule maps", issuers.github_token("acme/other", "production"), "no identity rule"),
        ("alg none", none, "`none` is refused"),
        ("HS256 keyed with the public key", hs256, "`HS256` is refused"),
        ("claims not the ones signed", tampered, "does not verify"),
        (
            "signed by another key under GitHub's key id",
            sign(&header, &oidc::github_job("acme/payments", "production"), &key(9)),
            "does not verify",
        ),
        ("not a JWT", "eyJhbGciOiJFUzI1NiJ9.garbage".into(), "JWT"),
    ];
    // Then each is a 401 saying why, and nothing is written
    for (what, token, why) in &cases {
        for (status, body) in [get(&url, "/api/v1/whoami", Some(token)), {
            let (s, v) = post(&url, "/api/v1/release/create", Some(token), &json!({"args": {"service": "payments"}}));
            (s, v.to_string())
        }] {
            assert_eq!(status, 401, "{what}: {body}");
            assert!(body.contains(why), "{what}: expected {why:?} in {body}");
        }
    }
    assert_eq!(tg.events(), before, "nothing written");

    // When GitHub rotates its keys and signs with the new one
    let fetched = *issuers.fetches.lock().unwrap();
    issuers.publish(json!([jwk("gh-1", &key(1)), jwk("gh-2", &key(3))]));
    let rotated = sign(
        &json!({"alg": "ES256", "kid": "gh-2", "typ": "JWT"}),
        &oidc::github_job("acme/payments", "production"),
        &key(3),
    );
    // Then the server fetches the key set once more and accepts it
    assert_eq!(get(&url, "/api/v1/whoami", Some(&rotated)).0, 200);
    assert_eq!(*issuers.fetches.lock().unwrap(), fetched + 1);
    // And key ids nobody published do not make it fetch again and again
    let made_up = sign(
        &json!({"alg": "ES256", "kid": "gh-9", "typ": "JWT"}),
        &oidc::github_job("acme/payments", "production"),
        &key(3),
    );
    for _ in 0..3 {
        assert_eq!(get(&url, "/api/v1/whoami", Some(&made_up)).0, 401);
    }
    assert_eq!(*issuers.fetches.lock().unwrap(), fetched + 1, "at most one fetch a minute");
}

#[test]
fn a_sandbox_over_http_is_marked_in_every_answer_and_its_clock_advances_by_a_plain_span() {
    // Given a sandbox and a real store, both served
    let sandbox = Tg::new();
    init_sandbox_with_people(&sandbox, "qms-dev-pro-004");
    let url = served(&sandbox);
    let rita = token(&sandbox, "rita");
    // When the sandbox's clock is advanced by an HTTP client giving the span as one string
    let (status, answer) = post(&url, "/api/v1/clock/advance", Some(&rita), &json!({"args": {"span": "3 days"}}));
    // Then the answer and its result both say sandbox, and every later read keeps the time
    assert_eq!(status, 200, "{answer}");
    assert_eq!((&answer["sandbox"], &answer["result"]["sandbox"]), (&json!(true), &json!(true)));
    assert_eq!(answer["result"]["by"], "3 days");
    let (status, text) = get(&url, "/api/v1/clock/show", Some(&rita));
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((status, &shown["sandbox"], &shown["result"]["offset"]), (200, &json!(true), &json!("3 days")));
    // And on the real store the advance is refused by the rule, unmarked, and writes nothing
    let real = Tg::new();
    init_with_people(&real, "qms-dev-pro-004");
    let url = served(&real);
    let rita = token(&real, "rita");
    let before = real.events();
    let (status, answer) = post(&url, "/api/v1/clock/advance", Some(&rita), &json!({"args": {"span": "3 days"}}));
    assert_eq!((status, &answer["error"]["criterion"]), (422, &json!("real-clock")), "{answer}");
    assert!(answer.get("sandbox").is_none(), "{answer}");
    assert_eq!(real.events(), before);
}

#[test]
fn a_stopped_server_leaves_a_state_snapshot_and_starts_again_from_it_with_what_came_after() {
    // Given a served store with a risk written through the server
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let rita = create_token(&tg, "rita", "rita");
    let (url, mut child) = spawn(&tg, &[]);
    let add = |url: &str, risk: &str| {
        let body = json!({"args": {"category": "tech", "risk": risk, "mitigation": "m", "owner": "o"}});
        assert_eq!(post(url, "/api/v1/risk/add", Some(&rita), &body).0, 200);
    };
    add(&url, "before the stop");
    // When it is stopped as a supervisor stops it
    child.stop();
    // Then the state snapshot it leaves folds the whole log as it stopped
    let snapshot = std::fs::read(format!("{}.state", tg.db.display())).expect("a state snapshot beside the store");
    let length = u32::from_le_bytes(snapshot[..4].try_into().unwrap()) as usize;
    let note = String::from_utf8_lossy(&snapshot[4..4 + length]).into_owned();
    let size: u64 = note.lines().nth(2).unwrap().parse().unwrap();
    let verify = tg.json("rita", &["audit", "verify"]);
    assert_eq!(verify["events"].as_u64(), Some(size), "{note}\n{verify}");
    // And started again, after an embedded command wrote past the snapshot, it answers with both
    tg.ok(
        "rita",
        &["risk", "add", "--category", "tech", "--risk", "while stopped", "--mitigation", "m", "--owner", "o"],
    );
    let (url, _child) = spawn(&tg, &[]);
    add(&url, "after the restart");
    let (status, list) = get(&url, "/api/v1/risk/list", Some(&rita));
    assert_eq!(status, 200, "{list}");
    for risk in ["before the stop", "while stopped", "after the restart"] {
        assert!(list.contains(risk), "{risk} missing from {list}");
    }
}

#[test]
fn a_repeated_read_shows_every_write_and_its_credential_is_checked_each_time() {
    let tg = Tg::new();
    init_with_people(&tg, "qms-dev-pro-004");
    let url = served(&tg);
    let rita = token(&tg, "rita");
    let eve = token(&tg, "eve");
    let risks = |token: &str| {
        let (status, body) = get(&url, "/api/v1/risk/list", Some(token));
        let v: Value = serde_json::from_str(&body).unwrap();
        (
            status,
            v["result"]
                .as_array()
                .map(|a| a.iter().map(|r| r["risk"].as_str().unwrap().to_owned()).collect::<Vec<_>>()),
        )
    };
    let add = |risk: &str| {
        let body = json!({"args": {"category": "tech", "risk": risk, "mitigation": "m", "owner": "o"}});
        let (status, answer) = post(&url, "/api/v1/risk/add", Some(&rita), &body);
        assert_eq!(status, 200, "{answer}");
    };
    // The same read, asked again and again within one second, is answered from one evaluation.
    let (status, before) = risks(&eve);
    assert_eq!(status, 200);
    let mut expected = before.unwrap();
    assert_eq!(risks(&eve), (200, Some(expected.clone())));
    add("through the server");
    expected.push("through the server".to_owned());
    assert_eq!(risks(&eve), (200, Some(expected.clone())));
    // A write by an embedded CLI on the same store, which the server learns of from the log.
    tg.local("rita", &["risk", "add", "--category", "tech", "--risk", "embedded", "--mitigation", "m", "--owner", "o"]);
    expected.push("embedded".to_owned());
    assert_eq!(risks(&eve), (200, Some(expected)));
    // A revoked token is refused at once, whatever answer the read already had.
    let id = eve.strip_prefix("tgt_").unwrap().split('_').next().unwrap().to_owned();
    let (status, answer) = post(&url, "/api/v1/token/revoke", Some(&rita), &json!({"args": {"id": id}}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(risks(&eve).0, 401);
    assert_eq!(risks(&rita).0, 200);
}
