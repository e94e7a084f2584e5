//! Strict JSON for security-relevant documents: a duplicate key is refused (two readers of
//! the same file must never see different values), the document size and nesting depth are
//! bounded, and every access through [`Node`] knows its JSON path for error messages.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Location, ParseError};

/// Larger JSON evidence documents are refused rather than read into memory.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024 * 1024;

/// serde_json's own recursion limit (128 levels) bounds nesting.
pub fn parse(bytes: &[u8]) -> Result<Value, ParseError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(ParseError::document(format!(
            "the document is {} bytes; at most {MAX_DOCUMENT_BYTES} are read",
            bytes.len()
        )));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut de).map_err(from_serde)?;
    de.end().map_err(from_serde)?;
    Ok(value)
}

fn from_serde(e: serde_json::Error) -> ParseError {
    let message = e.to_string();
    // serde_json appends " at line L column C"; the location is kept separately.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    if e.line() == 0 {
        ParseError { location: Location::Document, message }
    } else {
        ParseError { location: Location::LineColumn { line: e.line() as u64, column: e.column() as u64 }, message }
    }
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A value inside a parsed document, with the path that reaches it.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    pub value: &'a Value,
    path: Path<'a>,
}

#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Node<'a>, &'a str),
    Index(&'a Node<'a>, usize),
}

impl<'a> Node<'a> {
    pub fn root(value: &'a Value) -> Node<'a> {
        Node { value, path: Path::Root }
    }

    /// `runs[0].results[3].level`; `$` for the root.
    pub fn path(&self) -> String {
        let mut out = String::new();
        self.write_path(&mut out);
        if out.is_empty() { "$".to_owned() } else { out }
    }

    fn write_path(&self, out: &mut String) {
        match self.path {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.write_path(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, i) => {
                parent.write_path(out);
                out.push_str(&format!("[{i}]"));
            }
        }
    }

    /// An error at this node.
    pub fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::at_path(self.path(), message)
    }

    /// The member `key` if present and not null.
    pub fn get(&'a self, key: &'a str) -> Option<Node<'a>> {
        match self.value.get(key) {
            Some(Value::Null) | None => None,
            Some(value) => Some(Node { value, path: Path::Key(self, key) }),
        }
    }

    pub fn required(&'a self, key: &'a str) -> Result<Node<'a>, ParseError> {
        if !self.value.is_object() {
            return Err(self.error(format!("expected an object, found {}", kind(self.value))));
        }
        self.get(key).ok_or_else(|| self.error(format!("expected the member `{key}`")))
    }

    pub fn as_str(&self) -> Result<&'a str, ParseError> {
        self.value.as_str().ok_or_else(|| self.error(format!("expected a string, found {}", kind(self.value))))
    }

    pub fn as_f64(&self) -> Result<f64, ParseError> {
        self.value.as_f64().ok_or_else(|| self.error(format!("expected a number, found {}", kind(self.value))))
    }

    pub fn as_u64(&self) -> Result<u64, ParseError> {
        self.value
            .as_u64()
            .ok_or_else(|| self.error(format!("expected a non-negative integer, found {}", kind(self.value))))
    }

    /// The elements of an array, each with its path.
    pub fn items(&'a self) -> Result<impl Iterator<Item = Node<'a>> + 'a, ParseError> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.error(format!("expected an array, found {}", kind(self.value))))?;
        Ok(items.iter().enumerate().map(move |(i, value)| Node { value, path: Path::Index(self, i) }))
    }

    /// `get(key)` as a string, `None` when absent; an error when present with another type.
    pub fn opt_str(&'a self, key: &'a str) -> Result<Option<&'a str>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => node.value.as_str().map(Some).ok_or_else(|| {
                ParseError::at_path(
                    format!("{}.{key}", self.path()).trim_start_matches('.'),
                    format!("expected a string, found {}", kind(node.value)),
                )
            }),
        }
    }
}

/// "a string", "an array", ... for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_with_their_line() {
        let err = parse(b"{\n \"a\": 1,\n \"a\": 2\n}").unwrap_err();
        assert!(err.message.contains("duplicate key `a`"), "{err}");
        assert!(matches!(err.location, Location::LineColumn { line: 3, .. }), "{err:?}");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        let err = parse(deep.as_bytes()).unwrap_err();
        assert!(err.message.contains("recursion limit"), "{err}");
    }

    #[test]
    fn paths_name_the_element() {
        let value = parse(br#"{"runs":[{"results":[{"level":3}]}]}"#).unwrap();
        let root = Node::root(&value);
        let runs = root.required("runs").unwrap();
        let run = runs.items().unwrap().next().unwrap();
        let results = run.required("results").unwrap();
        let result = results.items().unwrap().next().unwrap();
        let level = result.required("level").unwrap();
        assert_eq!(
            level.as_str().unwrap_err().to_string(),
            "at `runs[0].results[0].level`: expected a string, found a number"
        );
    }
}
