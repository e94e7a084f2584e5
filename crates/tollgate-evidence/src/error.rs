//! The one error every parser returns: where in the file, and what was expected there.

use std::fmt;

/// Where in a document a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// 1-based line and column.
    LineColumn { line: u64, column: u64 },
    /// A JSON path like `runs[0].results[3].level`, with the line when known.
    Path { path: String, line: Option<u64> },
    /// A byte offset, for formats read as a stream.
    Offset(u64),
    /// The document as a whole (empty, too large, wrong kind).
    Document,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub location: Location,
    /// What was expected, and what was found: "expected a number from 0 to 10, found \"high\"".
    pub message: String,
}

impl ParseError {
    pub fn at_path(path: impl Into<String>, message: impl Into<String>) -> ParseError {
        ParseError { location: Location::Path { path: path.into(), line: None }, message: message.into() }
    }

    pub fn document(message: impl Into<String>) -> ParseError {
        ParseError { location: Location::Document, message: message.into() }
    }

    pub fn at_line(line: u64, column: u64, message: impl Into<String>) -> ParseError {
        ParseError { location: Location::LineColumn { line, column }, message: message.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::LineColumn { line, column } => write!(f, "line {line}, column {column}: {}", self.message),
            Location::Path { path, line: Some(line) } => write!(f, "line {line}, at `{path}`: {}", self.message),
            Location::Path { path, line: None } => write!(f, "at `{path}`: {}", self.message),
            Location::Offset(offset) => write!(f, "byte {offset}: {}", self.message),
            Location::Document => f.write_str(&self.message),
        }
    }
}
