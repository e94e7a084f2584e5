//! CycloneDX JSON, read as a stream: building a `serde_json::Value` of a 10,000-component BOM
//! costs several times more than reading it, so the document is walked once with visitors that
//! keep only what the report needs. The rules are those of [`crate::json::parse`]: a duplicate
//! key anywhere is refused and nesting is bounded (serde_json's 128 levels); an error carries
//! the JSON path it occurred at, collected as it unwinds.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use tollgate_domain::evidence::{Digest, SbomReport};

use super::{Counts, Subject, cyclonedx_version, report};
use crate::error::{Location, ParseError};
use crate::json;

/// What the top level of a JSON SBOM says about its format.
pub(super) enum Kind {
    CycloneDx(SbomReport),
    /// `spdxVersion` and no `bomFormat`: read as SPDX instead.
    Spdx,
}

/// Reads a JSON SBOM's top level, and all of it when it is CycloneDX.
pub(super) fn parse(bytes: &[u8]) -> Result<Kind, ParseError> {
    if bytes.len() > json::MAX_DOCUMENT_BYTES {
        return Err(ParseError::document(format!(
            "the document is {} bytes; at most {} are read",
            bytes.len(),
            json::MAX_DOCUMENT_BYTES
        )));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let walk = Walk::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let top = Doc(&walk).deserialize(&mut de).and_then(|top| de.end().map(|()| top));
    let top = top.map_err(|e| walk.error(&e))?;
    match (top.bom_format, top.spdx) {
        (Some(format), false) => {
            if format != "CycloneDX" {
                return Err(ParseError::at_path("bomFormat", format!("expected \"CycloneDX\", found {format:?}")));
            }
            let Some(spec) = top.spec_version else {
                return Err(ParseError::at_path("$", "expected the member `specVersion`"));
            };
            let version = cyclonedx_version(&spec).map_err(|e| ParseError::at_path("specVersion", e))?;
            let format = format!("CycloneDX {version} JSON");
            Ok(Kind::CycloneDx(report(format, walk.subject.into_inner(), walk.counts.get())))
        }
        (None, true) => Ok(Kind::Spdx),
        (Some(_), true) => Err(ParseError::at_path(
            "$",
            "both `bomFormat` and `spdxVersion` are present; expected either a CycloneDX or an SPDX document",
        )),
        (None, false) => Err(ParseError::at_path(
            "$",
            "expected a CycloneDX document (with `bomFormat`) or an SPDX document (with `spdxVersion`), found neither",
        )),
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

/// State shared by the visitors of one read.
#[derive(Default)]
struct Walk {
    counts: Cell<Counts>,
    subject: RefCell<Subject>,
    /// The path of the failing value, innermost first, filled in as the error unwinds.
    failed_at: RefCell<Vec<Segment>>,
}

impl Walk {
    fn at<T, E>(&self, segment: impl FnOnce() -> Segment, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() {
            self.failed_at.borrow_mut().push(segment());
        }
        result
    }

    fn key<T, E>(&self, key: &str, result: Result<T, E>) -> Result<T, E> {
        self.at(|| Segment::Key(key.to_owned()), result)
    }

    fn path(&self) -> String {
        let mut path = String::new();
        for segment in self.failed_at.borrow().iter().rev() {
            match segment {
                Segment::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Segment::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        if path.is_empty() { "$".to_owned() } else { path }
    }

    /// A wrong value is reported at its path; broken JSON at its line and column.
    fn error(&self, e: &serde_json::Error) -> ParseError {
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message.get(..i).unwrap_or(&message).to_owned(),
            None => message,
        };
        let line = e.line() as u64;
        if e.is_data() {
            ParseError { location: Location::Path { path: self.path(), line: (line > 0).then_some(line) }, message }
        } else if line == 0 {
            ParseError { location: Location::Document, message }
        } else {
            ParseError { location: Location::LineColumn { line, column: e.column() as u64 }, message }
        }
    }
}

/// The keys of one object, to refuse duplicates. Most objects have a handful, searched in a
/// list; an object with more moves them to a hash set, so that a huge one stays linear.
struct Keys<'w, 'de> {
    walk: &'w Walk,
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'w, 'de> Keys<'w, 'de> {
    const FEW: usize = 16;

    fn new(walk: &'w Walk) -> Self {
        Keys { walk, few: Vec::new(), many: HashSet::new() }
    }

    /// The next key, or an error at it when it was already given.
    fn next<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<Option<Cow<'de, str>>, A::Error> {
        let Some(key) = map.next_key_seed(Str)? else { return Ok(None) };
        let repeated = if self.few.len() < Self::FEW {
            let repeated = self.few.contains(&key);
            self.few.push(key.clone());
            repeated
        } else {
            if self.many.is_empty() {
                self.many.extend(self.few.iter().cloned());
            }
            !self.many.insert(key.clone())
        };
        if repeated {
            let duplicate = Err(A::Error::custom(format_args!("duplicate key `{key}`")));
            return self.walk.key(&key, duplicate);
        }
        Ok(Some(key))
    }
}

/// A string, borrowed from the document when it has no escapes.
struct Str;

impl<'de> DeserializeSeed<'de> for Str {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Str {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// A string or null (absent).
struct OptStr;

impl<'de> DeserializeSeed<'de> for OptStr {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for OptStr {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Any value, checked for duplicate keys and otherwise skipped.
struct Skip<'w>(&'w Walk);

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while self.0.at(|| Segment::Index(i), seq.next_element_seed(Skip(self.0)))?.is_some() {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = Keys::new(self.0);
        while let Some(key) = keys.next(&mut map)? {
            self.0.key(&key, map.next_value_seed(Skip(self.0)))?;
        }
        Ok(())
    }
}

/// The top level: the format keys, `metadata` and `components`.
struct Doc<'w>(&'w Walk);

#[derive(Default)]
struct Top {
    bom_format: Option<String>,
    spec_version: Option<String>,
    spdx: bool,
}

impl<'de> DeserializeSeed<'de> for Doc<'_> {
    type Value = Top;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Top, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Doc<'_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an SBOM object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let walk = self.0;
        let mut top = Top::default();
        let mut keys = Keys::new(self.0);
        while let Some(key) = keys.next(&mut map)? {
            let value = match key.as_ref() {
                "bomFormat" => map.next_value_seed(OptStr).map(|v| top.bom_format = v.map(Cow::into_owned)),
                "specVersion" => map.next_value_seed(OptStr).map(|v| top.spec_version = v.map(Cow::into_owned)),
                "spdxVersion" => map.next_value_seed(Skip(walk)).map(|()| top.spdx = true),
                "components" => map.next_value_seed(Components(walk)),
                "metadata" => map.next_value_seed(Metadata(walk)),
                _ => map.next_value_seed(Skip(walk)),
            };
            walk.key(&key, value)?;
        }
        Ok(top)
    }
}

/// A list of components, each counted with its nested components.
struct Components<'w>(&'w Walk);

impl<'de> DeserializeSeed<'de> for Components<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Components<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of components")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while self.0.at(|| Segment::Index(i), seq.next_element_seed(Component(self.0)))?.is_some() {
            i += 1;
        }
        Ok(())
    }
}

struct Component<'w>(&'w Walk);

impl<'de> DeserializeSeed<'de> for Component<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Component<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a component object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let walk = self.0;
        let (mut purl, mut hashed) = (false, false);
        let mut keys = Keys::new(self.0);
        while let Some(key) = keys.next(&mut map)? {
            let value = match key.as_ref() {
                "purl" => map.next_value_seed(OptStr).map(|v| purl = v.is_some_and(|p| !p.trim().is_empty())),
                "hashes" => map
                    .next_value_seed(Hashes { walk, subject: false })
                    .map(|h| hashed = h.iter().any(Hash::has_content)),
                "components" => map.next_value_seed(Components(walk)),
                _ => map.next_value_seed(Skip(walk)),
            };
            walk.key(&key, value)?;
        }
        let mut counts = walk.counts.get();
        counts.components += 1;
        counts.with_purl += u64::from(purl);
        counts.with_hashes += u64::from(hashed);
        walk.counts.set(counts);
        Ok(())
    }
}

#[derive(Default)]
struct Hash<'de> {
    alg: Option<Cow<'de, str>>,
    content: Option<Cow<'de, str>>,
}

impl Hash<'_> {
    fn has_content(&self) -> bool {
        self.content.as_deref().is_some_and(|c| !c.trim().is_empty())
    }
}

/// A list of hashes; for the subject, each SHA-256 one is checked as it is read, so that an
/// error points at it, and kept as a digest the SBOM describes.
struct Hashes<'w> {
    walk: &'w Walk,
    subject: bool,
}

impl<'de> Hashes<'_> {
    fn next<A: SeqAccess<'de>>(&self, seq: &mut A) -> Result<Option<Hash<'de>>, A::Error> {
        let Some(hash) = seq.next_element_seed(HashSeed(self.walk))? else { return Ok(None) };
        if self.subject && hash.alg.as_deref() == Some("SHA-256") {
            let digest = match hash.content.as_deref() {
                Some(content) => self.walk.key("content", Digest::parse(content.trim()).map_err(A::Error::custom))?,
                None => return Err(A::Error::custom("expected the member `content`")),
            };
            self.walk.subject.borrow_mut().digest(digest);
        }
        Ok(Some(hash))
    }
}

impl<'de> DeserializeSeed<'de> for Hashes<'_> {
    type Value = Vec<Hash<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Hashes<'_> {
    type Value = Vec<Hash<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of hashes")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut hashes = Vec::new();
        while let Some(hash) = self.walk.at(|| Segment::Index(hashes.len()), self.next(&mut seq))? {
            hashes.push(hash);
        }
        Ok(hashes)
    }
}

struct HashSeed<'w>(&'w Walk);

impl<'de> DeserializeSeed<'de> for HashSeed<'_> {
    type Value = Hash<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HashSeed<'_> {
    type Value = Hash<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hash object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut hash = Hash::default();
        let mut keys = Keys::new(self.0);
        while let Some(key) = keys.next(&mut map)? {
            let value = match key.as_ref() {
                "alg" => map.next_value_seed(OptStr).map(|v| hash.alg = v),
                "content" => map.next_value_seed(OptStr).map(|v| hash.content = v),
                _ => map.next_value_seed(Skip(self.0)),
            };
            self.0.key(&key, value)?;
        }
        Ok(hash)
    }
}

struct Metadata<'w>(&'w Walk);

impl<'de> DeserializeSeed<'de> for Metadata<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Metadata<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a metadata object")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = Keys::new(self.0);
        while let Some(key) = keys.next(&mut map)? {
            let value = match key.as_ref() {
                "component" => map.next_value_seed(SubjectSeed(self.0)),
                _ => map.next_value_seed(Skip(self.0)),
            };
            self.0.key(&key, value)?;
        }
        Ok(())
    }
}

/// `metadata.component`: the subject's name, version and SHA-256 digests.
struct SubjectSeed<'w>(&'w Walk);

impl<'de> DeserializeSeed<'de> for SubjectSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SubjectSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a component object")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let walk = self.0;
        let (mut name, mut version) = (None, None);
        let mut keys = Keys::new(self.0);
        while let Some(key) = keys.next(&mut map)? {
            let value = match key.as_ref() {
                "name" => map.next_value_seed(OptStr).map(|v| name = v),
                "version" => map.next_value_seed(OptStr).map(|v| version = v),
                "hashes" => map.next_value_seed(Hashes { walk, subject: true }).map(drop),
                _ => map.next_value_seed(Skip(walk)),
            };
            walk.key(&key, value)?;
        }
        walk.subject.borrow_mut().name(name.as_deref(), version.as_deref());
        Ok(())
    }
}
