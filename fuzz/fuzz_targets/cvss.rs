//! CVSS base scores from arbitrary strings: a score in 0.0..=10.0 or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|vector: &str| {
    if let Ok(score) = tollgate_evidence::cvss::score(vector) {
        // A base score outside its range would be a bug, as a panic would.
        assert!((0.0..=10.0).contains(&score), "score {score} for {vector:?}");
    }
});
