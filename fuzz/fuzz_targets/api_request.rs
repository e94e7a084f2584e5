//! `tollgate::serve::decode`: the HTTP API's request decoding, on bytes anyone can send. The
//! first byte picks the method and content type, the next up to 64 bytes (to a newline) are the
//! path and query, the rest is the body. Every request must decode to a command line or be
//! refused with a 4xx; a panic or a 5xx is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::serve::decode;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let content_type = match selector % 4 {
        0 => Some("application/json"),
        1 => Some("application/octet-stream"),
        2 => None,
        _ => Some("text/plain"),
    };
    let get = selector & 0x80 != 0;
    let split = rest.iter().take(64).position(|&b| b == b'\n').unwrap_or(rest.len().min(64));
    let (target, body) = rest.split_at(split);
    let target = String::from_utf8_lossy(target);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (&*target, None),
    };
    let decoded = decode::request(get, content_type, path, query, body)
        .and_then(|request| decode::command_line(&request.words, &request.args).map(drop));
    if let Err(e) = decoded {
        assert!(e.status.is_client_error(), "{} {}: {}", e.status, e.code, e.message);
    }
});
