//! Standard output for people and pipes: when the reader goes away (`tollgate audit log | head`)
//! the program ends quietly, as Unix tools do, instead of panicking. Text recorded by people
//! (comments, justifications, titles) never reaches the terminal as control characters: an
//! escape sequence in a comment could otherwise rewrite what a reviewer sees.
//!
//! A command on a sandbox store is marked wherever its output could be mistaken for a real
//! store's: a banner on standard error before anything else (standard output stays what
//! scripts parse), and `"sandbox": true` in every JSON answer that is an object.

use std::cell::{Cell, RefCell};
use std::io::Write;

thread_local! {
    /// While a server thread runs a command for a client, what it prints is kept here and sent
    /// back, instead of reaching the server's own terminal.
    static CAPTURED: RefCell<Option<Captured>> = const { RefCell::new(None) };
    /// The command runs on a sandbox store: its answers are marked.
    static SANDBOX: Cell<bool> = const { Cell::new(false) };
}

/// The first line a command on a sandbox store prints.
pub const BANNER: &str = "SANDBOX — rehearsal store, not a record of real releases";

/// From here on the command works on a sandbox: the banner is printed now, once, ahead of
/// everything else. Captured for a client, it travels as the answer's `sandbox` flag instead,
/// and the client prints it first.
pub fn mark_sandbox() {
    if SANDBOX.replace(true) {
        return;
    }
    let captured = CAPTURED.with(|c| c.borrow_mut().as_mut().map(|c| c.sandbox = true).is_some());
    if !captured {
        banner();
    }
}

/// The banner, on standard error.
pub fn banner() {
    ewrite(&format!("{BANNER}\n"));
}

/// Whether the command runs on a sandbox store.
pub fn sandboxed() -> bool {
    SANDBOX.get()
}

/// `value` with `"sandbox": true` first when the command runs on a sandbox and the value is
/// an object (a list stays a list: the banner marks it).
pub fn marked(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(fields) if sandboxed() && !fields.contains_key("sandbox") => {
            let mut marked = serde_json::Map::from_iter([("sandbox".to_owned(), serde_json::Value::Bool(true))]);
            marked.extend(fields);
            serde_json::Value::Object(marked)
        }
        other => other,
    }
}

/// What one command printed, on each stream. A command that printed only a JSON answer
/// (`--json`) has it in `json`, as the value it was, and nothing in `stdout`: the server sends
/// the value as is, without printing and parsing it back.
#[derive(Debug, Default)]
pub struct Captured {
    pub stdout: String,
    pub stderr: String,
    pub json: Option<serde_json::Value>,
    /// The command ran on a sandbox store.
    pub sandbox: bool,
}

/// Prints a JSON answer, pretty, as the CLI does (captured first, it is kept as the value).
pub fn write_json(value: serde_json::Value) {
    let value = marked(value);
    let unkept = CAPTURED.with(|c| match c.borrow_mut().as_mut() {
        Some(c) if c.stdout.is_empty() && c.json.is_none() => {
            c.json = Some(value);
            None
        }
        _ => Some(value),
    });
    if let Some(value) = unkept {
        write(&json_text(&value));
    }
}

/// A JSON answer printed as text: what `write_json` prints.
pub fn json_text(value: &serde_json::Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(value).expect("a JSON value serialises"))
}

/// Runs `f` with everything it prints through this module kept rather than written.
/// A server thread runs many commands: each starts unmarked.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Captured) {
    CAPTURED.with(|c| *c.borrow_mut() = Some(Captured::default()));
    SANDBOX.set(false);
    let result = f();
    SANDBOX.set(false);
    let captured = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (result, captured)
}

fn captured(text: &str, stderr: bool) -> bool {
    CAPTURED.with(|c| match c.borrow_mut().as_mut() {
        Some(c) => {
            if stderr {
                c.stderr.push_str(text)
            } else {
                // More text after a JSON answer: the answer is text too, in its place.
                if let Some(json) = c.json.take() {
                    c.stdout.push_str(&json_text(&json));
                }
                c.stdout.push_str(text)
            }
            true
        }
        None => false,
    })
}

/// Standard error, for text that may hold what people recorded.
pub fn ewrite(text: &str) {
    let text = printable(text);
    if !captured(&text, true) {
        eprint!("{text}");
    }
}

pub fn write(text: &str) {
    let text = printable(text);
    if captured(&text, false) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` that survives a closed pipe.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::write(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `text` with every control character but newline and tab shown as its escape (`\u{1b}`),
/// and Unicode bidirectional overrides too, which reorder what a terminal displays.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars().map(|c| if hidden(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect(),
    )
}

/// `eprintln!` for text that may hold what people recorded.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::ewrite(&format!("{}\n", format_args!($($arg)*)))
    };
}
