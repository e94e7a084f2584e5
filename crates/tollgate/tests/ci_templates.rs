//! The CI templates in `ci-templates/` cannot rot: their YAML parses, and every `tollgate`
//! command line in their scripts is accepted by the command line parser as it is today.

use std::path::{Path, PathBuf};

use clap::Parser;
use tollgate::cli::Cli;
use yaml_rust2::{Yaml, YamlLoader};

fn templates() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci-templates");
    let mut found = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every string in the document: scripts are strings wherever a CI system puts them (`run:`,
/// `script:`, `after_script:`, ...).
fn strings<'a>(doc: &'a Yaml, out: &mut Vec<&'a str>) {
    match doc {
        Yaml::String(s) => out.push(s),
        Yaml::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Yaml::Hash(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The `tollgate ...` invocations in a script: from the word `tollgate` in command position to
/// the end of the simple command (a redirection, pipe, list operator or the line's end).
fn invocations(script: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in script.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("tollgate ") {
            let in_command_position = rest[..at].trim_end().is_empty()
                || rest[..at].trim_end().ends_with(['!', ';', '(', '|', '&'])
                || rest[..at].trim_end().ends_with("then")
                || rest[..at].trim_end().ends_with("else");
            let after = &rest[at..];
            let end = [" > ", " >> ", " | ", " || ", " && ", "; ", ")"]
                .iter()
                .filter_map(|op| after.find(op))
                .min()
                .unwrap_or(after.len());
            if in_command_position {
                found.push(after[..end].trim_end_matches(';').to_owned());
            }
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_template_parses_and_every_tollgate_line_is_a_command_of_todays_cli() {
    let files = templates();
    assert!(files.len() >= 2, "expected the GitHub and GitLab templates, found {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut scripts = Vec::new();
        docs.iter().for_each(|d| strings(d, &mut scripts));
        let commands: Vec<String> = scripts.iter().flat_map(|s| invocations(s)).collect();
        for command in &commands {
            let words =
                shlex::split(command).unwrap_or_else(|| panic!("{}: unbalanced quotes in {command}", file.display()));
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("{}: `{command}` is not accepted by the CLI:\n{e}", file.display());
            }
        }
        // The template asks before deploying, and records the deployment and its outcome.
        for needed in ["check --service", "release deploy", "release deployed"] {
            assert!(
                commands
                    .iter()
                    .any(|c| c.contains(&format!("tollgate {needed}")) || c.contains(&format!("--json {needed}"))),
                "{}: no `tollgate {needed}` line in {commands:#?}",
                file.display()
            );
        }
        assert!(commands.len() >= 4, "{}: only {commands:?}", file.display());
    }
}

#[test]
fn the_extractor_finds_commands_where_a_shell_would_run_them() {
    let script = "if [ \"$S\" = success ]; then tollgate release deployed \"$R\" --outcome success; fi\n\
                  # tollgate not-a-command\n\
                  echo tollgate is a word here\n\
                  tollgate --json check --service a --artefact \"$D\" --env qa > out.json";
    assert_eq!(
        invocations(script),
        [
            "tollgate release deployed \"$R\" --outcome success",
            "tollgate --json check --service a --artefact \"$D\" --env qa"
        ]
    );
}
