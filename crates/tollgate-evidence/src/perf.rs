//! Performance results, in Tollgate's own small format (docs/evidence-formats.md), as JSON or CSV.
//!
//! JSON: `{"metrics": [{"name", "unit"?, "baseline", "value", "better"?, "slo"?}, ...]}`.
//! CSV: a header naming `metric`, `baseline` and `value` and optionally `unit`, `better` and
//! `slo`, in any order, then one metric a line. A document whose first non-blank character is
//! `{` or `[` is JSON, anything else CSV.
//!
//! Rules: `baseline` and `value` are finite numbers (negative allowed); `better` is `lower`
//! (the default) or `higher`; `slo` is true (the default) or false; names are non-empty, at most
//! [`MAX_NAME_CHARS`] characters without control characters, and unique; at least one and at
//! most [`MAX_METRICS`] metrics. Unknown JSON members and CSV columns are refused. CSV fields may
//! be quoted (`"a,b"`, `""` for a quote) but may not span lines.

use std::collections::HashMap;

use tollgate_domain::evidence::{PerfMetric, PerfReport};

use crate::error::ParseError;
use crate::json::{self, Node};

pub const MAX_METRICS: usize = 10_000;
pub const MAX_NAME_CHARS: usize = 200;

const JSON_MEMBERS: [&str; 6] = ["name", "unit", "baseline", "value", "better", "slo"];
const CSV_COLUMNS: [&str; 6] = ["metric", "unit", "baseline", "value", "better", "slo"];

pub fn parse(bytes: &[u8]) -> Result<PerfReport, ParseError> {
    if bytes.len() > json::MAX_DOCUMENT_BYTES {
        return Err(ParseError::document(format!(
            "the document is {} bytes; at most {} are read",
            bytes.len(),
            json::MAX_DOCUMENT_BYTES
        )));
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(ParseError::document(
            "the document is empty; expected performance results as JSON ({\"metrics\": [...]}) or CSV (header metric,unit,baseline,value,better,slo)",
        )),
        Some(b'{' | b'[') => parse_json(bytes),
        Some(_) => parse_csv(body),
    }
}

/// Metrics in file order, names checked for duplicates.
#[derive(Default)]
struct Metrics {
    list: Vec<PerfMetric>,
    /// Name to where it was first given.
    seen: HashMap<String, String>,
}

impl Metrics {
    /// `Err` carries where the name was first given.
    fn push(&mut self, metric: PerfMetric, place: String) -> Result<(), String> {
        if let Some(first) = self.seen.get(&metric.name) {
            return Err(format!("the metric `{}` is given twice (first {first}); expected unique names", metric.name));
        }
        self.seen.insert(metric.name.clone(), place);
        self.list.push(metric);
        Ok(())
    }
}

fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        Err("expected a metric name, found an empty one".to_owned())
    } else if name.chars().count() > MAX_NAME_CHARS {
        Err(format!("the metric name is longer than {MAX_NAME_CHARS} characters"))
    } else if name.chars().any(char::is_control) {
        Err(format!("the metric name {name:?} contains a control character"))
    } else {
        Ok(name.to_owned())
    }
}

fn check_unit(unit: &str) -> Result<Option<String>, String> {
    let unit = unit.trim();
    if unit.chars().count() > MAX_NAME_CHARS || unit.chars().any(char::is_control) {
        Err(format!("expected a short unit such as \"ms\", found {unit:?}"))
    } else if unit.is_empty() {
        Ok(None)
    } else {
        Ok(Some(unit.to_owned()))
    }
}

fn finite(number: f64, found: &str) -> Result<f64, String> {
    if number.is_finite() { Ok(number) } else { Err(format!("expected a finite number, found {found}")) }
}

/// `true` when higher is better.
fn better(word: &str) -> Result<bool, String> {
    match word {
        "" | "lower" => Ok(false),
        "higher" => Ok(true),
        _ => Err(format!("expected \"lower\" or \"higher\", found {word:?}")),
    }
}

fn parse_json(bytes: &[u8]) -> Result<PerfReport, ParseError> {
    let value = json::parse(bytes)?;
    let root = Node::root(&value);
    only_members(&root, &["metrics"])?;
    let list = root.required("metrics")?;
    let mut metrics = Metrics::default();
    for (i, node) in list.items()?.enumerate() {
        if i >= MAX_METRICS {
            return Err(list.error(format!("more than {MAX_METRICS} metrics; at most {MAX_METRICS} are read")));
        }
        let metric = json_metric(&node)?;
        let name = node.required("name")?;
        metrics.push(metric, format!("at `{}`", node.path())).map_err(|e| name.error(e))?;
    }
    if metrics.list.is_empty() {
        return Err(list.error("expected at least one metric, found none"));
    }
    Ok(PerfReport { metrics: metrics.list })
}

fn json_metric(node: &Node<'_>) -> Result<PerfMetric, ParseError> {
    only_members(node, &JSON_MEMBERS)?;
    let name = node.required("name")?;
    let unit = match node.get("unit") {
        Some(unit) => check_unit(unit.as_str()?).map_err(|e| unit.error(e))?,
        None => None,
    };
    let number = |key: &str| -> Result<f64, ParseError> {
        let n = node.required(key)?;
        finite(n.as_f64()?, &n.value.to_string()).map_err(|e| n.error(e))
    };
    let higher_is_better = match node.get("better") {
        Some(word) => better(word.as_str()?).map_err(|e| word.error(e))?,
        None => false,
    };
    let slo = match node.get("slo") {
        Some(slo) => {
            slo.value.as_bool().ok_or_else(|| slo.error(format!("expected true or false, found {}", slo.value)))?
        }
        None => true,
    };
    Ok(PerfMetric {
        name: check_name(name.as_str()?).map_err(|e| name.error(e))?,
        unit,
        baseline: number("baseline")?,
        value: number("value")?,
        higher_is_better,
        slo,
    })
}

/// Refuses a non-object and any member not in `allowed`.
fn only_members(node: &Node<'_>, allowed: &[&str]) -> Result<(), ParseError> {
    let object = node
        .value
        .as_object()
        .ok_or_else(|| node.error(format!("expected an object, found {}", json::kind(node.value))))?;
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => {
            let path = node.path();
            let path = if path == "$" { key.clone() } else { format!("{path}.{key}") };
            Err(ParseError::at_path(path, format!("unknown member; expected one of {}", allowed.join(", "))))
        }
        None => Ok(()),
    }
}

/// A CSV field with the 1-based column where it starts.
struct Field {
    column: u64,
    text: String,
}

#[derive(Default)]
struct Columns {
    metric: usize,
    unit: Option<usize>,
    baseline: usize,
    value: usize,
    better: Option<usize>,
    slo: Option<usize>,
    count: usize,
}

fn parse_csv(body: &[u8]) -> Result<PerfReport, ParseError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        let before = body.get(..e.valid_up_to()).unwrap_or_default();
        let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(before.get(line_start..).unwrap_or_default()).chars().count() as u64 + 1;
        ParseError::at_line(line, column, "the CSV is not UTF-8")
    })?;
    let lines = text.split('\n').enumerate().map(|(i, line)| (i as u64 + 1, line.strip_suffix('\r').unwrap_or(line)));
    let mut columns = None;
    let mut metrics = Metrics::default();
    for (number, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields = split(line).map_err(|(column, message)| ParseError::at_line(number, column, message))?;
        let Some(columns) = &columns else {
            columns = Some(header(number, &fields)?);
            continue;
        };
        if metrics.list.len() >= MAX_METRICS {
            return Err(ParseError::at_line(
                number,
                1,
                format!("more than {MAX_METRICS} metrics; at most {MAX_METRICS} are read"),
            ));
        }
        let (metric, name_column) = csv_metric(number, columns, &fields)?;
        metrics.push(metric, format!("on line {number}")).map_err(|e| ParseError::at_line(number, name_column, e))?;
    }
    if columns.is_none() {
        return Err(ParseError::document("the CSV has no header; expected metric,unit,baseline,value,better,slo"));
    }
    if metrics.list.is_empty() {
        return Err(ParseError::document("expected at least one metric after the CSV header, found none"));
    }
    Ok(PerfReport { metrics: metrics.list })
}

fn header(line: u64, fields: &[Field]) -> Result<Columns, ParseError> {
    let mut found: [Option<usize>; 6] = [None; 6];
    for (i, field) in fields.iter().enumerate() {
        let Some(slot) = CSV_COLUMNS.iter().position(|c| *c == field.text) else {
            return Err(ParseError::at_line(
                line,
                field.column,
                format!("unknown column {:?}; expected columns from {}", field.text, CSV_COLUMNS.join(",")),
            ));
        };
        if found[slot].replace(i).is_some() {
            return Err(ParseError::at_line(line, field.column, format!("the column {:?} is given twice", field.text)));
        }
    }
    let required = |slot: usize| {
        found[slot].ok_or_else(|| {
            ParseError::at_line(
                line,
                1,
                format!(
                    "the header has no `{}` column; expected metric,unit,baseline,value,better,slo",
                    CSV_COLUMNS[slot]
                ),
            )
        })
    };
    Ok(Columns {
        metric: required(0)?,
        unit: found[1],
        baseline: required(2)?,
        value: required(3)?,
        better: found[4],
        slo: found[5],
        count: fields.len(),
    })
}

fn csv_metric(line: u64, columns: &Columns, fields: &[Field]) -> Result<(PerfMetric, u64), ParseError> {
    if fields.len() != columns.count {
        return Err(ParseError::at_line(
            line,
            1,
            format!("expected {} fields as in the header, found {}", columns.count, fields.len()),
        ));
    }
    let field = |i: usize| fields.get(i).map_or(("", 1), |f| (f.text.as_str(), f.column));
    let at = |column: u64| move |message: String| ParseError::at_line(line, column, message);
    let number = |i: usize| {
        let (text, column) = field(i);
        if text.is_empty() {
            return Err(at(column)("expected a number, found an empty field".to_owned()));
        }
        let parsed: f64 = text.parse().map_err(|_| at(column)(format!("expected a number, found {text:?}")))?;
        finite(parsed, &format!("{text:?}")).map_err(at(column))
    };
    let (name, name_column) = field(columns.metric);
    let unit = match columns.unit.map(field) {
        Some((text, column)) => check_unit(text).map_err(at(column))?,
        None => None,
    };
    let higher_is_better = match columns.better.map(field) {
        Some((text, column)) => better(text).map_err(at(column))?,
        None => false,
    };
    let slo = match columns.slo.map(field) {
        Some(("" | "true", _)) | None => true,
        Some(("false", _)) => false,
        Some((text, column)) => return Err(at(column)(format!("expected true or false, found {text:?}"))),
    };
    let metric = PerfMetric {
        name: check_name(name).map_err(at(name_column))?,
        unit,
        baseline: number(columns.baseline)?,
        value: number(columns.value)?,
        higher_is_better,
        slo,
    };
    Ok((metric, name_column))
}

/// Splits one CSV line into trimmed fields; `Err` is (column, message).
fn split(line: &str) -> Result<Vec<Field>, (u64, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        while chars.get(i).is_some_and(|c| *c == ' ' || *c == '\t') {
            i += 1;
        }
        let column = i as u64 + 1;
        let mut text = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (None, _) => return Err((column, "the quoted field is not closed on this line".to_owned())),
                    (Some('"'), Some('"')) => {
                        text.push('"');
                        i += 2;
                    }
                    (Some('"'), _) => {
                        i += 1;
                        break;
                    }
                    (Some(c), _) => {
                        text.push(*c);
                        i += 1;
                    }
                }
            }
            while chars.get(i).is_some_and(|c| *c == ' ' || *c == '\t') {
                i += 1;
            }
            if chars.get(i).is_some_and(|c| *c != ',') {
                return Err((i as u64 + 1, "expected a comma after the closing quote".to_owned()));
            }
        } else {
            while let Some(c) = chars.get(i).filter(|c| **c != ',') {
                if *c == '"' {
                    return Err((i as u64 + 1, "a quote may only open a field; quote the whole field".to_owned()));
                }
                text.push(*c);
                i += 1;
            }
            text.truncate(text.trim_end().len());
        }
        fields.push(Field { column, text });
        if chars.get(i) == Some(&',') {
            i += 1;
        } else {
            return Ok(fields);
        }
    }
}
