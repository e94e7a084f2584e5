//! CVSS base scores: published vectors with their published scores, every v2/v3 base vector
//! against the independent RustSec implementation, and the vectors that must be refused.

use std::str::FromStr;

use tollgate_evidence::cvss::score;

fn assert_scores(cases: &[(&str, f64)]) {
    for (vector, expected) in cases {
        match score(vector) {
            Ok(actual) => assert!((actual - expected).abs() < 1e-9, "{vector}: expected {expected}, got {actual}"),
            Err(e) => panic!("{vector}: expected {expected}, got error {e}"),
        }
    }
}

#[test]
fn v31_scores_match_published_vectors() {
    // NVD's and Red Hat's published base scores.
    assert_scores(&[
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:L/A:N", 7.2),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N", 7.5),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H", 5.9),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", 9.6),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:N/A:N", 4.1),
        ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:N/A:N", 4.9),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ]);
}

#[test]
fn v30_vectors_are_scored_too() {
    assert_scores(&[
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:L/A:N", 7.2),
        ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H", 5.9),
    ]);
}

#[test]
fn v2_scores_match_published_vectors() {
    assert_scores(&[
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
        ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0),
        ("AV:N/AC:L/Au:N/C:N/I:N/A:P", 5.0),
        ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3),
        ("AV:L/AC:L/Au:N/C:C/I:C/A:C", 7.2),
        ("AV:L/AC:H/Au:M/C:N/I:N/A:P", 0.8),
        ("AV:L/AC:M/Au:S/C:P/I:P/A:P", 4.1),
        ("AV:N/AC:L/Au:N/C:N/I:N/A:N", 0.0),
        // NVD's older parenthesised form and the unofficial prefix some tools write.
        ("(AV:N/AC:L/Au:N/C:P/I:P/A:P)", 7.5),
        ("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
    ]);
}

#[test]
fn v4_scores_match_red_hats_reference_vectors() {
    assert_scores(&[
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10.0),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:H/VA:L/SC:N/SI:H/SA:L", 9.2),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:L/SA:N", 6.9),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:N/VA:N/SC:L/SI:N/SA:L", 5.3),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N", 5.1),
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:N/SA:N", 2.1),
        ("CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:N/SI:H/SA:N", 4.0),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0),
    ]);
}

#[test]
fn metrics_beyond_the_base_group_never_change_the_score() {
    assert_scores(&[
        // An environmental "no impact here" would score 0.0; the base score stays.
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N/CR:X/IR:X/AR:X/MAV:X/MAC:X/MPR:X/MUI:X/MS:X/MC:N/MI:N/MA:N",
            7.5,
        ),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U", 9.8),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U", 9.3),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/MVC:N/MVI:N/MVA:N/S:N/U:Clear", 9.3),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P/E:U/RL:OF/RC:C/CDP:N/TD:N/CR:L/IR:L/AR:L", 7.5),
    ]);
}

#[test]
fn malformed_vectors_are_refused_with_the_reason() {
    let cases = [
        ("AAV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:H", "no version prefix"),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:Q", "`A:Q` is not valid in CVSS 2.0"),
        ("AV:N/AC:L/Au:N/C:P/I:P", "base metric `A` is missing"),
        ("CVSS:3.1/AAV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:H", "`AAV` is not a CVSS 3.1 metric"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "base metric `A` is missing"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:L", "`A` appears twice"),
        ("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "`AV:X` is not valid"),
        ("CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "unknown CVSS version `3.2`"),
        ("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "no version prefix"),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N", "`SA` is missing"),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:Z", "`E:Z` is not valid"),
        ("CVSS:3.1/", "is not a CVSS metric"),
        ("", "is not a CVSS metric"),
        ("high", "is not a CVSS metric"),
    ];
    for (vector, expected) in cases {
        match score(vector) {
            Ok(s) => panic!("{vector:?} scored {s}; expected an error containing {expected:?}"),
            Err(e) => assert!(e.contains(expected), "{vector:?}: {e:?} does not contain {expected:?}"),
        }
    }
    assert!(score(&format!("CVSS:3.1/{}", "AV:N/".repeat(200))).unwrap_err().contains("at most"));
}

/// Every combination of a version's base metric values, as vector bodies.
fn combinations(metrics: &[(&str, &[&str])]) -> Vec<String> {
    let mut out = vec![String::new()];
    for (name, values) in metrics {
        out = out
            .iter()
            .flat_map(|prefix| {
                values.iter().map(move |value| {
                    if prefix.is_empty() { format!("{name}:{value}") } else { format!("{prefix}/{name}:{value}") }
                })
            })
            .collect();
    }
    out
}

const V3_BASE: &[(&str, &[&str])] = &[
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "R"]),
    ("S", &["U", "C"]),
    ("C", &["H", "L", "N"]),
    ("I", &["H", "L", "N"]),
    ("A", &["H", "L", "N"]),
];

#[test]
fn every_v31_and_v30_base_vector_agrees_with_the_rustsec_implementation() {
    let bodies = combinations(V3_BASE);
    assert_eq!(bodies.len(), 2592);
    for version in ["3.0", "3.1"] {
        for body in &bodies {
            let vector = format!("CVSS:{version}/{body}");
            let ours = score(&vector).unwrap_or_else(|e| panic!("{vector}: {e}"));
            let theirs =
                cvss::v3::Vector::from_str(&vector).unwrap_or_else(|e| panic!("{vector}: {e}")).score().value();
            assert!((ours - theirs).abs() < 1e-9, "{vector}: ours {ours}, RustSec {theirs}");
        }
    }
}

#[test]
fn every_v2_base_vector_agrees_with_the_rustsec_implementation() {
    let bodies = combinations(&[
        ("AV", &["L", "A", "N"]),
        ("AC", &["H", "M", "L"]),
        ("Au", &["M", "S", "N"]),
        ("C", &["N", "P", "C"]),
        ("I", &["N", "P", "C"]),
        ("A", &["N", "P", "C"]),
    ]);
    assert_eq!(bodies.len(), 729);
    for vector in &bodies {
        let ours = score(vector).unwrap_or_else(|e| panic!("{vector}: {e}"));
        let theirs = cvss::v2::Vector::from_str(vector).unwrap_or_else(|e| panic!("{vector}: {e}")).score().value();
        assert!((ours - theirs).abs() < 1e-9, "{vector}: ours {ours}, RustSec {theirs}");
    }
}
