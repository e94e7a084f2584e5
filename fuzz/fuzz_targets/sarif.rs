//! `tollgate_evidence::sarif::parse`: any bytes must give a result or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tollgate_evidence::sarif::parse(data);
});
