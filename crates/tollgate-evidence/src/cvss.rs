//! CVSS base scores from vector strings.
//!
//! Reads CVSS v2 (`AV:N/AC:L/Au:N/C:P/I:P/A:P`, no prefix), v3.0 and v3.1 (`CVSS:3.1/AV:N/...`)
//! and v4.0 (`CVSS:4.0/AV:N/...`). v2 and v3 are computed here with the equations and
//! rounding of their FIRST specifications (v3.1's integer-based Roundup, v3.0's plain
//! round-up to one decimal). v4.0 is scored by the RustSec `cvss` crate, which implements
//! the specification's macro-vector lookup and is tested against every base vector of Red
//! Hat's reference suite.
//!
//! Rules:
//! - Every base metric must be present, once, with a value the specification defines.
//! - Temporal, threat, environmental and supplemental metrics are checked the same way but
//!   never change the result: this is the *base* score, so a producer's own adjustments
//!   cannot lower a rating.
//! - Anything else (an unknown metric or version, a duplicate, a v3 vector without its
//!   `CVSS:3.x/` prefix) is an error naming the problem.

use std::str::FromStr;

/// Vector strings are short; anything longer is not a vector.
const MAX_VECTOR_LEN: usize = 512;

/// The base score (0.0 to 10.0, one decimal) of a CVSS v2, v3.0, v3.1 or v4.0 vector.
pub fn score(vector: &str) -> Result<f64, String> {
    let vector = vector.trim();
    if vector.len() > MAX_VECTOR_LEN {
        return Err(format!("a CVSS vector is at most {MAX_VECTOR_LEN} characters; this one has {}", vector.len()));
    }
    if let Some(rest) = vector.strip_prefix("CVSS:") {
        let (version, body) = rest.split_once('/').unwrap_or((rest, ""));
        return match version {
            "3.0" => v3(body, Rounding::V30),
            "3.1" => v3(body, Rounding::V31),
            "4.0" => v4(body),
            // Some tools label v2 vectors this way; the metrics are the v2 ones.
            "2.0" => v2(body),
            other => Err(format!("unknown CVSS version `{other}`; expected 2.0, 3.0, 3.1 or 4.0")),
        };
    }
    // NVD's older form wraps v2 vectors in parentheses.
    let body = vector.strip_prefix('(').and_then(|v| v.strip_suffix(')')).unwrap_or(vector);
    let metrics = metrics(body)?;
    if metrics.iter().any(|(name, _)| matches!(*name, "PR" | "UI" | "S" | "AT" | "VC")) {
        return Err(format!(
            "`{vector}` has no version prefix but is not a CVSS v2 vector; \
             v3 and v4 vectors start with CVSS:3.x/ or CVSS:4.0/"
        ));
    }
    v2(body)
}

/// `AV:N/AC:L` as (name, value) pairs, refusing empty parts and repeated metrics.
fn metrics(body: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in body.split('/') {
        let Some((name, value)) = part.split_once(':') else {
            return Err(format!("`{part}` is not a CVSS metric; expected NAME:VALUE"));
        };
        if out.iter().any(|(seen, _)| *seen == name) {
            return Err(format!("the metric `{name}` appears twice"));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// The metrics a version defines: name, allowed values, and whether it is a base metric.
type Table = &'static [(&'static str, &'static [&'static str], bool)];

/// Checks every metric against `table` and returns the base metrics' values in table order.
fn check<'a>(version: &str, body: &'a str, table: Table) -> Result<Vec<&'a str>, String> {
    let given = metrics(body)?;
    for (name, value) in &given {
        let Some((_, allowed, _)) = table.iter().find(|(known, _, _)| known == name) else {
            return Err(format!("`{name}` is not a CVSS {version} metric"));
        };
        if !allowed.contains(value) {
            return Err(format!(
                "`{name}:{value}` is not valid in CVSS {version}; expected one of {}",
                allowed.join(", ")
            ));
        }
    }
    let mut base = Vec::new();
    for (name, _, _) in table.iter().filter(|(_, _, is_base)| *is_base) {
        match given.iter().find(|(given_name, _)| given_name == name) {
            Some((_, value)) => base.push(*value),
            None => return Err(format!("the CVSS {version} base metric `{name}` is missing")),
        }
    }
    Ok(base)
}

const CIA3: &[&str] = &["H", "L", "N"];
const MCIA3: &[&str] = &["X", "H", "L", "N"];
const REQ: &[&str] = &["X", "H", "M", "L"];

const V3_METRICS: Table = &[
    ("AV", &["N", "A", "L", "P"], true),
    ("AC", &["L", "H"], true),
    ("PR", &["N", "L", "H"], true),
    ("UI", &["N", "R"], true),
    ("S", &["U", "C"], true),
    ("C", CIA3, true),
    ("I", CIA3, true),
    ("A", CIA3, true),
    ("E", &["X", "U", "P", "F", "H"], false),
    ("RL", &["X", "O", "T", "W", "U"], false),
    ("RC", &["X", "U", "R", "C"], false),
    ("CR", REQ, false),
    ("IR", REQ, false),
    ("AR", REQ, false),
    ("MAV", &["X", "N", "A", "L", "P"], false),
    ("MAC", &["X", "L", "H"], false),
    ("MPR", &["X", "N", "L", "H"], false),
    ("MUI", &["X", "N", "R"], false),
    ("MS", &["X", "U", "C"], false),
    ("MC", MCIA3, false),
    ("MI", MCIA3, false),
    ("MA", MCIA3, false),
];

#[derive(Clone, Copy)]
enum Rounding {
    V30,
    V31,
}

fn v3(body: &str, rounding: Rounding) -> Result<f64, String> {
    let version = match rounding {
        Rounding::V30 => "3.0",
        Rounding::V31 => "3.1",
    };
    let base = check(version, body, V3_METRICS)?;
    let [av, ac, pr, ui, s, c, i, a] = base.as_slice() else {
        return Err(format!("CVSS {version} has eight base metrics"));
    };
    let changed = *s == "C";
    let av = match *av {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        _ => 0.2,
    };
    let ac = if *ac == "L" { 0.77 } else { 0.44 };
    let pr = match (*pr, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        (_, false) => 0.27,
        (_, true) => 0.5,
    };
    let ui = if *ui == "N" { 0.85 } else { 0.62 };
    let cia = |v: &str| -> f64 {
        match v {
            "H" => 0.56,
            "L" => 0.22,
            _ => 0.0,
        }
    };
    let iss = 1.0 - (1.0 - cia(c)) * (1.0 - cia(i)) * (1.0 - cia(a));
    let impact = if changed { 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15) } else { 6.42 * iss };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    let raw = if changed { (1.08 * (impact + exploitability)).min(10.0) } else { (impact + exploitability).min(10.0) };
    Ok(match rounding {
        Rounding::V30 => (raw * 10.0).ceil() / 10.0,
        Rounding::V31 => roundup(raw),
    })
}

/// CVSS v3.1 Appendix A: round up to one decimal, working on an integer so that floating
/// point noise (4.000000000000001) does not add a tenth.
fn roundup(value: f64) -> f64 {
    let int_input = (value * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 { int_input as f64 / 100_000.0 } else { ((int_input / 10_000) as f64 + 1.0) / 10.0 }
}

const V2_CIA: &[&str] = &["N", "P", "C"];
const V2_REQ: &[&str] = &["L", "M", "H", "ND"];

const V2_METRICS: Table = &[
    ("AV", &["L", "A", "N"], true),
    ("AC", &["H", "M", "L"], true),
    ("Au", &["M", "S", "N"], true),
    ("C", V2_CIA, true),
    ("I", V2_CIA, true),
    ("A", V2_CIA, true),
    ("E", &["U", "POC", "F", "H", "ND"], false),
    ("RL", &["OF", "TF", "W", "U", "ND"], false),
    ("RC", &["UC", "UR", "C", "ND"], false),
    ("CDP", &["N", "L", "LM", "MH", "H", "ND"], false),
    ("TD", &["N", "L", "M", "H", "ND"], false),
    ("CR", V2_REQ, false),
    ("IR", V2_REQ, false),
    ("AR", V2_REQ, false),
];

fn v2(body: &str) -> Result<f64, String> {
    let base = check("2.0", body, V2_METRICS)?;
    let [av, ac, au, c, i, a] = base.as_slice() else {
        return Err("CVSS 2.0 has six base metrics".to_owned());
    };
    let av = match *av {
        "L" => 0.395,
        "A" => 0.646,
        _ => 1.0,
    };
    let ac = match *ac {
        "H" => 0.35,
        "M" => 0.61,
        _ => 0.71,
    };
    let au = match *au {
        "M" => 0.45,
        "S" => 0.56,
        _ => 0.704,
    };
    let cia = |v: &str| -> f64 {
        match v {
            "P" => 0.275,
            "C" => 0.660,
            _ => 0.0,
        }
    };
    let impact = 10.41 * (1.0 - (1.0 - cia(c)) * (1.0 - cia(i)) * (1.0 - cia(a)));
    let exploitability = 20.0 * av * ac * au;
    let f_impact = if impact == 0.0 { 0.0 } else { 1.176 };
    let raw = (0.6 * impact + 0.4 * exploitability - 1.5) * f_impact;
    Ok((raw * 10.0).round() / 10.0)
}

const V4_SUB: &[&str] = &["X", "H", "L", "N"];
const V4_SUB_SAFETY: &[&str] = &["X", "S", "H", "L", "N"];

const V4_METRICS: Table = &[
    ("AV", &["N", "A", "L", "P"], true),
    ("AC", &["L", "H"], true),
    ("AT", &["N", "P"], true),
    ("PR", &["N", "L", "H"], true),
    ("UI", &["N", "P", "A"], true),
    ("VC", CIA3, true),
    ("VI", CIA3, true),
    ("VA", CIA3, true),
    ("SC", CIA3, true),
    ("SI", CIA3, true),
    ("SA", CIA3, true),
    ("E", &["X", "A", "P", "U"], false),
    ("CR", REQ, false),
    ("IR", REQ, false),
    ("AR", REQ, false),
    ("MAV", &["X", "N", "A", "L", "P"], false),
    ("MAC", &["X", "L", "H"], false),
    ("MAT", &["X", "N", "P"], false),
    ("MPR", &["X", "N", "L", "H"], false),
    ("MUI", &["X", "N", "P", "A"], false),
    ("MVC", V4_SUB, false),
    ("MVI", V4_SUB, false),
    ("MVA", V4_SUB, false),
    ("MSC", V4_SUB, false),
    ("MSI", V4_SUB_SAFETY, false),
    ("MSA", V4_SUB_SAFETY, false),
    ("S", &["X", "N", "P"], false),
    ("AU", &["X", "N", "Y"], false),
    ("R", &["X", "A", "U", "I"], false),
    ("V", &["X", "D", "C"], false),
    ("RE", &["X", "L", "M", "H"], false),
    ("U", &["X", "Clear", "Green", "Amber", "Red"], false),
];

fn v4(body: &str) -> Result<f64, String> {
    let base = check("4.0", body, V4_METRICS)?;
    // Only the validated base metrics reach the crate, so every input it sees is one of the
    // base vectors its test suite covers.
    let mut canonical = String::from("CVSS:4.0");
    for ((name, _, _), value) in V4_METRICS.iter().filter(|(_, _, is_base)| *is_base).zip(&base) {
        canonical.push('/');
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
    }
    let vector = cvss::v4::Vector::from_str(&canonical).map_err(|e| format!("CVSS 4.0 vector refused: {e}"))?;
    Ok(vector.score().value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundup_ignores_floating_point_noise() {
        assert_eq!(roundup(4.000_000_000_000_001), 4.0);
        assert_eq!(roundup(4.02), 4.1);
        assert_eq!(roundup(4.0), 4.0);
    }
}
