//! Standard output for people and pipes: when the reader goes away (`tollgate audit log | head`)
//! the program ends quietly, as Unix tools do, instead of panicking. Text recorded by people
//! (comments, justifications, titles) never reaches the terminal as control characters: an
//! escape sequence in a comment could otherwise rewrite what a reviewer sees.

use std::io::Write;

pub fn write(text: &str) {
    let text = printable(text);
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
        eprintln!("{}", $crate::out::printable(&format!($($arg)*)))
    };
}
