//! A request's body, query and path decoded into the command line it stands for, refusing
//! anything else with a 4xx that names the field. It runs before any store is touched and on
//! bytes anyone can send, so it is public for the fuzz target (`fuzz/fuzz_targets/api_request.rs`)
//! and the property test that throw arbitrary requests at it.

use std::collections::HashMap;

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{Map, Value};

use super::api::ApiError;
use crate::cli::Cli;
use crate::remote;

/// A decoded request: the command's words, its arguments and the files uploaded with it.
#[derive(Debug)]
pub struct Request {
    pub words: Vec<String>,
    pub args: Map<String, Value>,
    pub files: HashMap<String, Vec<u8>>,
}

/// `GET` takes its arguments from the query; `POST` a JSON body `{"args", "files"}`, or one
/// file as the raw body (`application/octet-stream`) with the arguments in the query.
pub fn request(
    get: bool,
    content_type: Option<&str>,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<Request, ApiError> {
    let words: Vec<String> = path.split('/').filter(|w| !w.is_empty()).map(str::to_owned).collect();
    let (args, files) = if get {
        (query_args(query), HashMap::new())
    } else {
        match content_type.map(media_type) {
            Some("application/json") => json_body(body)?,
            Some("application/octet-stream") => raw_upload(&words, query, body)?,
            other => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    format!(
                        "Content-Type {}: expected application/json, or application/octet-stream for a file upload",
                        other.unwrap_or("missing")
                    ),
                ));
            }
        }
    };
    Ok(Request { words, args, files })
}

/// The command line `words` and `args` stand for, parsed as the CLI parses its own: 404 for a
/// command that does not exist, 400 naming the argument otherwise.
pub fn command_line(words: &[String], args: &Map<String, Value>) -> Result<Cli, ApiError> {
    let argv = remote::to_argv(words, args).map_err(|m| {
        let status = if m.starts_with("no command") || m.contains("needs a subcommand") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, if status == StatusCode::NOT_FOUND { "unknown-command" } else { "invalid" }, m)
    })?;
    parse(&argv).map_err(|e| {
        let text = e.render().to_string();
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", text.trim_start_matches("error: ").trim_end().to_owned())
    })
}

thread_local! {
    /// The command line parser, built once per thread: building clap's tree of every command
    /// and argument costs more than answering a read.
    static PARSER: std::cell::RefCell<clap::Command> = std::cell::RefCell::new(<Cli as clap::CommandFactory>::command());
}

fn parse(argv: &[String]) -> Result<Cli, clap::Error> {
    PARSER.with_borrow_mut(|parser| {
        let matches = parser.try_get_matches_from_mut(argv)?;
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
    })
}

fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim()
}

/// Query parameters as arguments: a name given twice becomes an array; a switch is `all=true`.
pub(super) fn query_args(query: Option<&str>) -> Map<String, Value> {
    let mut args = Map::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let (k, v) = (k.into_owned(), Value::String(v.into_owned()));
        match args.get_mut(&k) {
            Some(Value::Array(items)) => items.push(v),
            Some(first) => *first = Value::Array(vec![first.clone(), v]),
            None => {
                args.insert(k, v);
            }
        }
    }
    args
}

type Parsed = (Map<String, Value>, HashMap<String, Vec<u8>>);

pub(super) fn json_body(body: &[u8]) -> Result<Parsed, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid", m);
    let doc: Value = serde_json::from_slice(body).map_err(|e| bad(format!("body: not JSON ({e})")))?;
    let Value::Object(mut doc) = doc else { return Err(bad("body: expected a JSON object {\"args\": {...}}".into())) };
    if let Some(k) = doc.keys().find(|k| *k != "args" && *k != "files") {
        return Err(bad(format!("body.{k}: unknown field; expected args and files")));
    }
    let args = match doc.remove("args") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a,
        Some(other) => return Err(bad(format!("body.args: expected an object, found {other}"))),
    };
    let mut files = HashMap::new();
    match doc.remove("files") {
        None | Some(Value::Null) => {}
        Some(Value::Object(f)) => {
            for (name, content) in f {
                let Value::String(b64) = content else {
                    return Err(bad(format!("body.files.{name}: expected the file's bytes in base64")));
                };
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| bad(format!("body.files.{name}: not base64 ({e})")))?;
                files.insert(name, bytes);
            }
        }
        Some(other) => return Err(bad(format!("body.files: expected an object, found {other}"))),
    }
    Ok((args, files))
}

fn raw_upload(words: &[String], query: Option<&str>, body: &[u8]) -> Result<Parsed, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid", m);
    let cmd = remote::command_at(words).map_err(|m| ApiError::new(StatusCode::NOT_FOUND, "unknown-command", m))?;
    let args = query_args(query);
    let named: Vec<String> = cmd
        .get_arguments()
        .filter(|a| remote::names_input_file(a))
        .filter_map(|a| args.get(remote::key(a)).and_then(Value::as_str).map(str::to_owned))
        .collect();
    let [name] = named.as_slice() else {
        return Err(bad(format!(
            "an octet-stream body is one file: name it with exactly one file argument in the query (found {})",
            named.len()
        )));
    };
    Ok((args, HashMap::from([(name.clone(), body.to_vec())])))
}
