//! What the application layer's tests share: where the log-format tests' files are, blessing
//! (`TOLLGATE_BLESS=1` rewrites an expected file instead of comparing with it), a line diff
//! for a mismatch, and a staffed store on a manual clock.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name)
}

/// Whether expected files are being rewritten deliberately.
pub fn blessing() -> bool {
    std::env::var("TOLLGATE_BLESS").is_ok_and(|v| v == "1")
}

/// `actual` must be the contents of `path`; with `TOLLGATE_BLESS=1` it becomes them. A
/// mismatch names the file and shows the difference line by line (JSON is pretty-printed
/// first, so one changed field is one changed line).
pub fn expect_file(path: &Path, actual: &[u8]) {
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if std::fs::read(path).ok().as_deref() != Some(actual) {
            std::fs::write(path, actual).unwrap();
            eprintln!("blessed {}", path.display());
        }
        return;
    }
    let expected = std::fs::read(path).unwrap_or_else(|e| {
        panic!("{}: {e}; run with TOLLGATE_BLESS=1 to write it, and review it before committing", path.display())
    });
    if expected != actual {
        panic!(
            "{} differs from what is written now (- file, + now):\n{}\nA changed wire format is a new event \
             version with an upcaster (ARCHITECTURE.md); if the change is deliberate, run with \
             TOLLGATE_BLESS=1 and review the diff.",
            path.display(),
            diff(&pretty(&expected), &pretty(actual))
        );
    }
}

/// JSON as indented lines, in its own key order; anything else as it is.
pub fn pretty(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut indent = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    if serde_json::from_slice::<serde_json::Value>(bytes).is_err() || text.contains('\n') {
        return text.into_owned();
    }
    let newline = |out: &mut String, indent: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(indent));
    };
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                indent += 1;
                newline(&mut out, indent);
            }
            '}' | ']' => {
                indent -= 1;
                newline(&mut out, indent);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, indent);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The lines of `a` and `b` that differ, with two lines of context (a longest common
/// subsequence, fine for files of a few thousand lines).
pub fn diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    if n * m > 40_000_000 {
        return format!("(too long to diff: {n} and {m} lines)");
    }
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let near = |k: usize| ops[k.saturating_sub(2)..(k + 3).min(ops.len())].iter().any(|(op, _)| *op != ' ');
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near(k) {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            out.push_str(&format!("{op} {line}\n"));
        } else {
            skipped = true;
        }
    }
    out
}

/// A new store under `dir` on a manual clock set to `start`, with rita as release manager and
/// eli as engineering lead (QMS-DEV-PRO-004 in force).
pub fn staffed_store(
    dir: &Path,
    start: &str,
) -> (tollgate_app::App<tollgate_ledger::SqliteLedger>, tollgate_app::ManualClock) {
    staffed(dir, start, false)
}

/// The same store, a sandbox.
pub fn staffed_sandbox(
    dir: &Path,
    start: &str,
) -> (tollgate_app::App<tollgate_ledger::SqliteLedger>, tollgate_app::ManualClock) {
    staffed(dir, start, true)
}

fn staffed(
    dir: &Path,
    start: &str,
    sandbox: bool,
) -> (tollgate_app::App<tollgate_ledger::SqliteLedger>, tollgate_app::ManualClock) {
    use std::sync::Arc;
    use tollgate_app::{App, ManualClock, When};
    use tollgate_domain::Command;
    let clock = ManualClock::new(start.parse().unwrap());
    let mut app = App::create_as(&dir.join("t.db"), sandbox).unwrap().with_clock(Arc::new(clock.clone()));
    let text = tollgate_profile::builtin("qms-dev-pro-004").unwrap();
    let profile = Arc::new(tollgate_profile::load("builtin:qms-dev-pro-004", text).unwrap());
    let people: &[(&str, &[&str])] = &[("rita", &["release-manager"]), ("eli", &["engineering-lead"])];
    for (actor, command) in tollgate_domain::playbook::staffing(profile, people) {
        let command = match command {
            Command::Init { profile, roles, .. } => Command::Init { profile, roles, sandbox },
            other => other,
        };
        app.execute(&actor, &When::Now, &command).unwrap();
    }
    (app, clock)
}

/// How a fixture line (`tests/fixtures/*.jsonl`) introduces the payload, always its last field.
pub const PAYLOAD: &str = ",\"payload\":";

/// Appends a fixture's frames to `ledger`, each with the stream version it had.
pub fn append_fixture(ledger: &mut dyn tollgate_ledger::Ledger, text: &str) {
    use tollgate_ledger::{Expectation, NewRecord};
    for (n, line) in text.lines().enumerate() {
        let head: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let at = line.find(PAYLOAD).unwrap_or_else(|| panic!("line {}: no payload", n + 1));
        let payload = &line[at + PAYLOAD.len()..line.len() - 1];
        assert_eq!(serde_json::from_str::<serde_json::Value>(payload).unwrap(), head["payload"], "line {}", n + 1);
        let stream = head["stream"].as_str().unwrap().to_owned();
        let version = head["stream_version"].as_u64().unwrap();
        let recorded: chrono::DateTime<chrono::Utc> = head["recorded_at"].as_str().unwrap().parse().unwrap();
        ledger
            .append(
                &[Expectation { stream: stream.clone(), version: version - 1 }],
                &[NewRecord { stream, payload: payload.as_bytes().to_vec() }],
                recorded.timestamp_micros(),
            )
            .unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
    }
}
