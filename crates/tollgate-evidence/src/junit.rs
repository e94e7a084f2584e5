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
//! - Only UTF-8. Entities are XML's five predefined ones and character references; a DTD is
//!   skipped and never expanded, so any other entity is refused. Malformed XML, a second root,
//!   or a root other than `<testsuites>`/`<testsuite>` is an error with its line and column
//!   (columns count bytes).

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use quick_xml::events::{BytesDecl, BytesStart, Event};
use quick_xml::Reader;
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
    let mut source = Source::new(reader);
    source.skip_bom()?;
    let mut xml = Reader::from_reader(source);
    // End tags must match their start tags, or the nesting counted below would be wrong.
    xml.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut state = State::new();
    loop {
        state.skip_text(xml.get_mut())?;
        let src = xml.get_mut();
        src.start_markup();
        let at_start = src.at_body_start();
        buf.clear();
        let event = xml.read_event_into(&mut buf);
        let src = xml.get_mut();
        src.end_markup();
        let event = match event {
            Ok(event) => event,
            Err(e) => return Err(xml_error(&e, src)),
        };
        match event {
            Event::Start(e) => state.start_element(&e).map_err(|m| src.mark_position().error(m))?,
            Event::Empty(e) => {
                state.start_element(&e).map_err(|m| src.mark_position().error(m))?;
                state.end_element();
            }
            Event::End(_) => state.end_element(),
            Event::Decl(decl) => check_declaration(&decl, src, at_start)?,
            Event::DocType(_) if state.root != Root::Before => {
                return Err(src.mark_position().error("a DOCTYPE may only come before the root element"));
            }
            // Text, CDATA and comments never reach quick-xml: `skip_text` consumed them.
            Event::DocType(_)
            | Event::PI(_)
            | Event::Comment(_)
            | Event::CData(_)
            | Event::Text(_)
            | Event::GeneralRef(_) => {}
            Event::Eof => return state.finish(src),
        }
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
        return at.error(format!("a tag longer than {MAX_TAG_BYTES} bytes; JUnit tags are far shorter"));
    }
    match error {
        quick_xml::Error::Io(e) => io_error(e, source.offset),
        other => at.error(format!("malformed XML: {other}")),
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
    /// Where the tag quick-xml is reading starts, and its position once known.
    mark: u64,
    mark_pos: Option<Pos>,
    /// While quick-xml reads a tag: the offset past which reading fails.
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

    /// quick-xml is about to read a tag here: remember where, and cap its length.
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
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }

    fn available(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end && !self.eof {
            self.read_more()?;
        }
        Ok(self.buf.get(self.start..self.end).unwrap_or_default())
    }

    /// At least `n` bytes (`n` ≤ the buffer), unless the input ends first.
    fn ensure(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.start < n && !self.eof {
            self.read_more()?;
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
            let stop = if outside {
                available.iter().position(|b| !b.is_ascii_whitespace())
            } else {
                memchr::memchr2(b'<', b'&', available)
            };
            let Some(stop) = stop else {
                if available.is_empty() {
                    return Ok(());
                }
                let n = available.len();
                self.feed(available);
                src.advance(n);
                continue;
            };
            let byte = available.get(stop).copied();
            self.feed(available.get(..stop).unwrap_or_default());
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

    /// Skips a comment or CDATA section at `<`; false when the `<` starts a tag for quick-xml.
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

    fn start_element(&mut self, e: &BytesStart) -> Result<(), String> {
        let name = e.name();
        let name = name.as_ref();
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("elements nest more than {MAX_DEPTH} deep"));
        }
        let attrs = Attrs::read(e)?;
        let parent = self.stack.last().copied();
        let mut capture = false;
        let kind = match (parent, name) {
            (None, _) if self.root == Root::After => {
                return Err(format!("<{name}> after the root element ended; a report has a single root element"));
            }
            (None, "testsuites") => {
                self.frames.push(Frame { path_len: 0, index: None });
                Kind::Suites
            }
            (None | Some(Kind::Suites | Kind::Suite), "testsuite") => {
                self.open_suite(&attrs)?;
                Kind::Suite
            }
            (None, _) => {
                return Err(format!(
                    "expected the root element to be <testsuites> or <testsuite>, found <{name}>; this is not a JUnit XML report"
                ));
            }
            (Some(Kind::Suites | Kind::Suite), "testcase") => {
                self.open_case(&attrs);
                Kind::Case
            }
            (Some(Kind::Case), "failure" | "error" | "rerunFailure" | "rerunError") => {
                capture = self.case_failed(name, &attrs);
                Kind::Outcome
            }
            (Some(Kind::Case), "skipped") => {
                self.case.skipped = true;
                Kind::Outcome
            }
            (Some(Kind::Suites | Kind::Suite), "failure" | "error") => {
                return Err(format!("<{name}> outside a <testcase> cannot be counted; expected it inside a <testcase>"));
            }
            (Some(_), "testsuites") => {
                return Err("<testsuites> may only be the root element".to_owned());
            }
            (Some(parent), "testsuite" | "testcase") => {
                return Err(format!(
                    "<{name}> inside {}; expected it inside <testsuites> or <testsuite>",
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
        let name = attrs.name.as_deref().unwrap_or_default();
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
                    suites.push(SuiteCounts { name: truncated(&self.path, MAX_PATH_CHARS), counts: TestCounts::default() });
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
        self.case.skipped = not_run(attrs.status.as_deref(), attrs.result.as_deref());
        self.case.name.clear();
        self.case.message.clear();
        if self.report.failed.len() < TestReport::MAX_LISTED {
            let name = attrs.name.as_deref().unwrap_or_default();
            match attrs.classname.as_deref().filter(|c| !c.is_empty()) {
                Some(class) => self.case.name.push_str(&truncated(&format!("{class}.{name}"), 2 * MAX_NAME_CHARS)),
                None => self.case.name.push_str(&truncated(name, 2 * MAX_NAME_CHARS)),
            }
        }
    }

    /// Records a `<failure>`, `<error>` or rerun element; true when its text must supply the
    /// message.
    fn case_failed(&mut self, element: &str, attrs: &Attrs) -> bool {
        let rerun = element.starts_with("rerun");
        let decides = match self.case.outcome {
            None => true,
            Some(outcome) => outcome.rerun && !rerun,
        };
        if !decides {
            return false;
        }
        self.case.outcome = Some(Outcome { error: matches!(element, "error" | "rerunError"), rerun });
        self.case.message.clear();
        if self.report.failed.len() >= TestReport::MAX_LISTED {
            return false;
        }
        match attrs.message.as_deref().and_then(first_line) {
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

/// The attributes the counting needs; every attribute of every element is checked (syntax,
/// duplicates, entities) so that no reader of the file could see something different.
#[derive(Debug, Default)]
struct Attrs<'a> {
    name: Option<Cow<'a, str>>,
    classname: Option<Cow<'a, str>>,
    message: Option<Cow<'a, str>>,
    status: Option<Cow<'a, str>>,
    result: Option<Cow<'a, str>>,
}

impl<'a> Attrs<'a> {
    fn read(e: &'a BytesStart<'_>) -> Result<Attrs<'a>, String> {
        let raw = e.attributes_raw();
        let bytes = raw.as_bytes();
        let tag = || e.name().as_ref().to_owned();
        let mut attrs = Attrs::default();
        let mut seen = Seen::default();
        let mut i = 0;
        loop {
            i += whitespace(bytes.get(i..).unwrap_or_default());
            if i >= bytes.len() {
                return Ok(attrs);
            }
            let key_start = i;
            i += bytes.get(i..).unwrap_or_default().iter().take_while(|b| !b.is_ascii_whitespace() && **b != b'=').count();
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
            if !seen.insert(key) {
                return Err(format!("attribute `{key}` appears twice in <{}>", tag()));
            }
            let slot = match key {
                "name" => &mut attrs.name,
                "classname" => &mut attrs.classname,
                "message" => &mut attrs.message,
                "status" => &mut attrs.status,
                "result" => &mut attrs.result,
                _ if plain => continue,
                _ => {
                    check_references(value).map_err(|p| format!("{p} in attribute `{key}` of <{}>", tag()))?;
                    continue;
                }
            };
            *slot = Some(if plain {
                Cow::Borrowed(value)
            } else {
                Cow::Owned(attribute_value(value).map_err(|p| format!("{p} in attribute `{key}` of <{}>", tag()))?)
            });
        }
    }
}

/// The attribute names of one tag, to refuse duplicates without allocating for short tags.
#[derive(Default)]
struct Seen<'a> {
    first: [&'a str; 16],
    len: usize,
    more: Vec<&'a str>,
}

impl<'a> Seen<'a> {
    fn insert(&mut self, key: &'a str) -> bool {
        // Most names differ in length or last byte; compare those before the bytes.
        let same = |k: &&str| k.len() == key.len() && k.as_bytes().last() == key.as_bytes().last() && *k == key;
        let first = self.first.get(..self.len).unwrap_or_default();
        if first.iter().any(same) || self.more.iter().any(same) {
            return false;
        }
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
fn check_references(raw: &str) -> Result<(), String> {
    let bytes = raw.as_bytes();
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
fn decode_reference(text: &[u8]) -> Result<(char, usize), String> {
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
