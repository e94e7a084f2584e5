//! Procedure profiles: TOML documents that make a written release procedure executable.
//!
//! A profile is read in four steps: TOML syntax, the file's shape (unknown keys are errors),
//! conversion to a validated [`Policy`] (every reference and duration checked), and, for a
//! profile that `extends` a built-in one, the check that it only tightens its base. Every error
//! names the file, line, column and key. The content hash covers the exact texts read, base
//! first, so a release can always say which rules governed it.

#![forbid(unsafe_code)]

mod convert;
mod error;
mod merge;
mod path;
mod plan;
mod raw;
mod tighten;

use sha2::{Digest, Sha256};
use tollgate_domain::{Profile, ProfileSource, policy::Policy};

pub use error::{ProfileError, ProfileErrors};
use path::{KeyPath, Seg};
pub use plan::load_plan;

/// The profiles Tollgate ships, the first being the default.
pub const BUILTINS: [(&str, &str); 2] = [
    ("qms-dev-pro-004", include_str!("../builtin/qms-dev-pro-004.toml")),
    ("grs-isms-prc-009", include_str!("../builtin/grs-isms-prc-009.toml")),
];

pub const DEFAULT: &str = BUILTINS[0].0;

pub fn builtin(id: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(name, _)| *name == id).map(|(_, text)| *text)
}

/// The name a built-in source is recorded under.
pub fn builtin_source_name(id: &str) -> String {
    format!("builtin:{id}")
}

/// Reads a profile file; `extends` is resolved against the built-in profiles.
pub fn load(name: &str, text: &str) -> Result<Profile, ProfileErrors> {
    let overlay = syntax(name, text)?;
    let extends =
        overlay.get("profile").and_then(|p| p.get("extends")).map(|e| e.as_str().map(str::to_owned).ok_or(()));
    let mut sources = Vec::new();
    match extends {
        None => {}
        Some(Ok(base)) => match builtin(&base) {
            Some(base_text) => {
                sources.push(ProfileSource { name: builtin_source_name(&base), text: base_text.to_owned() })
            }
            None => {
                let names: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
                return Err(located(
                    name,
                    text,
                    &path::key_path(&["profile", "extends"]),
                    format!("unknown base profile `{base}`; a profile may extend {}", names.join(" or ")),
                ));
            }
        },
        Some(Err(())) => {
            return Err(located(
                name,
                text,
                &path::key_path(&["profile", "extends"]),
                "expected the id of a built-in profile".into(),
            ));
        }
    }
    sources.push(ProfileSource { name: name.to_owned(), text: text.to_owned() });
    from_sources(sources)
}

/// Rebuilds a profile from the texts recorded when it was adopted: one standalone text, or a
/// base followed by the profile that extends it.
pub fn from_sources(sources: Vec<ProfileSource>) -> Result<Profile, ProfileErrors> {
    let (policy, base) = match sources.as_slice() {
        [only] => (read(&only.name, &only.text, None)?, None),
        [base, team] => {
            let base_policy = read(&base.name, &base.text, None)?;
            let base_table = syntax(&base.name, &base.text)?;
            (read(&team.name, &team.text, Some(base_table))?, Some(base_policy))
        }
        _ => {
            return Err(ProfileErrors(vec![ProfileError {
                file: sources.last().map(|s| s.name.clone()).unwrap_or_default(),
                line: None,
                column: None,
                key: String::new(),
                message: "a profile extends at most one built-in profile".into(),
            }]));
        }
    };
    let team = sources.last().expect("matched above");
    if let Some(base) = &base {
        if policy.extends.as_deref() != Some(base.id.as_str()) {
            return Err(located(
                &team.name,
                &team.text,
                &path::key_path(&["profile", "extends"]),
                format!("expected `extends = \"{}\"`", base.id),
            ));
        }
        let problems = tighten::check(base, &policy);
        if !problems.0.is_empty() {
            return Err(errors(&team.name, &team.text, problems, true));
        }
    }
    let hash = content_hash(&sources);
    Ok(Profile { policy, hash, sources, reason: String::new() })
}

/// The rules of `team` that are looser than `base`, as `key: message` lines: shown when a new
/// standalone version is adopted, which may loosen (it is a new document, approved as such).
pub fn loosened(base: &Policy, team: &Policy) -> Vec<String> {
    tighten::check(base, team).0.into_iter().map(|(key, message)| format!("{key}: {message}")).collect()
}

/// SHA-256 over each source text, base first, each followed by a NUL byte. Names are left out
/// so that the same document gives the same hash wherever it was read from; for a standalone
/// profile this is `sha256sum` of the file with one NUL appended.
pub fn content_hash(sources: &[ProfileSource]) -> String {
    let mut h = Sha256::new();
    for s in sources {
        h.update(s.text.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn syntax(name: &str, text: &str) -> Result<toml::Table, ProfileErrors> {
    text.parse::<toml::Table>().map_err(|e| {
        let (line, column) = e.span().map(|s| path::line_col(text, s.start)).unzip();
        ProfileErrors(vec![ProfileError {
            file: name.to_owned(),
            line,
            column,
            key: String::new(),
            message: format!("invalid TOML: {}", e.message()),
        }])
    })
}

/// Shape and validation of one text, merged over `base` when it extends one.
fn read(name: &str, text: &str, base: Option<toml::Table>) -> Result<Policy, ProfileErrors> {
    let table = syntax(name, text)?;
    let extends = base.is_some();
    let merged = match base {
        Some(mut base) => {
            merge::merge(&mut base, &table);
            base
        }
        None => table,
    };
    let raw: raw::RawProfile = serde_path_to_error::deserialize(toml::Value::Table(merged.clone())).map_err(|e| {
        let key = serde_key_path(e.path(), &merged);
        errors(name, text, convert::Problems(vec![(key, shape_message(e.inner().to_string()))]), extends)
    })?;
    convert::to_policy(&raw).map_err(|p| errors(name, text, p, extends))
}

/// serde's messages name Rust types; say what the profile author needs instead.
fn shape_message(message: String) -> String {
    // The key path is reported separately; drop the deserializer's own "in `...`" suffix.
    let message = match message.rfind("\nin `") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    message
        .replace("invalid type: ", "wrong type: ")
        .replace("a sequence", "a list")
        .replace("sequence", "a list")
        .replace("a map", "a table")
        .replace("map", "a table")
        .replace("struct Raw", "table ")
}

/// Converts a serde path to a key path, addressing array elements by id where they have one.
fn serde_key_path(path: &serde_path_to_error::Path, merged: &toml::Table) -> KeyPath {
    let mut key = KeyPath::root();
    let mut node = Some(toml::Value::Table(merged.clone()));
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Map { key: k } | serde_path_to_error::Segment::Enum { variant: k } => {
                key = key.key(k);
                node = node.and_then(|n| n.get(k.as_str()).cloned());
            }
            serde_path_to_error::Segment::Seq { index } => {
                let element = node.as_ref().and_then(|n| n.get(*index)).cloned();
                key = match element.as_ref().and_then(merge::element_key) {
                    Some(id) => key.id(&id),
                    None => key.index(*index),
                };
                node = element;
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    key
}

fn located(name: &str, text: &str, key: &KeyPath, message: String) -> ProfileErrors {
    errors(name, text, convert::Problems(vec![(key.clone(), message)]), false)
}

/// Places each problem in `text`. In a profile that extends another, a key not written in the
/// file comes from the base, and the message says so.
fn errors(name: &str, text: &str, problems: convert::Problems, extends: bool) -> ProfileErrors {
    let doc = toml_edit::Document::parse(text).ok();
    let mut out: Vec<ProfileError> = problems
        .0
        .into_iter()
        .map(|(key, message)| {
            let at = doc.as_ref().and_then(|d| path::locate(d, &key)).map(|span| path::line_col(text, span.start));
            let (line, column) = at.unzip();
            let message = if extends && at.is_none() && key.0.first().is_some_and(|s| matches!(s, Seg::Key(_))) {
                format!("{message} (inherited from the base profile)")
            } else {
                message
            };
            ProfileError { file: name.to_owned(), line, column, key: key.to_string(), message }
        })
        .collect();
    out.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    ProfileErrors(out)
}
