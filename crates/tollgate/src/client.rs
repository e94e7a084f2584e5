//! The CLI as a client of `tollgate serve` (`--server URL` or TOLLGATE_SERVER): the command line
//! is sent as it was parsed ([`crate::remote`]), with the bytes of the files it names; the
//! server runs it as the person the token authenticates and answers with what the embedded
//! CLI would have printed and its exit code, which this prints and ends with.
//!
//! The token: TOLLGATE_TOKEN (an API token, or an OIDC ID token such as a GitLab job's
//! `id_tokens`); else, in a GitHub Actions job with `id-token: write`, the job's own ID token
//! for the audience `tollgate` (TOLLGATE_AUDIENCE to change it), asked for each command as
//! GitHub documents it; else the one `tollgate login` stored for that server (a file only its
//! owner may read, in the user's configuration directory).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::ArgMatches;
use serde_json::Value;

use crate::cli::{Cli, Cmd};
use crate::remote;
use crate::run::{Failure, error};

/// Large evidence uploads and long reports get this long.
const TIMEOUT: Duration = Duration::from_secs(300);
const MAX_RESPONSE: u64 = 1 << 30;

pub fn run(server: &str, cli: &Cli, matches: &ArgMatches) -> Result<(), Failure> {
    let base = server.trim_end_matches('/');
    if matches.value_source("actor") == Some(clap::parser::ValueSource::CommandLine) {
        return Err(error(
            "--as: on a server you act as the person your token authenticates; drop --as (or drop --server)",
        ));
    }
    if let Cmd::Login = &cli.command {
        return login(base);
    }
    let mut request = remote::from_matches(matches).map_err(error)?;
    // The server writes no files: the report comes back on its standard output, written here.
    let out_file = match &cli.command {
        Cmd::Report { out, .. } if out.as_os_str() != "-" => {
            request.args.insert("out".into(), Value::String("-".into()));
            Some(out.clone())
        }
        _ => None,
    };
    let token = token_for(base)?;
    let url = format!("{base}/api/v1/{}", request.path.join("/"));
    let body = serde_json::to_vec(&request.body()).map_err(|e| error(e.to_string()))?;
    let answer = post(&url, &token, cli.json, &body)?;
    let exit = answer.get("exit").and_then(Value::as_u64).unwrap_or(1);
    // A JSON answer comes as `result`: printed as the embedded CLI prints it.
    let stdout = match (answer.get("stdout").and_then(Value::as_str), answer.get("result")) {
        (Some(text), _) => text.to_owned(),
        (None, Some(result)) => crate::out::json_text(result),
        (None, None) => String::new(),
    };
    let stdout = stdout.as_str();
    let stderr = answer.get("stderr").and_then(Value::as_str).unwrap_or("");
    if answer.get("sandbox").and_then(Value::as_bool) == Some(true) {
        crate::out::banner();
    }
    match (&out_file, exit) {
        (Some(path), 0) => {
            std::fs::write(path, stdout.as_bytes()).map_err(|e| error(format!("{}: {e}", path.display())))?;
            crate::outln!("wrote {} ({} bytes)", path.display(), stdout.len());
        }
        // Already made printable by the server.
        _ => print_verbatim(stdout, false),
    }
    print_verbatim(stderr, true);
    if exit == 0 { Ok(()) } else { Err(Failure::Shown(u8::try_from(exit).unwrap_or(1))) }
}

fn print_verbatim(text: &str, stderr: bool) {
    if text.is_empty() {
        return;
    }
    if stderr {
        crate::out::ewrite(text);
    } else {
        crate::out::write(text);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(TIMEOUT)).build().into()
}

fn post(url: &str, token: &str, json: bool, body: &[u8]) -> Result<Value, Failure> {
    let response = agent()
        .post(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", if json { "application/json" } else { "text/plain" })
        .content_type("application/json")
        .send(body)
        .map_err(|e| error(format!("{url}: {e}")))?;
    answer(url, response)
}

fn answer(url: &str, mut response: ureq::http::Response<ureq::Body>) -> Result<Value, Failure> {
    let status = response.status();
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE)
        .read_to_string()
        .map_err(|e| error(format!("{url}: reading the answer: {e}")))?;
    serde_json::from_str(&text).map_err(|_| {
        let first = text.lines().next().unwrap_or("").chars().take(200).collect::<String>();
        error(format!("{url}: answered {status} with something other than Tollgate's JSON: {first}"))
    })
}

/// The token for `server`: TOLLGATE_TOKEN, else a GitHub Actions job's ID token, else the one
/// stored by `tollgate login`.
fn token_for(server: &str) -> Result<String, Failure> {
    if let Ok(t) = std::env::var("TOLLGATE_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_owned());
    }
    if let (Ok(url), Ok(bearer)) =
        (std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL"), std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
    {
        let audience = std::env::var("TOLLGATE_AUDIENCE").unwrap_or_else(|_| "tollgate".into());
        return github_id_token(&url, &bearer, &audience);
    }
    stored().remove(server).ok_or_else(|| {
        error(format!("no token for {server}: set TOLLGATE_TOKEN, or run `tollgate login --server {server}`"))
    })
}

/// The job's ID token from GitHub's token endpoint: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=A`
/// with the request token as bearer, answered `{"value": "<jwt>"}`.
fn github_id_token(url: &str, bearer: &str, audience: &str) -> Result<String, Failure> {
    let fail =
        |why: String| error(format!("ACTIONS_ID_TOKEN_REQUEST_URL: asking GitHub for the job's ID token: {why}"));
    let audience: String = form_urlencoded::byte_serialize(audience.as_bytes()).collect();
    let separator = if url.contains('?') { '&' } else { '?' };
    let mut response = agent()
        .get(format!("{url}{separator}audience={audience}"))
        .header("Authorization", &format!("bearer {bearer}"))
        .header("Accept", "application/json")
        .call()
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    let body = response.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(|e| fail(e.to_string()))?;
    if !status.is_success() {
        return Err(fail(format!("answered {status} (does the job have the `id-token: write` permission?)")));
    }
    let answer: Value = serde_json::from_slice(&body).map_err(|e| fail(format!("not JSON: {e}")))?;
    answer["value"].as_str().map(str::to_owned).ok_or_else(|| fail("no `value` in the answer".into()))
}

fn credentials_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("tollgate").join("credentials.json"))
}

fn stored() -> BTreeMap<String, String> {
    credentials_path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Reads a token from standard input, checks it with the server, and stores it for that server
/// in a file only the user may read (0600).
fn login(server: &str) -> Result<(), Failure> {
    let mut token = String::new();
    std::io::stdin().read_line(&mut token).map_err(|e| error(format!("standard input: {e}")))?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(error("no token on standard input: `tollgate token create` printed it once"));
    }
    let url = format!("{server}/api/v1/whoami");
    let response = agent()
        .get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .map_err(|e| error(format!("{url}: {e}")))?;
    let ok = response.status().is_success();
    let answer = answer(&url, response)?;
    if !ok {
        let m = answer.pointer("/error/message").and_then(Value::as_str).unwrap_or("refused");
        return Err(error(format!("{server}: the token was not accepted: {m}")));
    }
    let person = answer.pointer("/result/person").and_then(Value::as_str).unwrap_or("?").to_owned();
    let path = credentials_path().ok_or_else(|| error("no home directory to keep the token in: use TOLLGATE_TOKEN"))?;
    let mut all = stored();
    all.insert(server.to_owned(), token);
    write_private(&path, &serde_json::to_vec_pretty(&all).map_err(|e| error(e.to_string()))?)?;
    crate::outln!("logged in to {server} as {person}; token kept in {}", path.display());
    Ok(())
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let fail = |e: std::io::Error| error(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // An existing file keeps its mode on open: set it.
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    }
    f.write_all(bytes).map_err(fail)
}
