//! A command line as an HTTP request, and back: what the CLI sends to `tollgate serve`, and how
//! the server turns it into the same parsed command the embedded CLI runs. The request is
//! `POST /api/v1/<command path>` (`/api/v1/release/approve`) with a JSON body:
//!
//! ```json
//! {"args": {"id": "R-1", "role": "qa-lead", "comment": "regression suite green"},
//!  "files": {"reports/junit.xml": "<base64 of the file's bytes>"}}
//! ```
//!
//! `args` holds the command's arguments by their long name (positionals by name): a string, a
//! boolean for a switch, an array for a repeatable one. `files` holds the bytes of every file an
//! argument names, under the name the argument gives: the server reads nothing else. The acting
//! person is never an argument: it is who the bearer token authenticates.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use clap::{ArgAction, ArgMatches, CommandFactory, ValueHint};
use serde_json::{Map, Value};

use crate::cli::Cli;

/// Global options a client may send; the others (`--as`, `--db`, `--server`, `--json`,
/// `--signing-key`) are the server's to decide or shape the response only.
const GLOBALS: &[&str] = &["now", "late-reason"];
const NOT_SENT: &[&str] = &["db", "as", "json", "server", "signing-key"];

/// One command, as it travels.
#[derive(Debug, Default)]
pub struct Request {
    /// The subcommand names: `["release", "approve"]`.
    pub path: Vec<String>,
    pub args: Map<String, Value>,
    pub files: HashMap<String, Vec<u8>>,
}

impl Request {
    pub fn body(&self) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD;
        let files: Map<String, Value> =
            self.files.iter().map(|(name, bytes)| (name.clone(), Value::String(b64.encode(bytes)))).collect();
        serde_json::json!({"args": self.args, "files": files})
    }
}

/// The command tree, built once (globals propagated, so every argument is known).
pub(crate) fn tree() -> &'static clap::Command {
    static TREE: OnceLock<clap::Command> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut cmd = Cli::command();
        cmd.build();
        cmd
    })
}

/// The subcommand at `path`, or what was expected where it goes wrong.
pub fn command_at(path: &[String]) -> Result<&'static clap::Command, String> {
    let mut cmd = tree();
    for (i, name) in path.iter().enumerate() {
        cmd = cmd.find_subcommand(name).filter(|_| name != "help").ok_or_else(|| {
            let known: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).filter(|n| *n != "help").collect();
            format!("no command `{}`; expected one of {}", path[..=i].join(" "), known.join(", "))
        })?;
    }
    if cmd.has_subcommands() {
        let known: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).filter(|n| *n != "help").collect();
        return Err(format!("`{}` needs a subcommand: one of {}", path.join(" "), known.join(", ")));
    }
    Ok(cmd)
}

/// The name an argument travels under.
pub fn key(arg: &clap::Arg) -> &str {
    arg.get_long().unwrap_or(arg.get_id().as_str())
}

/// Global options, and clap's own `--help` / `--version`: not arguments of a command.
pub(crate) fn is_global(arg: &clap::Arg) -> bool {
    arg.is_global_set()
        || NOT_SENT.contains(&arg.get_id().as_str())
        || matches!(arg.get_action(), ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version)
}

/// Whether the argument names a file to read (as opposed to one to write, like `report --out`).
pub fn names_input_file(arg: &clap::Arg) -> bool {
    matches!(arg.get_value_hint(), ValueHint::FilePath | ValueHint::AnyPath)
}

/// The client's side: the request for the command line it parsed. Files are read here, and `-`
/// is standard input.
pub fn from_matches(matches: &ArgMatches) -> Result<Request, String> {
    let mut request = Request::default();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        request.path.push(name.to_owned());
        m = sub;
    }
    let cmd = command_at(&request.path)?;
    for arg in cmd.get_arguments().filter(|a| !is_global(a)) {
        add(&mut request, arg, m)?;
    }
    // Globals propagate down to the leaf's matches.
    for arg in cmd.get_arguments().filter(|a| GLOBALS.contains(&key(a))) {
        add(&mut request, arg, m)?;
    }
    Ok(request)
}

fn add(request: &mut Request, arg: &clap::Arg, m: &ArgMatches) -> Result<(), String> {
    let id = arg.get_id().as_str();
    if !matches!(
        m.value_source(id),
        Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
    ) {
        return Ok(());
    }
    let key = key(arg).to_owned();
    if !arg.get_action().takes_values() {
        request.args.insert(key, Value::Bool(m.get_flag(id)));
        return Ok(());
    }
    let values: Vec<String> = m
        .get_raw(id)
        .into_iter()
        .flatten()
        .map(|v| v.to_str().map(str::to_owned).ok_or_else(|| format!("--{key}: not valid UTF-8")))
        .collect::<Result<_, _>>()?;
    if names_input_file(arg) {
        for name in &values {
            if let Some(bytes) = read_input(name)? {
                request.files.insert(name.clone(), bytes);
            }
        }
    }
    let value = if matches!(arg.get_action(), ArgAction::Append) {
        Value::Array(values.into_iter().map(Value::String).collect())
    } else {
        Value::String(values.into_iter().next().unwrap_or_default())
    };
    request.args.insert(key, value);
    Ok(())
}

/// A named file's bytes; `None` when no such file exists here (the value is then something else
/// the argument accepts, such as a built-in profile's id or a key written out).
fn read_input(name: &str) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    if name == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("standard input: {e}"))?;
        return Ok(Some(bytes));
    }
    match std::fs::read(name) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// The server's side: the command line for `path` and `args`, to be parsed by the same parser
/// as a local one. Options are written `--name=value` and positionals after `--`, so no value
/// can be taken for an option. Fails with a message naming the field.
pub fn to_argv(path: &[String], args: &Map<String, Value>) -> Result<Vec<String>, String> {
    let cmd = command_at(path)?;
    let mut options = Vec::new();
    let mut positionals: Vec<(usize, Vec<String>)> = Vec::new();
    for (name, value) in args {
        let arg = cmd
            .get_arguments()
            .find(|a| key(a) == name && (!is_global(a) || GLOBALS.contains(&name.as_str())))
            .ok_or_else(|| unknown_field(cmd, path, name))?;
        let values = strings(name, value, arg)?;
        if arg.is_positional() {
            positionals.push((arg.get_index().unwrap_or(usize::MAX), values));
        } else if !arg.get_action().takes_values() {
            if values.first().is_some_and(|v| v == "true") {
                options.push(format!("--{name}"));
            }
        } else {
            options.extend(values.into_iter().map(|v| format!("--{name}={v}")));
        }
    }
    positionals.sort_by_key(|(index, _)| *index);
    let mut argv = vec!["tollgate".to_owned()];
    argv.extend(path.iter().cloned());
    argv.extend(options);
    argv.push("--".to_owned());
    argv.extend(positionals.into_iter().flat_map(|(_, v)| v));
    Ok(argv)
}

fn unknown_field(cmd: &clap::Command, path: &[String], name: &str) -> String {
    if NOT_SENT.contains(&name) {
        return match name {
            "as" => "args.as: the acting person is the one the bearer token authenticates, never an argument".into(),
            _ => format!("args.{name}: not an argument a client sends"),
        };
    }
    let known: Vec<&str> =
        cmd.get_arguments().filter(|a| !is_global(a)).map(key).chain(GLOBALS.iter().copied()).collect();
    format!("args.{name}: not an argument of `{}`; expected one of {}", path.join(" "), known.join(", "))
}

fn strings(name: &str, value: &Value, arg: &clap::Arg) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) if !arg.get_action().takes_values() => Ok(b.to_string()),
        other => Err(format!("args.{name}: expected {}, found {other}", expected(arg))),
    };
    match value {
        Value::Array(items) if matches!(arg.get_action(), ArgAction::Append) => items.iter().map(one).collect(),
        other => one(other).map(|v| vec![v]),
    }
}

fn expected(arg: &clap::Arg) -> &'static str {
    if !arg.get_action().takes_values() {
        "true or false"
    } else if matches!(arg.get_action(), ArgAction::Append) {
        "a string or an array of strings"
    } else {
        "a string"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(argv: &[&str]) -> Request {
        from_matches(&Cli::command().try_get_matches_from(argv).expect("parses")).expect("request")
    }

    #[test]
    fn a_command_line_survives_the_trip() {
        let r = request(&["tollgate", "release", "approve", "R-3", "--role", "qa-lead", "--comment=--db x"]);
        assert_eq!(r.path, ["release", "approve"]);
        let argv = to_argv(&r.path, &r.args).expect("argv");
        assert_eq!(argv, ["tollgate", "release", "approve", "--comment=--db x", "--role=qa-lead", "--", "R-3"]);
        let cli = <Cli as clap::Parser>::try_parse_from(&argv);
        assert!(cli.is_ok(), "{cli:?}");
    }

    #[test]
    fn repeated_and_switch_arguments_keep_their_shape() {
        let r = request(&["tollgate", "release", "list", "--all"]);
        assert_eq!(r.args.get("all"), Some(&Value::Bool(true)));
        let r = request(&["tollgate", "person", "add", "ann", "--role", "qa-lead", "--role", "sre"]);
        assert_eq!(r.args.get("role"), Some(&serde_json::json!(["qa-lead", "sre"])));
        let argv = to_argv(&r.path, &r.args).expect("argv");
        assert_eq!(argv, ["tollgate", "person", "add", "--role=qa-lead", "--role=sre", "--", "ann"]);
    }

    #[test]
    fn the_acting_person_and_the_store_are_never_arguments() {
        let mut args = Map::new();
        args.insert("as".into(), Value::String("eve".into()));
        let e = to_argv(&["release".into(), "go".into()], &args).expect_err("refused");
        assert!(e.contains("bearer token"), "{e}");
        let mut args = Map::new();
        args.insert("db".into(), Value::String("/etc/passwd".into()));
        assert!(to_argv(&["release".into(), "list".into()], &args).is_err());
    }

    #[test]
    fn a_wrong_field_is_named() {
        let mut args = Map::new();
        args.insert("colour".into(), Value::String("red".into()));
        let e = to_argv(&["release".into(), "show".into()], &args).expect_err("refused");
        assert!(e.starts_with("args.colour: not an argument of `release show`; expected one of id"), "{e}");
        let e = to_argv(&["release".into(), "launch".into()], &Map::new()).expect_err("refused");
        assert!(e.contains("no command `release launch`"), "{e}");
        let mut args = Map::new();
        args.insert("id".into(), serde_json::json!({"x": 1}));
        let e = to_argv(&["release".into(), "show".into()], &args).expect_err("refused");
        assert!(e.starts_with("args.id: expected a string"), "{e}");
    }
}
