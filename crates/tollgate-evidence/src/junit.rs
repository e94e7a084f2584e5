//! JUnit XML test reports, read as a stream in constant memory.
//!
//! Reads what the common runners write (Maven Surefire, Gradle, pytest, jest-junit, mocha,
//! go-junit-report, nextest, Catch2, CUnit, xunit-style tools, Ant): the root is `<testsuites>`
//! or a single `<testsuite>`, suites may nest, and every suite that directly holds `<testcase>`s
//! is listed under its path of names, `outer > inner` (unnamed suites add nothing to the path),
//! in the order of its first test case.
//!
//! Rules:
//! - Counts come from the `<testcase>` elements, never from the suites' `tests`/`failures`
//!   attributes. A test case counts once, as the first `<failure>` or `<error>` among its
//!   children says (several failures are one failed test); otherwise as skipped when it has a
//!   `<skipped>` child or a `status`/`result` attribute saying it did not run (`notrun`,
//!   `disabled`, `suppressed`, ...); otherwise as passed.
//! - Surefire reruns: `<flakyFailure>`/`<flakyError>` mean the test passed on a rerun, so they do
//!   not fail it; `<rerunFailure>`/`<rerunError>` accompany a `<failure>`/`<error>` when every
//!   rerun failed, and alone (which Surefire never writes) they still count as a failure/error.
//! - The failed list keeps the first `TestReport::MAX_LISTED`; the totals stay exact. A message is
//!   the first non-blank line of the `message` attribute or, failing that, of the element's text.
//! - Memory does not grow with the file: text (system-out, stack traces, CDATA, comments) is
//!   scanned and dropped as it streams, one tag is at most [`MAX_TAG_BYTES`], elements nest at
//!   most [`MAX_DEPTH`] deep and suites [`MAX_SUITE_DEPTH`] deep, at most [`MAX_SUITES`] suites
//!   are listed by name (the rest are counted together in a last `(N more suites)` entry), and
//!   names are cut to a display length.
//! - Tags, text, CDATA and comments are scanned here, in place in the input buffer (quick-xml
//!   would copy each tag and hold each whole text node in memory), by quick-xml's rules: a tag
//!   ends at the first `>` outside quotes and must be UTF-8, end tags must match their start
//!   tags, and errors read as quick-xml's. quick-xml itself reads the rare XML declaration,
//!   DOCTYPE and processing instructions.
//! - Every attribute of every element is checked (syntax, duplicates, entities), not only those
//!   counted. For speed, plain tags (printable ASCII, double or single quotes, spaces) are read a
//!   word at a time in one pass; anything else, and anything wrong, goes to the general reader,
//!   so both give the same result and the same error.
//! - Only UTF-8. Entities are XML's five predefined ones and character references; a DTD is
//!   skipped and never expanded, so any other entity is refused. Malformed XML, a second root,
//!   or a root other than `<testsuites>`/`<testsuite>` is an error with its line and column
//!   (columns count bytes).

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use quick_xml::Reader;
use quick_xml::errors::{IllFormedError, SyntaxError};
use quick_xml::events::{BytesDecl, Event};
use tollgate_domain::evidence::{FailedTest, SuiteCounts, TestCounts, TestReport};

use crate::error::{Location, ParseError};

/// Elements (of any kind) nest at most this deep.
pub const MAX_DEPTH: usize = 256;
/// `<testsuite>`s nest at most this deep.
pub const MAX_SUITE_DEPTH: usize = 64;
/// The longest single tag (with its attributes), processing instruction or DOCTYPE.
pub const MAX_TAG_BYTES: u64 = 4 * 1024 * 1024;
/// The most suites a report lists by name; test cases of further suites are counted in one
/// last entry, `(N more suites)`.
pub const MAX_SUITES: usize = 10_000;

const MAX_NAME_CHARS: usize = 500;
const MAX_PATH_CHARS: usize = 1_000;
const MAX_MESSAGE_CHARS: usize = 200;
/// Enough bytes for `MAX_MESSAGE_CHARS` characters of any width, plus one.
const MAX_CAPTURE_BYTES: usize = MAX_MESSAGE_CHARS * 4 + 4;
/// `&#x0010FFFF;` with room for leading zeros; longer references are refused.
const MAX_REFERENCE_BYTES: usize = 32;
const CHUNK_BYTES: usize = 64 * 1024;

/// Reads a JUnit XML report. The reader is consumed to its end (or to the first error).
pub fn parse<R: BufRead>(reader: R) -> Result<TestReport, ParseError> {
    let mut src = Source::new(reader);
    src.skip_bom()?;
    let mut state = State::new();
    let mut tags = Tags::default();
    loop {
        // Between tags there is mostly indentation alone: go straight to the next tag.
        if state.in_plain_content() {
            let head = src.buffered();
            let indent = indentation(head);
            if let Some([b'<', next]) = head.get(indent..indent + 2)
                && !matches!(next, b'!' | b'?')
            {
                src.advance(indent);
                tags.read(&mut src, &mut state)?;
                continue;
            }
        }
        state.skip_text(&mut src)?;
        // `skip_text` stops at a `<` with a few bytes of look-ahead, or at the end.
        match src.buffered() {
            [] => return state.finish(&mut src),
            [_, b'!' | b'?', ..] => read_declaration(&mut src, &mut state)?,
            _ => tags.read(&mut src, &mut state)?,
        }
    }
}

/// Reads the XML declaration, a DOCTYPE or a processing instruction with quick-xml: they are
/// rare, and quick-xml knows their grammar (the DTD's internal subset in particular).
fn read_declaration<R: BufRead>(src: &mut Source<R>, state: &mut State) -> Result<(), ParseError> {
    let at_start = src.at_body_start();
    src.start_markup();
    let mut buf = Vec::new();
    let event = Reader::from_reader(&mut *src).read_event_into(&mut buf);
    src.end_markup();
    match event {
        Err(e) => Err(xml_error(&e, src)),
        Ok(Event::Decl(decl)) => check_declaration(&decl, src, at_start),
        Ok(Event::DocType(_)) if state.root != Root::Before => {
            Err(src.mark_position().error("a DOCTYPE may only come before the root element"))
        }
        // The markup starts with `<!` or `<?`, so it is none of the others.
        Ok(_) => Ok(()),
    }
}

/// Start and end tags, read here rather than by quick-xml: in place in the input buffer when
/// the tag lies in it whole (almost always), else gathered in `scratch`. Reads what quick-xml
/// read, the same way: a tag ends at the first `>` outside quotes, must be UTF-8, and its name
/// runs to the first whitespace.
#[derive(Debug, Default)]
struct Tags {
    /// The names of the open elements, end to end, and where each starts, so that end tags
    /// can be checked against them.
    names: Vec<u8>,
    starts: Vec<usize>,
    scratch: Vec<u8>,
    gaps: Gaps,
}

impl Tags {
    /// Reads the tag at `<`.
    fn read<R: BufRead>(&mut self, src: &mut Source<R>, state: &mut State) -> Result<(), ParseError> {
        src.set_mark();
        src.advance(1);
        let offset = src.offset;
        let available = src.available().map_err(|e| io_error(&e, offset))?;
        if available.is_empty() {
            return Err(malformed(src, &quick_xml::Error::Syntax(SyntaxError::UnclosedTag)));
        }
        match self.quick(available, state) {
            Some(Ok(n)) => {
                src.advance(n);
                return Ok(());
            }
            Some(Err(message)) => return Err(src.mark_position().error(message)),
            None => {}
        }
        let mut quote = None;
        if let Some(i) = tag_end(&mut quote, available) {
            let result = self.tag(available.get(..=i).unwrap_or_default(), state);
            src.advance(i + 1);
            return result.map_err(|message| src.mark_position().error(message));
        }
        // The tag runs past the buffer: gather it, a buffer at a time, up to the limit.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(available);
        let mut n = available.len();
        loop {
            src.advance(n);
            if src.offset > src.mark + MAX_TAG_BYTES {
                return Err(src.mark_position().error(too_long()));
            }
            let offset = src.offset;
            let available = src.available().map_err(|e| io_error(&e, offset))?;
            if available.is_empty() {
                let error = match quote {
                    None => SyntaxError::UnclosedTag,
                    Some(b'\'') => SyntaxError::UnclosedSingleQuotedAttributeValue,
                    Some(_) => SyntaxError::UnclosedDoubleQuotedAttributeValue,
                };
                return Err(malformed(src, &quick_xml::Error::Syntax(error)));
            }
            match tag_end(&mut quote, available) {
                Some(i) => {
                    scratch.extend_from_slice(available.get(..=i).unwrap_or_default());
                    src.advance(i + 1);
                    break;
                }
                None => {
                    scratch.extend_from_slice(available);
                    n = available.len();
                }
            }
        }
        let result = self.tag(&scratch, state);
        self.scratch = scratch;
        result.map_err(|message| src.mark_position().error(message))
    }

    /// The common tags, read in one pass from after the `<`: a start tag whose name and
    /// attributes are plain, or `</name>` closing the innermost element. `None` leaves the tag
    /// to `tag`, which reads any tag (and reports what is wrong with it): whatever this accepts,
    /// `tag` would accept and read the same way. Returns the length read.
    fn quick(&mut self, bytes: &[u8], state: &mut State) -> Option<Result<usize, String>> {
        if let Some(rest) = bytes.strip_prefix(b"/") {
            let start = *self.starts.last()?;
            let expected = self.names.get(start..)?;
            let n = expected.len();
            // A quote in the name would make `>` end the tag elsewhere.
            let quoted = || expected.iter().any(|&b| b == b'"' || b == b'\'');
            if rest.get(..n)? != expected || rest.get(n) != Some(&b'>') || quoted() {
                return None;
            }
            self.starts.pop();
            self.names.truncate(start);
            state.end_element();
            return Some(Ok(n + 2));
        }
        let mut attrs = Attrs::default();
        let tag = StartTag::read(bytes, &mut self.gaps, &mut attrs)?;
        if let Err(message) = state.check_depth() {
            return Some(Err(message));
        }
        if !tag.empty {
            self.starts.push(self.names.len());
            self.names.extend_from_slice(tag.name);
        }
        if let Err(message) = state.open_element(tag.name, &attrs) {
            return Some(Err(message));
        }
        if tag.empty {
            state.end_element();
        }
        Some(Ok(tag.len))
    }

    /// Handles one tag, given from after its `<` to its `>`; an error is about the tag as a whole.
    fn tag(&mut self, tag: &[u8], state: &mut State) -> Result<(), String> {
        let tag = match std::str::from_utf8(tag) {
            Ok(tag) => tag,
            Err(_) => return Err(utf8_error(tag)),
        };
        let inner = tag.strip_suffix('>').unwrap_or(tag);
        if let Some(content) = inner.strip_prefix('/') {
            // XML allows whitespace after the name in an end tag.
            let name = match content.bytes().rposition(|b| !is_xml_space(b)) {
                Some(last) => content.get(..=last).unwrap_or_default(),
                None => content,
            };
            let Some(start) = self.starts.pop() else {
                let error = IllFormedError::UnmatchedEndTag(name.to_owned());
                return Err(malformed_message(&quick_xml::Error::IllFormed(error)));
            };
            let expected = self.names.get(start..).unwrap_or_default();
            if name.as_bytes() != expected {
                let expected = String::from_utf8_lossy(expected).into_owned();
                let error = IllFormedError::MismatchedEndTag { expected, found: name.to_owned() };
                return Err(malformed_message(&quick_xml::Error::IllFormed(error)));
            }
            self.names.truncate(start);
            state.end_element();
            return Ok(());
        }
        let (content, empty) = match tag.strip_suffix("/>") {
            Some(content) => (content, true),
            None => (inner, false),
        };
        let name_len = content.bytes().position(is_xml_space).unwrap_or(content.len());
        let (name, attributes) = content.split_at_checked(name_len).unwrap_or((content, ""));
        if !empty {
            self.starts.push(self.names.len());
            self.names.extend_from_slice(name.as_bytes());
        }
        state.start_element(name, attributes)?;
        if empty {
            state.end_element();
        }
        Ok(())
    }
}

/// A start tag read by `Tags::quick`.
struct StartTag<'a> {
    /// From after the `<` to the `>`.
    len: usize,
    name: &'a [u8],
    empty: bool,
}

impl<'a> StartTag<'a> {
    /// Reads a start tag from after its `<`, when it lies whole in `b` and is plain: an ASCII
    /// name; attributes that `Attrs::read` accepts, with ASCII names; nothing unusual. A quote,
    /// `&` or non-ASCII byte outside a value, or anything `Attrs::read` would refuse, gives
    /// `None`. So the tag ends where quick-xml's rule ends it (quotes only open and close values,
    /// `>` outside them ends the tag), it is UTF-8 when its values are, and the attributes read
    /// the same.
    fn read(b: &'a [u8], gaps: &mut Gaps, attrs: &mut Attrs<'a>) -> Option<StartTag<'a>> {
        // Most tags hold nothing but printable ASCII without `&` up to their first `>`.
        let first_gt = memchr::memchr(b'>', b)?;
        let head = b.get(..first_gt)?;
        let printable = !head.iter().fold(false, |odd, &c| odd | (c <= b'\r') | (c == b'&') | (c >= 0x80));
        if printable && let Some(tag) = StartTag::read_printable(b, first_gt, gaps, attrs) {
            return Some(tag);
        }
        *attrs = Attrs::default();
        StartTag::read_any(b, attrs)
    }

    /// `read` for any tag, byte by byte.
    fn read_any(b: &'a [u8], attrs: &mut Attrs<'a>) -> Option<StartTag<'a>> {
        let mut i = b.iter().position(|&c| class(c) & (NAME_END | NOT_PLAIN) != 0)?;
        if class(*b.get(i)?) & NOT_PLAIN != 0 {
            return None;
        }
        let name = b.get(..i)?;
        let mut seen = Seen::default();
        loop {
            i += whitespace(b.get(i..)?);
            match b.get(i..)? {
                [b'>', ..] => return Some(StartTag { len: i + 1, name, empty: false }),
                [b'/', b'>', ..] => return Some(StartTag { len: i + 2, name, empty: true }),
                _ => {}
            }
            let key_start = i;
            i += b.get(i..)?.iter().position(|&c| class(c) & (KEY_END | NOT_KEY) != 0)?;
            if i == key_start || class(*b.get(i)?) & NOT_KEY != 0 {
                return None;
            }
            let key = b.get(key_start..i)?;
            i += whitespace(b.get(i..)?);
            if b.get(i) != Some(&b'=') {
                return None;
            }
            i += 1;
            i += whitespace(b.get(i..)?);
            let quote = *b.get(i)?;
            if quote != b'"' && quote != b'\'' {
                return None;
            }
            let value_start = i + 1;
            let rest = b.get(value_start..)?;
            // Most values hold nothing but plain ASCII up to their closing quote.
            let mut len = rest.iter().position(|&c| c == quote || class(c) & VALUE_STOP != 0)?;
            let mut special = false;
            if rest.get(len) != Some(&quote) {
                len = memchr::memchr(quote, rest)?;
                let value = rest.get(..len)?;
                if !value.is_ascii() && std::str::from_utf8(value).is_err() {
                    return None;
                }
                special = value.iter().any(|&c| matches!(c, b'&' | b'\t' | b'\n' | b'\r'));
            }
            let value = rest.get(..len)?;
            i = value_start + len + 1;
            // After a value: whitespace, or the end of the tag (checked above next time round).
            if !matches!(b.get(i)?, b'>' | b'/') && !b.get(i)?.is_ascii_whitespace() {
                return None;
            }
            if !seen.insert(key) {
                return None;
            }
            let slot = match kept(key) {
                KEPT_NONE => {
                    if special {
                        check_references(value).ok()?;
                    }
                    continue;
                }
                kept => attrs.0.get_mut(kept)?,
            };
            *slot = Some(if special {
                let value = std::str::from_utf8(value).ok()?;
                Cow::Owned(attribute_value(value).ok()?.into_bytes())
            } else {
                Cow::Borrowed(value)
            });
        }
    }

    /// `read` for a tag whose bytes up to the first `>` (at `first_gt`) are printable ASCII
    /// other than `&`, a word (8 bytes) at a time: whitespace there is spaces, values need no
    /// decoding, and a gap before a value read before (` name="`) is taken from `gaps`. Anything
    /// else gives `None`, for `read_any`: a value holding `>`, a name or attribute name holding
    /// a quote, `<`, `/` or `>`, a tag near the end of the buffer.
    fn read_printable(b: &'a [u8], first_gt: usize, gaps: &mut Gaps, attrs: &mut Attrs<'a>) -> Option<StartTag<'a>> {
        let n = stop(b, |w| eq(w, b' ') | eq(w, b'/') | eq(w, b'>') | eq(w, b'"') | eq(w, b'\''))?;
        let (name, mut rest) = b.split_at_checked(n)?;
        // The attribute names so far, as a bit of a hash in each of two sets; a name whose bits
        // are set already (rarely, one not seen) is left to `read_any`.
        let mut seen = (0, 0);
        loop {
            // After the name or a value: the end of the tag, or spaces and an attribute.
            match rest {
                [b'>', ..] => return Some(StartTag { len: b.len() - rest.len() + 1, name, empty: false }),
                [b'/', b'>', ..] => return Some(StartTag { len: b.len() - rest.len() + 2, name, empty: true }),
                _ => {}
            }
            let (gap, tail) = match gaps.find(rest) {
                Some(gap) => (gap, rest.get(gap.len..)?),
                None => {
                    let gap_start = rest;
                    rest = match rest {
                        [b' ', tail @ ..] => spaces(tail),
                        _ => return None,
                    };
                    match rest {
                        [b'>', ..] => return Some(StartTag { len: b.len() - rest.len() + 1, name, empty: false }),
                        [b'/', b'>', ..] => {
                            return Some(StartTag { len: b.len() - rest.len() + 2, name, empty: true });
                        }
                        _ => {}
                    }
                    let word: [u8; 8] = rest.get(..8)?.try_into().ok()?;
                    let n = stop(rest, |w| {
                        eq(w, b'=') | eq(w, b' ') | eq(w, b'"') | eq(w, b'\'') | eq(w, b'<') | eq(w, b'>') | eq(w, b'/')
                    })?;
                    let (key, tail) = rest.split_at_checked(n)?;
                    rest = spaces(tail);
                    rest = match rest {
                        [b'=', tail @ ..] if !key.is_empty() => spaces(tail),
                        _ => return None,
                    };
                    let tail = match rest {
                        [b'"' | b'\'', tail @ ..] => tail,
                        _ => return None,
                    };
                    let gap = gap_start.get(..gap_start.len() - tail.len())?;
                    (gaps.insert(gap, key, u64::from_le_bytes(word)), tail)
                }
            };
            let n = find_byte(tail, gap.quote)?;
            let (value, tail) = tail.split_at_checked(n)?;
            // A value holding `>` reaches past what was checked to be printable.
            if b.len() - tail.len() > first_gt {
                return None;
            }
            rest = tail.get(1..)?;
            if seen.0 & gap.bits.0 != 0 && seen.1 & gap.bits.1 != 0 {
                return None;
            }
            seen = (seen.0 | gap.bits.0, seen.1 | gap.bits.1);
            // Stored without a branch on which attribute it is: the predictor would not learn it.
            if let Some(slot) = attrs.0.get_mut(gap.kept) {
                *slot = Some(Cow::Borrowed(value));
            }
        }
    }
}

/// The gaps before attribute values in plain tags (` name="`: from after the element name or
/// the previous value to the opening quote), remembered once read: a report repeats the same
/// few, and a gap read before needs no second look. Indexed by a hash of their first 4 bytes
/// (no gap is shorter); each slot holds the last gap read there.
#[derive(Debug)]
struct Gaps(Vec<Gap>);

#[derive(Clone, Copy, Debug, Default)]
struct Gap {
    /// The gap's bytes, little-endian, how many (4 to 16, or 0 for an empty slot), and a mask
    /// of that many bytes.
    bytes: u128,
    len: usize,
    mask: u128,
    quote: u8,
    /// Which of `Attrs` the attribute fills (`KEPT_*`), and its bits in `read_printable`'s set
    /// of names.
    kept: usize,
    bits: (u64, u64),
}

impl Default for Gaps {
    fn default() -> Gaps {
        Gaps(vec![Gap::default(); 64])
    }
}

impl Gaps {
    fn slot(first4: u128) -> usize {
        ((first4 as u32).wrapping_mul(0x9E37_79B1) >> 26) as usize
    }

    /// The gap `rest` starts with, if read before.
    fn find(&self, rest: &[u8]) -> Option<Gap> {
        let bytes = u128::from_le_bytes(rest.get(..16)?.try_into().ok()?);
        let gap = *self.0.get(Gaps::slot(bytes))?;
        (gap.len != 0 && bytes & gap.mask == gap.bytes).then_some(gap)
    }

    /// Describes a gap just read (ending with the quote that opens the value, `key` the
    /// attribute name and `word` the 8 bytes from its start), remembering it if short enough.
    fn insert(&mut self, gap: &[u8], key: &[u8], word: u64) -> Gap {
        // The name's first 8 bytes as a word tell most names apart.
        let word = word & (u64::MAX >> (8 * 8usize.saturating_sub(key.len())));
        let hash = (word ^ key.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut bytes = [0; 16];
        for (to, from) in bytes.iter_mut().zip(gap) {
            *to = *from;
        }
        let bytes = u128::from_le_bytes(bytes);
        let quote = gap.last().copied().unwrap_or_default();
        let mask = u128::MAX >> (128 - 8 * gap.len().clamp(1, 16));
        let bits = (1 << (hash >> 58), 1 << ((hash >> 52) & 63));
        let read = Gap { bytes, len: gap.len(), mask, quote, kept: kept(key), bits };
        if (4..=16).contains(&gap.len())
            && let Some(slot) = self.0.get_mut(Gaps::slot(bytes))
        {
            *slot = read;
        }
        read
    }
}

/// Skips spaces: rarely more than one.
fn spaces(rest: &[u8]) -> &[u8] {
    match rest {
        [b' ', b' ', ..] => {
            let n = rest.iter().take_while(|&&c| c == b' ').count();
            rest.get(n..).unwrap_or_default()
        }
        [b' ', tail @ ..] => tail,
        _ => rest,
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// In a little-endian word, the top bit of each byte equal to `b`: exact up to the first such
/// byte, which is all `stop` looks at.
fn eq(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// How many bytes of XML whitespace `b` starts with: a word at a time for the usual few.
#[inline]
fn indentation(b: &[u8]) -> usize {
    if let Some(word) = b.get(..8).and_then(|word| <[u8; 8]>::try_from(word).ok()) {
        let w = u64::from_le_bytes(word);
        let space = exactly(w, b' ') | exactly(w, b'\n') | exactly(w, b'\t') | exactly(w, b'\r');
        let other = !space & (ONES << 7);
        if other != 0 {
            return (other.trailing_zeros() / 8) as usize;
        }
    }
    b.iter().take_while(|&&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n')).count()
}

/// In a little-endian word, the top bit of each byte equal to `b`, for every byte.
fn exactly(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    let low = ONES * 0x7F;
    !(((x & low) + low) | x) & (ONES << 7)
}

/// The index of the first `byte`, reading 32 bytes at a time without a branch per word (values
/// are mostly shorter), then a word at a time near the end of `b`.
fn find_byte(b: &[u8], byte: u8) -> Option<usize> {
    let mut blocks = b.chunks_exact(32);
    let mut at = 0;
    for block in blocks.by_ref() {
        let word = |k: usize| Some(eq(u64::from_le_bytes(block.get(k * 8..k * 8 + 8)?.try_into().ok()?), byte));
        let marks = [word(0)?, word(1)?, word(2)?, word(3)?];
        // Words do not borrow from each other: the first marked word holds the first `byte`.
        let found = u32::from(marks[0] != 0)
            | u32::from(marks[1] != 0) << 1
            | u32::from(marks[2] != 0) << 2
            | u32::from(marks[3] != 0) << 3;
        if found != 0 {
            let k = found.trailing_zeros() as usize;
            let mark = marks[k & 3];
            return Some(at + k * 8 + (mark.trailing_zeros() / 8) as usize);
        }
        at += 32;
    }
    Some(at + stop(blocks.remainder(), |w| eq(w, byte))?)
}

/// The index of the first byte that `found` marks, reading a word at a time; `None` when the
/// bytes end first (or within a word of it).
fn stop(b: &[u8], found: impl Fn(u64) -> u64) -> Option<usize> {
    for (k, word) in b.chunks_exact(8).enumerate() {
        let marks = found(u64::from_le_bytes(word.try_into().ok()?));
        if marks != 0 {
            return Some(k * 8 + (marks.trailing_zeros() / 8) as usize);
        }
    }
    None
}

/// Byte classes for `StartTag::read`: the end of an element name (XML whitespace, `>`, `/`)...
const NAME_END: u8 = 1;
/// ...and what a plain name may not hold (quotes, non-ASCII);
const NOT_PLAIN: u8 = 2;
/// the end of an attribute name (ASCII whitespace, `=`)...
const KEY_END: u8 = 4;
/// ...and what it may not hold, or holds only outside the quick path;
const NOT_KEY: u8 = 8;
/// what stops the quick scan of a value: `&`, control bytes up to `\r`, non-ASCII.
const VALUE_STOP: u8 = 16;

static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut class = 0;
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/') {
            class |= NAME_END;
        }
        if matches!(b, b'"' | b'\'') || !b.is_ascii() {
            class |= NOT_PLAIN;
        }
        if b.is_ascii_whitespace() || b == b'=' {
            class |= KEY_END;
        }
        if matches!(b, b'"' | b'\'' | b'<' | b'>' | b'&' | b'/') || !b.is_ascii() {
            class |= NOT_KEY;
        }
        if b == b'&' || b <= b'\r' || !b.is_ascii() {
            class |= VALUE_STOP;
        }
        table[i] = class;
        i += 1;
    }
    table
}

fn class(b: u8) -> u8 {
    CLASSES[usize::from(b)]
}

/// XML's whitespace.
fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The index of the `>` that ends a tag, not counting any inside a quoted value; `quote` holds
/// the open quote from one piece of a tag to the next.
fn tag_end(quote: &mut Option<u8>, bytes: &[u8]) -> Option<usize> {
    for i in memchr::memchr3_iter(b'>', b'\'', b'"', bytes) {
        let b = bytes.get(i).copied();
        match (*quote, b) {
            (None, Some(b'>')) => return Some(i),
            (None, b) => *quote = b,
            (Some(q), Some(b)) if q == b => *quote = None,
            _ => {}
        }
    }
    None
}

fn too_long() -> String {
    format!("a tag longer than {MAX_TAG_BYTES} bytes; JUnit tags are far shorter")
}

fn malformed_message(error: &quick_xml::Error) -> String {
    format!("malformed XML: {error}")
}

fn malformed<R: BufRead>(src: &mut Source<R>, error: &quick_xml::Error) -> ParseError {
    src.mark_position().error(malformed_message(error))
}

/// The error quick-xml gave for a tag that is not UTF-8 (its offsets count the `<`).
fn utf8_error(tag: &[u8]) -> String {
    let mut whole = Vec::with_capacity(tag.len() + 1);
    whole.push(b'<');
    whole.extend_from_slice(tag);
    match std::str::from_utf8(&whole) {
        Err(e) => malformed_message(&quick_xml::Error::from(e)),
        Ok(_) => "malformed XML: the tag is not UTF-8".to_owned(),
    }
}

/// A 1-based line and byte column.
#[derive(Clone, Copy, Debug)]
struct Pos {
    line: u64,
    column: u64,
}

impl Pos {
    fn error(self, message: impl Into<String>) -> ParseError {
        ParseError::at_line(self.line, self.column, message)
    }
}

fn xml_error<R: BufRead>(error: &quick_xml::Error, source: &mut Source<R>) -> ParseError {
    let at = source.mark_position();
    if source.over_limit {
        return at.error(too_long());
    }
    match error {
        quick_xml::Error::Io(e) => io_error(e, source.offset),
        other => at.error(malformed_message(other)),
    }
}

fn io_error(error: &io::Error, offset: u64) -> ParseError {
    ParseError { location: Location::Offset(offset), message: format!("could not read the report: {error}") }
}

fn check_declaration<R: BufRead>(decl: &BytesDecl, src: &mut Source<R>, at_start: bool) -> Result<(), ParseError> {
    let at = src.mark_position();
    if !at_start {
        return Err(at.error("the XML declaration must be the very first thing in the document"));
    }
    let version = decl.version().map_err(|e| at.error(format!("malformed XML declaration: {e}")))?;
    if !matches!(version.as_ref(), "1.0" | "1.1") {
        return Err(at.error(format!("XML version `{version}` is not supported; expected 1.0 or 1.1")));
    }
    if let Some(encoding) = decl.encoding() {
        let encoding = encoding.map_err(|e| at.error(format!("malformed XML declaration: {e}")))?;
        if !["utf-8", "utf8", "us-ascii", "ascii"].iter().any(|e| encoding.eq_ignore_ascii_case(e)) {
            return Err(at.error(format!("the report declares encoding `{encoding}`; only UTF-8 is read")));
        }
    }
    Ok(())
}

/// The input, with a buffer Tollgate controls so that it can look a few bytes ahead across
/// reads, count lines as bytes go by, and cap how much one tag may take.
struct Source<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Bytes consumed so far: the offset of `buf[start]`.
    offset: u64,
    body_start: u64,
    /// Lines are counted lazily, a buffer at a time: `line` and `line_start` (an offset) hold
    /// at `buf[counted]`.
    counted: usize,
    line: u64,
    line_start: u64,
    /// Where the tag, comment or CDATA section being read starts, and its position once known
    /// (worked out before the bytes leave the buffer).
    mark: u64,
    mark_pos: Option<Pos>,
    /// While quick-xml reads markup: the offset past which reading fails.
    limit: Option<u64>,
    over_limit: bool,
}

impl<R: BufRead> Source<R> {
    fn new(inner: R) -> Source<R> {
        Source {
            inner,
            buf: vec![0; CHUNK_BYTES],
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
            body_start: 0,
            counted: 0,
            line: 1,
            line_start: 0,
            mark: 0,
            mark_pos: None,
            limit: None,
            over_limit: false,
        }
    }

    /// The offset of `buf[0]`.
    fn base(&self) -> u64 {
        self.offset - self.start as u64
    }

    fn count_to(&mut self, index: usize) {
        let Some(bytes) = self.buf.get(self.counted..index) else { return };
        if let Some(last) = memchr::memrchr(b'\n', bytes) {
            self.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
            self.line_start = self.base() + (self.counted + last) as u64 + 1;
        }
        self.counted = index;
    }

    fn counted_position(&self) -> Pos {
        let at = self.base() + self.counted as u64;
        Pos { line: self.line, column: at.saturating_sub(self.line_start) + 1 }
    }

    /// The position of the next unread byte.
    fn position(&mut self) -> Pos {
        self.count_to(self.start);
        self.counted_position()
    }

    /// The position where the current tag starts.
    fn mark_position(&mut self) -> Pos {
        if let Some(pos) = self.mark_pos {
            return pos;
        }
        let base = self.base();
        match usize::try_from(self.mark.saturating_sub(base)) {
            Ok(index) if self.mark >= base && index >= self.counted && index <= self.start => {
                self.count_to(index);
                self.counted_position()
            }
            _ => self.position(),
        }
    }

    /// What the buffer holds, without reading.
    fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    fn at_body_start(&self) -> bool {
        self.offset == self.body_start
    }

    fn skip_bom(&mut self) -> Result<(), ParseError> {
        let head = self.ensure(3).map_err(|e| io_error(&e, 0))?;
        if head.starts_with(&[0xFE, 0xFF]) || head.starts_with(&[0xFF, 0xFE]) {
            return Err(ParseError::document("the report is UTF-16 encoded; only UTF-8 is read"));
        }
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.advance(3);
            // Columns count from after the byte order mark.
            self.counted = self.start;
            self.line_start = 3;
            self.body_start = 3;
        }
        Ok(())
    }

    /// Remembers where a tag, comment or CDATA section starts, for errors about it.
    fn set_mark(&mut self) {
        self.mark = self.offset;
        self.mark_pos = None;
    }

    /// quick-xml is about to read markup here: remember where, and cap its length.
    fn start_markup(&mut self) {
        self.set_mark();
        self.limit = Some(self.offset + MAX_TAG_BYTES);
    }

    fn end_markup(&mut self) {
        self.limit = None;
    }

    fn read_more(&mut self) -> io::Result<()> {
        if self.start > 0 {
            // The consumed bytes are about to go: count their lines, noting the mark's
            // position on the way if it is among them.
            let base = self.base();
            if self.mark_pos.is_none() && self.mark >= base + self.counted as u64 && self.mark < self.offset {
                self.count_to((self.mark - base) as usize);
                self.mark_pos = Some(self.counted_position());
            }
            self.count_to(self.start);
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.counted = 0;
        }
        let Some(space) = self.buf.get_mut(self.end..) else { return Ok(()) };
        if space.is_empty() {
            return Ok(());
        }
        loop {
            match self.inner.read(space) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn available(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end && !self.eof {
            self.read_more()?;
        }
        Ok(self.buf.get(self.start..self.end).unwrap_or_default())
    }

    /// At least `n` bytes (`n` is a few bytes of look-ahead), unless the input ends first.
    fn ensure(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.start < n && !self.eof {
            let had = self.end - self.start;
            self.read_more()?;
            // A full buffer cannot grow: stop rather than spin.
            if self.end - self.start == had && !self.eof {
                break;
            }
        }
        Ok(self.buf.get(self.start..self.end).unwrap_or_default())
    }

    fn advance(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.offset += n as u64;
        self.start += n;
    }
}

impl<R: BufRead> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.limit.is_some_and(|limit| self.offset > limit) {
            self.over_limit = true;
            return Err(io::Error::other(format!("a tag longer than {MAX_TAG_BYTES} bytes")));
        }
        self.available()
    }

    fn consume(&mut self, n: usize) {
        self.advance(n);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Suites,
    Suite,
    Case,
    /// `<failure>`, `<error>`, `<skipped>` and the Surefire rerun elements directly in a test case.
    Outcome,
    Other,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Suites => "<testsuites>",
            Kind::Suite => "<testsuite>",
            Kind::Case => "<testcase>",
            Kind::Outcome | Kind::Other => "an element",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Root {
    #[default]
    Before,
    Inside,
    After,
}

/// A `<testsuites>` or `<testsuite>` element being read.
#[derive(Debug)]
struct Frame {
    /// The length of the suite path before this suite's name was added.
    path_len: usize,
    /// This suite's entry in `TestReport::suites`, once it has held a test case.
    index: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
struct Outcome {
    error: bool,
    /// Decided by a `<rerunFailure>`/`<rerunError>` alone; a later `<failure>`/`<error>` wins.
    rerun: bool,
}

/// The test case being read. Its strings are reused from case to case.
#[derive(Debug, Default)]
struct Case {
    suite: usize,
    outcome: Option<Outcome>,
    skipped: bool,
    name: String,
    message: String,
}

/// The first non-blank line of an element's text, kept while the text streams past.
#[derive(Debug, Default)]
struct Capture {
    bytes: Vec<u8>,
    done: bool,
}

impl Capture {
    fn reset(&mut self) {
        self.bytes.clear();
        self.done = false;
    }

    fn feed(&mut self, text: &[u8]) {
        if self.done {
            return;
        }
        let mut text = if self.bytes.is_empty() { text.trim_ascii_start() } else { text };
        if let Some(eol) = memchr::memchr2(b'\n', b'\r', text) {
            text = text.get(..eol).unwrap_or_default();
            self.done = true;
        }
        let room = MAX_CAPTURE_BYTES - self.bytes.len();
        if text.len() >= room {
            text = text.get(..room).unwrap_or_default();
            self.done = true;
        }
        self.bytes.extend_from_slice(text);
    }

    fn feed_char(&mut self, c: char) {
        self.feed(c.encode_utf8(&mut [0; 4]).as_bytes());
    }

    fn message(&self) -> String {
        truncated(String::from_utf8_lossy(&self.bytes).trim(), MAX_MESSAGE_CHARS)
    }
}

#[derive(Debug)]
struct State {
    root: Root,
    stack: Vec<Kind>,
    frames: Vec<Frame>,
    suite_depth: usize,
    path: String,
    case: Case,
    capture: Capture,
    /// The stack depth of the element whose text is being captured.
    capture_depth: Option<usize>,
    /// Suites past `MAX_SUITES`, counted together in the last entry.
    more_suites: u64,
    report: TestReport,
}

impl State {
    fn new() -> State {
        State {
            root: Root::Before,
            stack: Vec::new(),
            frames: Vec::new(),
            suite_depth: 0,
            path: String::new(),
            case: Case::default(),
            capture: Capture::default(),
            capture_depth: None,
            more_suites: 0,
            report: TestReport { suites: Vec::new(), totals: TestCounts::default(), failed: Vec::new() },
        }
    }

    /// Consumes text, CDATA sections, comments and references up to the next tag (or the end),
    /// keeping only what a capture needs.
    fn skip_text<R: BufRead>(&mut self, src: &mut Source<R>) -> Result<(), ParseError> {
        let outside = self.stack.is_empty();
        loop {
            let offset = src.offset;
            let available = src.available().map_err(|e| io_error(&e, offset))?;
            // Text before `from` has been fed; references that lie whole in the buffer are
            // read in place.
            let mut from = 0;
            let stop = if outside {
                available.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            } else {
                loop {
                    let rest = available.get(from..).unwrap_or_default();
                    let Some(i) = memchr::memchr2(b'<', b'&', rest) else { break None };
                    let tail = rest.get(i..).unwrap_or_default();
                    match tail {
                        [b'&', ..] => match decode_reference(tail) {
                            Ok((c, len)) => {
                                if self.capture_depth.is_some() {
                                    self.capture.feed(rest.get(..i).unwrap_or_default());
                                    self.capture.feed_char(c);
                                }
                                from += i + len;
                            }
                            // Perhaps cut short by the end of the buffer: read below.
                            Err(_) => break Some(from + i),
                        },
                        _ => break Some(from + i),
                    }
                }
            };
            let Some(stop) = stop else {
                let n = available.len();
                if n == 0 {
                    return Ok(());
                }
                self.feed(available.get(from..).unwrap_or_default());
                src.advance(n);
                continue;
            };
            let byte = available.get(stop).copied();
            self.feed(available.get(from..stop).unwrap_or_default());
            src.advance(stop);
            match byte {
                Some(b'<') => {
                    if !self.skip_bang(src, outside)? {
                        return Ok(());
                    }
                }
                Some(b'&') if !outside => {
                    let c = reference(src)?;
                    self.feed_char(c);
                }
                _ => {
                    return Err(src.position().error(
                        "text outside the root element; a report is a single <testsuites> or <testsuite> element",
                    ));
                }
            }
        }
    }

    /// Skips a comment or CDATA section at `<`; false when the `<` starts other markup (with
    /// nine bytes of look-ahead when the input has them).
    fn skip_bang<R: BufRead>(&mut self, src: &mut Source<R>, outside: bool) -> Result<bool, ParseError> {
        let offset = src.offset;
        let head = src.ensure(9).map_err(|e| io_error(&e, offset))?;
        if head.starts_with(b"<!--") {
            src.set_mark();
            src.advance(4);
            skip_until(src, b"-->", "comment", &mut |_| {})?;
            Ok(true)
        } else if head.starts_with(b"<![CDATA[") {
            src.set_mark();
            if outside {
                return Err(src.mark_position().error("a CDATA section outside the root element"));
            }
            src.advance(9);
            let capture = self.capture_depth.is_some().then_some(&mut self.capture);
            match capture {
                Some(capture) => skip_until(src, b"]]>", "CDATA section", &mut |text| capture.feed(text))?,
                None => skip_until(src, b"]]>", "CDATA section", &mut |_| {})?,
            }
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Inside the root element, with no text to capture: whitespace can go unread.
    fn in_plain_content(&self) -> bool {
        !self.stack.is_empty() && self.capture_depth.is_none()
    }

    fn feed(&mut self, text: &[u8]) {
        if self.capture_depth.is_some() {
            self.capture.feed(text);
        }
    }

    fn feed_char(&mut self, c: char) {
        if self.capture_depth.is_some() {
            self.capture.feed_char(c);
        }
    }

    fn start_element(&mut self, name: &str, attributes: &str) -> Result<(), String> {
        self.check_depth()?;
        let attrs = Attrs::read(name, attributes)?;
        self.open_element(name.as_bytes(), &attrs)
    }

    fn check_depth(&self) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("elements nest more than {MAX_DEPTH} deep"));
        }
        Ok(())
    }

    /// Opens an element whose depth and attributes have been checked.
    fn open_element(&mut self, name: &[u8], attrs: &Attrs) -> Result<(), String> {
        let parent = self.stack.last().copied();
        let mut capture = false;
        let kind = match (parent, name) {
            (None, _) if self.root == Root::After => {
                return Err(format!(
                    "<{}> after the root element ended; a report has a single root element",
                    display(name)
                ));
            }
            (None, b"testsuites") => {
                self.frames.push(Frame { path_len: 0, index: None });
                Kind::Suites
            }
            (None | Some(Kind::Suites | Kind::Suite), b"testsuite") => {
                self.open_suite(attrs)?;
                Kind::Suite
            }
            (None, _) => {
                return Err(format!(
                    "expected the root element to be <testsuites> or <testsuite>, found <{}>; this is not a JUnit XML report",
                    display(name)
                ));
            }
            (Some(Kind::Suites | Kind::Suite), b"testcase") => {
                self.open_case(attrs);
                Kind::Case
            }
            (Some(Kind::Case), b"failure" | b"error" | b"rerunFailure" | b"rerunError") => {
                capture = self.case_failed(name, attrs);
                Kind::Outcome
            }
            (Some(Kind::Case), b"skipped") => {
                self.case.skipped = true;
                Kind::Outcome
            }
            (Some(Kind::Suites | Kind::Suite), b"failure" | b"error") => {
                return Err(format!(
                    "<{}> outside a <testcase> cannot be counted; expected it inside a <testcase>",
                    display(name)
                ));
            }
            (Some(_), b"testsuites") => {
                return Err("<testsuites> may only be the root element".to_owned());
            }
            (Some(parent), b"testsuite" | b"testcase") => {
                return Err(format!(
                    "<{}> inside {}; expected it inside <testsuites> or <testsuite>",
                    display(name),
                    parent.describe()
                ));
            }
            (Some(_), _) => Kind::Other,
        };
        self.root = Root::Inside;
        self.stack.push(kind);
        if capture {
            self.capture.reset();
            self.capture_depth = Some(self.stack.len());
        }
        Ok(())
    }

    fn end_element(&mut self) {
        if self.capture_depth == Some(self.stack.len()) {
            self.capture_depth = None;
            self.case.message = self.capture.message();
        }
        let Some(kind) = self.stack.pop() else { return };
        match kind {
            Kind::Suites => {
                self.frames.pop();
            }
            Kind::Suite => {
                if let Some(frame) = self.frames.pop() {
                    self.path.truncate(frame.path_len);
                }
                self.suite_depth = self.suite_depth.saturating_sub(1);
            }
            Kind::Case => self.close_case(),
            Kind::Outcome | Kind::Other => {}
        }
        if self.stack.is_empty() {
            self.root = Root::After;
        }
    }

    fn open_suite(&mut self, attrs: &Attrs) -> Result<(), String> {
        if self.suite_depth >= MAX_SUITE_DEPTH {
            return Err(format!("test suites nest more than {MAX_SUITE_DEPTH} deep"));
        }
        self.suite_depth += 1;
        let path_len = self.path.len();
        let name = attrs.text(KEPT_NAME).unwrap_or_default();
        if !name.is_empty() {
            if !self.path.is_empty() {
                self.path.push_str(" > ");
            }
            self.path.push_str(&truncated(name, MAX_NAME_CHARS));
        }
        self.frames.push(Frame { path_len, index: None });
        Ok(())
    }

    fn open_case(&mut self, attrs: &Attrs) {
        let suites = &mut self.report.suites;
        let Some(frame) = self.frames.last_mut() else { return };
        let suite = match frame.index {
            Some(index) => index,
            None => {
                if suites.len() < MAX_SUITES {
                    suites.push(SuiteCounts {
                        name: truncated(&self.path, MAX_PATH_CHARS),
                        counts: TestCounts::default(),
                    });
                } else if self.more_suites == 0 {
                    // Named at the end, when the number is known.
                    suites.push(SuiteCounts { name: String::new(), counts: TestCounts::default() });
                }
                if suites.len() > MAX_SUITES {
                    self.more_suites += 1;
                }
                frame.index = Some(suites.len() - 1);
                suites.len() - 1
            }
        };
        self.case.suite = suite;
        self.case.outcome = None;
        self.case.skipped = not_run(attrs.text(KEPT_STATUS), attrs.text(KEPT_RESULT));
        self.case.name.clear();
        self.case.message.clear();
        if self.report.failed.len() < TestReport::MAX_LISTED {
            let name = attrs.text(KEPT_NAME).unwrap_or_default();
            match attrs.text(KEPT_CLASSNAME).filter(|c| !c.is_empty()) {
                Some(class) => self.case.name.push_str(&truncated(&format!("{class}.{name}"), 2 * MAX_NAME_CHARS)),
                None => self.case.name.push_str(&truncated(name, 2 * MAX_NAME_CHARS)),
            }
        }
    }

    /// Records a `<failure>`, `<error>` or rerun element; true when its text must supply the
    /// message.
    fn case_failed(&mut self, element: &[u8], attrs: &Attrs) -> bool {
        let rerun = element.starts_with(b"rerun");
        let decides = match self.case.outcome {
            None => true,
            Some(outcome) => outcome.rerun && !rerun,
        };
        if !decides {
            return false;
        }
        self.case.outcome = Some(Outcome { error: matches!(element, b"error" | b"rerunError"), rerun });
        self.case.message.clear();
        if self.report.failed.len() >= TestReport::MAX_LISTED {
            return false;
        }
        match attrs.text(KEPT_MESSAGE).and_then(first_line) {
            Some(line) => {
                self.case.message = truncated(line, MAX_MESSAGE_CHARS);
                false
            }
            None => true,
        }
    }

    fn close_case(&mut self) {
        let case = &self.case;
        let mut counts = TestCounts { tests: 1, ..TestCounts::default() };
        match case.outcome {
            Some(outcome) if outcome.error => counts.errors = 1,
            Some(_) => counts.failures = 1,
            None if case.skipped => counts.skipped = 1,
            None => {}
        }
        self.report.totals.add(&counts);
        let Some(suite) = self.report.suites.get_mut(case.suite) else { return };
        suite.counts.add(&counts);
        if let Some(outcome) = case.outcome
            && self.report.failed.len() < TestReport::MAX_LISTED
        {
            self.report.failed.push(FailedTest {
                suite: truncated(&self.path, MAX_PATH_CHARS),
                name: case.name.clone(),
                error: outcome.error,
                message: case.message.clone(),
            });
        }
    }

    fn finish<R: BufRead>(mut self, src: &mut Source<R>) -> Result<TestReport, ParseError> {
        if let Some(innermost) = self.stack.last() {
            return Err(src.position().error(format!(
                "the document ends inside {} with {} element(s) still open",
                innermost.describe(),
                self.stack.len()
            )));
        }
        if self.root == Root::Before {
            return Err(ParseError::document("the document has no root element; expected <testsuites> or <testsuite>"));
        }
        if self.more_suites > 0
            && let Some(last) = self.report.suites.last_mut()
        {
            last.name = format!("({} more suites)", self.more_suites);
        }
        Ok(self.report)
    }
}

/// The attributes the counting needs, indexed by `KEPT_*` (`KEPT_NONE` holds any other, unused);
/// every attribute of every element is checked (syntax, duplicates, entities) so that no reader
/// of the file could see something different.
///
/// The values are UTF-8 (the tag was checked), kept as bytes so that only those used are
/// turned into text.
#[derive(Debug, Default)]
struct Attrs<'a>([Option<Cow<'a, [u8]>>; 6]);

const KEPT_NONE: usize = 0;
const KEPT_NAME: usize = 1;
const KEPT_CLASSNAME: usize = 2;
const KEPT_MESSAGE: usize = 3;
const KEPT_STATUS: usize = 4;
const KEPT_RESULT: usize = 5;

/// Which of `Attrs` an attribute fills.
fn kept(key: &[u8]) -> usize {
    match key {
        b"name" => KEPT_NAME,
        b"classname" => KEPT_CLASSNAME,
        b"message" => KEPT_MESSAGE,
        b"status" => KEPT_STATUS,
        b"result" => KEPT_RESULT,
        _ => KEPT_NONE,
    }
}

impl<'a> Attrs<'a> {
    /// An attribute value as text.
    fn text(&self, kept: usize) -> Option<&str> {
        let value = self.0.get(kept)?.as_deref()?;
        Some(std::str::from_utf8(value).unwrap_or_default())
    }

    fn read(name: &str, raw: &'a str) -> Result<Attrs<'a>, String> {
        let bytes = raw.as_bytes();
        let tag = || name;
        let mut attrs = Attrs::default();
        let mut seen = Seen::default();
        let mut i = 0;
        loop {
            i += whitespace(bytes.get(i..).unwrap_or_default());
            if i >= bytes.len() {
                return Ok(attrs);
            }
            let key_start = i;
            i += bytes
                .get(i..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| !b.is_ascii_whitespace() && **b != b'=')
                .count();
            let key = raw.get(key_start..i).unwrap_or_default();
            if key.bytes().any(|b| matches!(b, b'"' | b'\'' | b'<' | b'>' | b'&' | b'/')) {
                return Err(format!("malformed attributes in <{}>: `{key}` is not an attribute name", tag()));
            }
            i += whitespace(bytes.get(i..).unwrap_or_default());
            if bytes.get(i) != Some(&b'=') {
                return Err(format!("attribute `{key}` of <{}> has no value; expected {key}=\"...\"", tag()));
            }
            i += 1;
            i += whitespace(bytes.get(i..).unwrap_or_default());
            let Some(&quote) = bytes.get(i).filter(|q| matches!(q, b'"' | b'\'')) else {
                return Err(format!("the value of attribute `{key}` in <{}> is not quoted", tag()));
            };
            let value_start = i + 1;
            let Some(len) = memchr::memchr(quote, bytes.get(value_start..).unwrap_or_default()) else {
                return Err(format!("the value of attribute `{key}` in <{}> is never closed", tag()));
            };
            let value = raw.get(value_start..value_start + len).unwrap_or_default();
            // No short-circuit, so that the check vectorises.
            let plain = !value.bytes().fold(false, |special, b| special | matches!(b, b'&' | b'\t' | b'\n' | b'\r'));
            i = value_start + len + 1;
            if bytes.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                return Err(format!("attributes of <{}> must be separated by whitespace after `{key}`", tag()));
            }
            if !seen.insert(key.as_bytes()) {
                return Err(format!("attribute `{key}` appears twice in <{}>", tag()));
            }
            let kept = kept(key.as_bytes());
            let slot = match attrs.0.get_mut(kept) {
                Some(slot) if kept != KEPT_NONE => slot,
                _ if plain => continue,
                _ => {
                    check_references(value.as_bytes())
                        .map_err(|p| format!("{p} in attribute `{key}` of <{}>", tag()))?;
                    continue;
                }
            };
            *slot = Some(if plain {
                Cow::Borrowed(value.as_bytes())
            } else {
                let value = attribute_value(value).map_err(|p| format!("{p} in attribute `{key}` of <{}>", tag()))?;
                Cow::Owned(value.into_bytes())
            });
        }
    }
}

/// The attribute names of one tag, to refuse duplicates without allocating for short tags.
#[derive(Default)]
struct Seen<'a> {
    /// A bit per hash of the names so far: names are compared only when their bits collide.
    hashes: u64,
    first: [&'a [u8]; 8],
    len: usize,
    more: Vec<&'a [u8]>,
}

impl<'a> Seen<'a> {
    fn insert(&mut self, key: &'a [u8]) -> bool {
        let first_byte = usize::from(key.first().copied().unwrap_or_default());
        let last_byte = usize::from(key.last().copied().unwrap_or_default());
        let bit = 1 << ((key.len() + 7 * first_byte + 3 * last_byte) % 64);
        if self.hashes & bit != 0 {
            let same = |k: &&[u8]| *k == key;
            let first = self.first.get(..self.len).unwrap_or_default();
            if first.iter().any(same) || self.more.iter().any(same) {
                return false;
            }
        }
        self.hashes |= bit;
        match self.first.get_mut(self.len) {
            Some(slot) => {
                *slot = key;
                self.len += 1;
            }
            None => self.more.push(key),
        }
        true
    }
}

fn whitespace(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_whitespace()).count()
}

/// Refuses unknown entities and bare `&` in a value that is not otherwise read.
fn check_references(bytes: &[u8]) -> Result<(), String> {
    let mut from = 0;
    while let Some(amp) = memchr::memchr(b'&', bytes.get(from..).unwrap_or_default()) {
        let (_, len) = decode_reference(bytes.get(from + amp..).unwrap_or_default())?;
        from += amp + len;
    }
    Ok(())
}

/// An attribute value as XML 1.0 reads it: references replaced, and each literal tab, line
/// feed, carriage return or CR LF pair turned into a space.
fn attribute_value(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '\t', '\n', '\r']) {
        out.push_str(rest.get(..i).unwrap_or_default());
        let tail = rest.get(i..).unwrap_or_default();
        let len = match tail.as_bytes() {
            [b'&', ..] => {
                let (c, len) = decode_reference(tail.as_bytes())?;
                out.push(c);
                len
            }
            [b'\r', b'\n', ..] => {
                out.push(' ');
                2
            }
            _ => {
                out.push(' ');
                1
            }
        };
        rest = tail.get(len..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// Skips to just past `end`, handing what lies before it to `feed`.
fn skip_until<R: BufRead>(
    src: &mut Source<R>,
    end: &[u8],
    what: &str,
    feed: &mut dyn FnMut(&[u8]),
) -> Result<(), ParseError> {
    loop {
        let offset = src.offset;
        let available = src.ensure(end.len()).map_err(|e| io_error(&e, offset))?;
        if available.len() < end.len() {
            let end = String::from_utf8_lossy(end);
            return Err(src.mark_position().error(format!("the {what} starting here is never closed with `{end}`")));
        }
        match memchr::memmem::find(available, end) {
            Some(i) => {
                feed(available.get(..i).unwrap_or_default());
                src.advance(i + end.len());
                return Ok(());
            }
            None => {
                // The end marker may straddle this chunk and the next.
                let n = available.len() + 1 - end.len();
                feed(available.get(..n).unwrap_or_default());
                src.advance(n);
            }
        }
    }
}

/// Reads the entity or character reference at `&` in text.
fn reference<R: BufRead>(src: &mut Source<R>) -> Result<char, ParseError> {
    let offset = src.offset;
    let head = src.ensure(MAX_REFERENCE_BYTES).map_err(|e| io_error(&e, offset))?;
    match decode_reference(head) {
        Ok((c, len)) => {
            src.advance(len);
            Ok(c)
        }
        Err(problem) => Err(src.position().error(format!("{problem} in text"))),
    }
}

/// Decodes the reference at the start of `text` (which starts with `&`): the character and the
/// reference's length.
#[inline]
fn decode_reference(text: &[u8]) -> Result<(char, usize), String> {
    // The common ones first: logs and stack traces are full of them.
    match text {
        [_, b'a', b'm', b'p', b';', ..] => Ok(('&', 5)),
        [_, b'l', b't', b';', ..] => Ok(('<', 4)),
        [_, b'g', b't', b';', ..] => Ok(('>', 4)),
        _ => decode_other_reference(text),
    }
}

#[inline(never)]
fn decode_other_reference(text: &[u8]) -> Result<(char, usize), String> {
    let window = text.get(..MAX_REFERENCE_BYTES.min(text.len())).unwrap_or_default();
    let Some(semicolon) = memchr::memchr(b';', window) else {
        return Err("a bare `&` (write a literal & as `&amp;`)".to_owned());
    };
    let name = window.get(1..semicolon).unwrap_or_default();
    let c = match name {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x', hex @ ..] => char_reference(hex, 16),
        [b'#', decimal @ ..] => char_reference(decimal, 10),
        _ => None,
    };
    match c {
        Some(c) => Ok((c, semicolon + 1)),
        None => Err(format!(
            "unknown entity or bad character reference `&{};` (only &amp; &lt; &gt; &quot; &apos; and character references are read)",
            display(name)
        )),
    }
}

fn char_reference(digits: &[u8], radix: u32) -> Option<char> {
    if digits.is_empty() || !digits.iter().all(|&b| char::from(b).is_digit(radix)) {
        return None;
    }
    let code = u32::from_str_radix(std::str::from_utf8(digits).ok()?, radix).ok()?;
    let c = char::from_u32(code)?;
    let allowed = matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'));
    allowed.then_some(c)
}

/// Whether a test case's `status`/`result` attribute says it did not run (gtest, CTest, Ant).
fn not_run(status: Option<&str>, result: Option<&str>) -> bool {
    let says = |value: Option<&str>, words: &[&str]| {
        value.is_some_and(|v| words.iter().any(|w| v.trim().eq_ignore_ascii_case(w)))
    };
    says(status, &["notrun", "disabled", "skipped", "ignored"]) || says(result, &["skipped", "suppressed"])
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|line| !line.is_empty())
}

/// At most `max` characters, the last one `…` when cut.
fn truncated(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) => {
            let cut = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            let mut out = s.get(..cut).unwrap_or_default().to_owned();
            out.push('…');
            out
        }
    }
}

fn display(name: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(name)
}
