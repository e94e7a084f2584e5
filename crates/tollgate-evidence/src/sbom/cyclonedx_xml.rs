//! CycloneDX XML, read as a stream with quick-xml: only the elements the report needs are
//! kept track of (the BOM's `components`, nested `components`, each component's `purl` and
//! `hashes`, and `metadata/component`); elements of other namespaces are skipped whole.

use quick_xml::events::{BytesRef, BytesStart, BytesText, Event};
use quick_xml::{Reader, XmlVersion};
use tollgate_domain::evidence::{Digest, SbomReport};

use super::{CYCLONEDX_NAMESPACE, Counts, MAX_XML_DEPTH, Subject, cyclonedx_version, report};
use crate::error::ParseError;
use crate::json;

/// What an open XML element means to the reader; anything not listed is `Other` and only
/// its depth matters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum El {
    Bom,
    Metadata,
    Subject,
    SubjectName,
    SubjectVersion,
    SubjectHashes,
    SubjectHash { sha256: bool },
    Components,
    Component,
    Purl,
    Hashes,
    Hash,
    Other,
}

impl El {
    fn child(self, local: &str) -> El {
        match (self, local) {
            (El::Bom, "metadata") => El::Metadata,
            (El::Bom | El::Component, "components") => El::Components,
            (El::Metadata, "component") => El::Subject,
            (El::Subject, "name") => El::SubjectName,
            (El::Subject, "version") => El::SubjectVersion,
            (El::Subject, "hashes") => El::SubjectHashes,
            (El::SubjectHashes, "hash") => El::SubjectHash { sha256: false },
            (El::Components, "component") => El::Component,
            (El::Component, "purl") => El::Purl,
            (El::Component, "hashes") => El::Hashes,
            (El::Hashes, "hash") => El::Hash,
            _ => El::Other,
        }
    }

    /// Elements whose text is kept.
    fn keeps_text(self) -> bool {
        matches!(self, El::SubjectName | El::SubjectVersion | El::SubjectHash { sha256: true } | El::Purl | El::Hash)
    }
}

struct Open {
    el: El,
    /// Byte offset of the start tag, for errors about the element's content.
    at: u64,
}

/// The state of a CycloneDX XML read.
struct XmlBom<'t> {
    source: &'t str,
    namespace: Option<String>,
    stack: Vec<Open>,
    /// For each open counted component: whether a purl and a hash were seen.
    components: Vec<(bool, bool)>,
    buffer: String,
    closed: bool,
    counts: Counts,
    subject: Subject,
    subject_name: Option<String>,
    subject_version: Option<String>,
}

pub(super) fn parse(bytes: &[u8]) -> Result<SbomReport, ParseError> {
    if bytes.len() > json::MAX_DOCUMENT_BYTES {
        return Err(ParseError::document(format!(
            "the document is {} bytes; at most {} are read",
            bytes.len(),
            json::MAX_DOCUMENT_BYTES
        )));
    }
    // Offsets are counted after the byte order mark, which no editor shows as a column.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_column(bytes, e.valid_up_to() as u64);
        ParseError::at_line(line, column, "the XML is not UTF-8; expected a UTF-8 CycloneDX document")
    })?;
    let mut bom = XmlBom {
        source: text,
        namespace: None,
        stack: Vec::new(),
        components: Vec::new(),
        buffer: String::new(),
        closed: false,
        counts: Counts::default(),
        subject: Subject::default(),
        subject_name: None,
        subject_version: None,
    };
    let mut reader = Reader::from_str(text);
    let mut scopes = Scopes::default();
    loop {
        let at = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(bom.error(reader.error_position(), format!("malformed XML: {e}"))),
        };
        match event {
            Event::Start(start) => open(&mut bom, &mut scopes, at, &start)?,
            Event::Empty(start) => {
                open(&mut bom, &mut scopes, at, &start)?;
                bom.end()?;
                scopes.close();
            }
            Event::End(_) => {
                bom.end()?;
                scopes.close();
            }
            Event::Text(t) => {
                if bom.wants_text(&t) {
                    bom.text(at, &t.xml10_content())?;
                }
            }
            Event::CData(t) => bom.text(at, &t.xml10_content())?,
            Event::GeneralRef(r) => {
                let resolved = reference(&r).map_err(|e| bom.error(at, e))?;
                bom.text(at, &resolved)?;
            }
            Event::DocType(_) => {
                return Err(bom.error(at, "a DOCTYPE is not accepted in an SBOM"));
            }
            Event::Decl(decl) => {
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding.map_err(|e| bom.error(at, format!("malformed XML declaration: {e}")))?;
                    if !encoding.eq_ignore_ascii_case("utf-8") {
                        return Err(bom.error(at, format!("the XML declares encoding {encoding:?}; expected UTF-8")));
                    }
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    bom.finish()
}

/// The namespace declarations in scope. quick-xml's `NsReader` does this too, but it parses the
/// attributes of every element (on the benchmark BOM it took twice as long as a plain
/// `Reader`); a BOM declares namespaces on a handful, so only elements whose attributes mention
/// `xmlns` are looked at.
#[derive(Default)]
struct Scopes {
    /// (prefix, namespace), innermost last; the prefix "" is the default namespace.
    bindings: Vec<(String, String)>,
    /// For each open element, how many bindings it declared.
    declared: Vec<usize>,
}

impl Scopes {
    fn open(&mut self, start: &BytesStart<'_>) -> Result<(), String> {
        let mut declared = 0;
        if start.attributes_raw().contains("xmlns") {
            for attribute in start.attributes() {
                let attribute = attribute.map_err(|e| format!("malformed attribute: {e}"))?;
                let key = attribute.key.as_ref();
                let Some(prefix) = (if key == "xmlns" { Some("") } else { key.strip_prefix("xmlns:") }) else {
                    continue;
                };
                let namespace = attribute
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|e| format!("malformed namespace declaration `{key}`: {e}"))?;
                self.bindings.push((prefix.to_owned(), namespace.into_owned()));
                declared += 1;
            }
        }
        self.declared.push(declared);
        Ok(())
    }

    fn close(&mut self) {
        let declared = self.declared.pop().unwrap_or(0);
        self.bindings.truncate(self.bindings.len().saturating_sub(declared));
    }

    /// The namespace of an element's prefix ("" for none), `None` when it has none.
    fn resolve(&self, prefix: &str) -> Result<Option<&str>, String> {
        if prefix == "xml" {
            return Ok(Some("http://www.w3.org/XML/1998/namespace"));
        }
        // A byte loop, not `==`: perf showed glibc's memcmp (called even for empty prefixes) taking
        // a third of the time to read the benchmark BOM.
        let same = |p: &String| p.len() == prefix.len() && p.bytes().zip(prefix.bytes()).all(|(a, b)| a == b);
        match self.bindings.iter().rev().find(|(p, _)| same(p)) {
            // `xmlns=""` takes the default namespace away.
            Some((_, namespace)) if namespace.is_empty() => Ok(None),
            Some((_, namespace)) => Ok(Some(namespace)),
            None if prefix.is_empty() => Ok(None),
            None => Err(format!("the namespace prefix `{prefix}` is not declared")),
        }
    }
}

fn open(bom: &mut XmlBom<'_>, scopes: &mut Scopes, at: u64, start: &BytesStart<'_>) -> Result<(), ParseError> {
    scopes.open(start).map_err(|e| bom.error(at, e))?;
    let name = start.name();
    let (prefix, local) = split_name(name.as_ref());
    let ns = scopes.resolve(prefix).map_err(|e| bom.error(at, e))?;
    bom.start(at, ns, local, start)
}

/// The value of an attribute; a repeated attribute is an error, so that no reader of the same
/// file can take the other value.
fn attribute(start: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    let mut found = None;
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("malformed attribute: {e}"))?;
        if attribute.key.as_ref() == name {
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| format!("malformed attribute `{name}`: {e}"))?;
            found = Some(value.into_owned());
        }
    }
    Ok(found)
}

/// `prefix:local` as (prefix, local); the prefix is "" when there is none.
fn split_name(name: &str) -> (&str, &str) {
    // Names are short: a byte loop beats a searcher's set-up.
    match name.bytes().position(|b| b == b':') {
        Some(i) => (name.get(..i).unwrap_or_default(), name.get(i + 1..).unwrap_or_default()),
        None => ("", name),
    }
}

/// The text of `&name;` or `&#n;`; without a DTD only the five predefined entities exist.
fn reference(r: &BytesRef<'_>) -> Result<String, String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| format!("malformed character reference: {e}"))? {
        return Ok(c.to_string());
    }
    let name = r.xml10_content();
    let text = match name.as_ref() {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return Err(format!("the entity `&{name};` is not defined")),
    };
    Ok(text.to_owned())
}

impl XmlBom<'_> {
    fn error(&self, offset: u64, message: impl Into<String>) -> ParseError {
        let (line, column) = line_column(self.source.as_bytes(), offset);
        ParseError::at_line(line, column, message)
    }

    fn start(&mut self, at: u64, ns: Option<&str>, local: &str, start: &BytesStart<'_>) -> Result<(), ParseError> {
        let mut el = match self.stack.last() {
            None => {
                self.root(at, ns, local)?;
                El::Bom
            }
            Some(parent) if ns.is_some() && ns == self.namespace.as_deref() => parent.el.child(local),
            Some(_) => El::Other,
        };
        if self.stack.len() >= MAX_XML_DEPTH {
            return Err(self.error(at, format!("elements are nested more than {MAX_XML_DEPTH} deep")));
        }
        if let El::SubjectHash { .. } = el {
            let alg = attribute(start, "alg").map_err(|e| self.error(at, e))?;
            el = El::SubjectHash { sha256: alg.as_deref() == Some("SHA-256") };
        }
        if el == El::Component {
            self.counts.components += 1;
            self.components.push((false, false));
        }
        if el.keeps_text() {
            self.buffer.clear();
        }
        self.stack.push(Open { el, at });
        Ok(())
    }

    fn root(&mut self, at: u64, ns: Option<&str>, local: &str) -> Result<(), ParseError> {
        if self.closed {
            return Err(self.error(at, format!("found <{local}> after the end of <bom>; expected one root element")));
        }
        let version = ns.and_then(|ns| ns.strip_prefix(CYCLONEDX_NAMESPACE));
        match version {
            Some(version) if local == "bom" => {
                cyclonedx_version(version).map_err(|e| self.error(at, e))?;
                self.namespace = ns.map(str::to_owned);
                Ok(())
            }
            _ => Err(self.error(
                at,
                format!(
                    "expected a CycloneDX <bom> in namespace {CYCLONEDX_NAMESPACE}1.6 (or 1.4, 1.5), found <{local}> in {}",
                    ns.map_or_else(|| "no namespace".to_owned(), |ns| format!("namespace {ns}"))
                ),
            )),
        }
    }

    /// Whether a text event matters: inside an element whose text is kept, or outside the root
    /// (where only white space is allowed).
    fn wants_text(&self, text: &BytesText<'_>) -> bool {
        self.stack.last().is_none_or(|open| open.el.keeps_text()) && !text.is_empty()
    }

    fn text(&mut self, at: u64, content: &str) -> Result<(), ParseError> {
        match self.stack.last() {
            Some(open) if open.el.keeps_text() => self.buffer.push_str(content),
            Some(_) => {}
            None if content.trim().is_empty() => {}
            None => return Err(self.error(at, "found text outside the <bom> element")),
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), ParseError> {
        let Some(open) = self.stack.pop() else { return Ok(()) };
        if !open.el.keeps_text() {
            if open.el == El::Bom {
                self.closed = true;
            } else if open.el == El::Component
                && let Some((purl, hash)) = self.components.pop()
            {
                self.counts.with_purl += u64::from(purl);
                self.counts.with_hashes += u64::from(hash);
            }
            return Ok(());
        }
        let value = self.buffer.trim();
        match open.el {
            El::Purl if !value.is_empty() => {
                if let Some(component) = self.components.last_mut() {
                    component.0 = true;
                }
            }
            El::Hash if !value.is_empty() => {
                if let Some(component) = self.components.last_mut() {
                    component.1 = true;
                }
            }
            El::SubjectName => self.subject_name = Some(value.to_owned()),
            El::SubjectVersion => self.subject_version = Some(value.to_owned()),
            El::SubjectHash { sha256: true } => {
                let digest = Digest::parse(value).map_err(|e| self.error(open.at, e))?;
                self.subject.digest(digest);
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(mut self) -> Result<SbomReport, ParseError> {
        if let Some(open) = self.stack.last() {
            return Err(self.error(open.at, "the document ends before this element is closed"));
        }
        let Some(namespace) = self.namespace.take() else {
            return Err(ParseError::document("the XML has no root element; expected a CycloneDX <bom>"));
        };
        let version = namespace.strip_prefix(CYCLONEDX_NAMESPACE).unwrap_or(&namespace);
        let name = self.subject_name.take();
        let version_of_subject = self.subject_version.take();
        self.subject.name(name.as_deref(), version_of_subject.as_deref());
        Ok(report(format!("CycloneDX {version} XML"), self.subject, self.counts))
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(bytes: &[u8], offset: u64) -> (u64, u64) {
    let end = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    let before = bytes.get(..end).unwrap_or(bytes);
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let column = before.get(line_start..).unwrap_or_default().iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64 + 1;
    (line, column)
}
