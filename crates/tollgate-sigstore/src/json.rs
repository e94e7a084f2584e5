//! Strict JSON for signed documents, after `tollgate-evidence`'s reader (copied rather than
//! depended on, so this crate stays small): a duplicate key is refused (two readers of the
//! same bundle must never see different values), the size is bounded by the caller, nesting
//! by serde_json's recursion limit, and every access through [`Node`] knows its JSON path.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Result, SigError};

/// Parses `bytes` as one JSON document of at most `max_bytes`; `what` names it in errors.
pub fn parse(bytes: &[u8], max_bytes: usize, what: &str) -> Result<Value> {
    if bytes.len() > max_bytes {
        return Err(SigError::malformed(format!("the {what} is {} bytes; at most {max_bytes} are read", bytes.len())));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut de).map_err(|e| from_serde(e, what))?;
    de.end().map_err(|e| from_serde(e, what))?;
    Ok(value)
}

fn from_serde(e: serde_json::Error, what: &str) -> SigError {
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) => message.get(..i).unwrap_or(&message).to_owned(),
        None => message,
    };
    if e.line() == 0 {
        SigError::malformed(format!("the {what} is not valid JSON: {message}"))
    } else {
        SigError::malformed(format!(
            "the {what} is not valid JSON: line {}, column {}: {message}",
            e.line(),
            e.column()
        ))
    }
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
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

    /// `verificationMaterial.tlogEntries[0].logIndex`; `$` for the root.
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

    /// A malformed-input error at this node.
    pub fn error(&self, message: impl fmt::Display) -> SigError {
        SigError::malformed(format!("at `{}`: {message}", self.path()))
    }

    /// The member `key` if present and not null.
    pub fn get(&'a self, key: &'a str) -> Option<Node<'a>> {
        match self.value.get(key) {
            Some(Value::Null) | None => None,
            Some(value) => Some(Node { value, path: Path::Key(self, key) }),
        }
    }

    pub fn required(&'a self, key: &'a str) -> Result<Node<'a>> {
        if !self.value.is_object() {
            return Err(self.error(format!("expected an object, found {}", kind(self.value))));
        }
        self.get(key).ok_or_else(|| self.error(format!("expected the member `{key}`")))
    }

    pub fn as_str(&self) -> Result<&'a str> {
        self.value.as_str().ok_or_else(|| self.error(format!("expected a string, found {}", kind(self.value))))
    }

    /// Standard base64 (protobuf JSON's encoding of `bytes`).
    pub fn as_base64(&self) -> Result<Vec<u8>> {
        decode_base64(self.as_str()?).map_err(|e| self.error(e))
    }

    /// A protobuf JSON int64: a decimal string, or a JSON integer.
    pub fn as_i64(&self) -> Result<i64> {
        let parsed = match self.value {
            Value::String(s) if is_decimal(s) => s.parse::<i64>().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        };
        parsed.ok_or_else(|| self.error(format!("expected an integer, found {}", describe(self.value))))
    }

    /// [`Node::as_i64`] that must not be negative.
    pub fn as_non_negative(&self) -> Result<u64> {
        let n = self.as_i64()?;
        u64::try_from(n).map_err(|_| self.error(format!("expected a non-negative integer, found {n}")))
    }

    /// The elements of an array, each with its path; more than `max` is refused.
    pub fn items(&'a self, max: usize) -> Result<impl Iterator<Item = Node<'a>> + 'a> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.error(format!("expected an array, found {}", kind(self.value))))?;
        if items.len() > max {
            return Err(self.error(format!("{} elements; at most {max} are accepted", items.len())));
        }
        Ok(items.iter().enumerate().map(move |(i, value)| Node { value, path: Path::Index(self, i) }))
    }

    /// `get(key)` as a string, `None` when absent; an error when present with another type.
    pub fn opt_str(&'a self, key: &'a str) -> Result<Option<&'a str>> {
        self.get(key).map(|node| node.as_str()).transpose()
    }

    /// The names of the object's members (for "exactly one of" checks).
    pub fn keys(&self) -> Vec<&'a str> {
        self.value.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default()
    }
}

fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Standard base64 with padding, as Sigstore clients write protobuf `bytes`. Line breaks are
/// skipped, as Go's decoder (the reference clients') skips them; the URL-safe alphabet the
/// protobuf mapping also allows is refused: no client writes it.
pub fn decode_base64(s: &str) -> std::result::Result<Vec<u8>, String> {
    let result =
        if s.contains(['\r', '\n']) { STANDARD.decode(s.replace(['\r', '\n'], "")) } else { STANDARD.decode(s) };
    result.map_err(|e| format!("expected standard base64, {e}"))
}

pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
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

/// The value itself when short, else its kind.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) if s.len() <= 40 => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_with_their_line() {
        let err = parse(b"{\n \"a\": 1,\n \"a\": 2\n}", 1024, "bundle").unwrap_err();
        assert!(err.message.contains("duplicate key `a`"), "{err}");
        assert!(err.message.contains("line 3"), "{err}");
    }

    #[test]
    fn size_is_bounded() {
        let err = parse(b"[1, 2, 3]", 4, "trusted root").unwrap_err();
        assert_eq!(err.message, "the trusted root is 9 bytes; at most 4 are read");
    }

    #[test]
    fn int64_strings_and_paths() {
        let value = parse(br#"{"entries":[{"logIndex":"-1"},{"logIndex":"x7"}]}"#, 1024, "bundle").unwrap();
        let root = Node::root(&value);
        let entries = root.required("entries").unwrap();
        let mut items = entries.items(8).unwrap();
        let first = items.next().unwrap();
        let index = first.required("logIndex").unwrap();
        assert_eq!(index.as_i64().unwrap(), -1);
        assert_eq!(
            index.as_non_negative().unwrap_err().message,
            "at `entries[0].logIndex`: expected a non-negative integer, found -1"
        );
        let second = items.next().unwrap();
        let index = second.required("logIndex").unwrap();
        assert_eq!(index.as_i64().unwrap_err().message, "at `entries[1].logIndex`: expected an integer, found \"x7\"");
    }

    #[test]
    fn item_counts_are_bounded() {
        let value = parse(b"[1,2,3]", 1024, "bundle").unwrap();
        let root = Node::root(&value);
        assert!(root.items(2).is_err());
        assert_eq!(root.items(3).unwrap().count(), 3);
    }
}
