//! Transparency-log checkpoints: a C2SP `tlog-checkpoint` body (origin, tree size, root hash,
//! optional extension lines) inside a C2SP `signed-note`.
//!
//! Signature lines are `— <name> <base64(key hint || signature)>`. A line is the log's when
//! its name is the log's host (as in its base URL) and its key hint is the first four bytes
//! of the log id the trusted root gives; every such line must verify and at least one must
//! exist. Other lines (witness cosignatures, keys the root does not list) are ignored, as
//! the signed-note specification requires. Rekor v1 checkpoints sign SHA-256 of the text
//! with ECDSA; Rekor v2 ones sign the text with Ed25519; both go through the log key.

use crate::error::{Result, SigError};
use crate::json::decode_base64;
use crate::keys::EcdsaEncoding;
use crate::trust::Log;

const MAX_NOTE_BYTES: usize = 64 * 1024;
const MAX_SIGNATURE_LINES: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
}

struct NoteSignature {
    name: String,
    hint: [u8; 4],
    signature: Vec<u8>,
}

/// Verifies the log's signature on `note` and returns the checkpoint it signs.
pub fn verify(note: &str, log: &Log) -> Result<Checkpoint> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(SigError::malformed(format!("the checkpoint is {} bytes; at most {MAX_NOTE_BYTES}", note.len())));
    }
    let split = note.rfind("\n\n").ok_or_else(|| {
        SigError::malformed("the checkpoint is not a signed note: no blank line before its signatures")
    })?;
    let text = note.get(..=split).unwrap_or_default();
    let signatures = parse_signatures(note.get(split + 2..).unwrap_or_default())?;
    let checkpoint = parse_body(text)?;

    let name = log.note_name();
    let hint = log.key_id.get(..4).unwrap_or_default();
    let key = log.key()?;
    let mut verified = 0;
    for sig in signatures.iter().filter(|s| s.name == name && s.hint == hint) {
        key.verify_message(text.as_bytes(), &sig.signature, EcdsaEncoding::Der)
            .map_err(|e| SigError::invalid(format!("the checkpoint signature by {name} does not verify ({e})")))?;
        verified += 1;
    }
    if verified == 0 {
        let seen: Vec<String> = signatures.iter().map(|s| format!("{} {}", s.name, hex::encode(s.hint))).collect();
        return Err(SigError::invalid(format!(
            "the checkpoint carries no signature from the log {name} (key hint {}); it is signed by: {}",
            hex::encode(hint),
            if seen.is_empty() { "nobody".to_owned() } else { seen.join(", ") }
        )));
    }
    let origin_ok =
        checkpoint.origin == name || checkpoint.origin.strip_prefix(name).is_some_and(|rest| rest.starts_with(" - "));
    if !origin_ok {
        return Err(SigError::invalid(format!(
            "the checkpoint's origin is {:?}, which is not the log {name}",
            checkpoint.origin
        )));
    }
    Ok(checkpoint)
}

fn parse_signatures(block: &str) -> Result<Vec<NoteSignature>> {
    let bad = |why: String| SigError::malformed(format!("checkpoint signature block: {why}"));
    if block.is_empty() {
        return Err(bad("there are no signatures".to_owned()));
    }
    let Some(block) = block.strip_suffix('\n') else {
        return Err(bad("it does not end with a newline".to_owned()));
    };
    let mut out = Vec::new();
    for line in block.split('\n') {
        if out.len() == MAX_SIGNATURE_LINES {
            return Err(bad(format!("more than {MAX_SIGNATURE_LINES} signatures")));
        }
        let rest =
            line.strip_prefix("\u{2014} ").ok_or_else(|| bad(format!("{line:?} does not start with an em dash")))?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| bad(format!("{line:?} is not `— name signature`")))?;
        if name.is_empty() || b64.contains(' ') {
            return Err(bad(format!("{line:?} is not `— name signature`")));
        }
        let raw = decode_base64(b64).map_err(|e| bad(format!("signature of {name}: {e}")))?;
        if raw.len() < 5 {
            return Err(bad(format!("the signature of {name} is too short")));
        }
        let (hint, signature) = raw.split_at(4);
        let hint: [u8; 4] = hint.try_into().map_err(|_| bad("short key hint".to_owned()))?;
        out.push(NoteSignature { name: name.to_owned(), hint, signature: signature.to_vec() });
    }
    Ok(out)
}

/// `origin\nsize\nroot-hash\n[extension lines\n]`.
fn parse_body(text: &str) -> Result<Checkpoint> {
    let bad = |why: &str| SigError::malformed(format!("the checkpoint text: {why}"));
    let lines: Vec<&str> = text.strip_suffix('\n').unwrap_or(text).split('\n').collect();
    let [origin, size, root, ..] = lines.as_slice() else {
        return Err(bad("expected an origin, a tree size and a root hash line"));
    };
    if origin.is_empty() {
        return Err(bad("the origin line is empty"));
    }
    let canonical_decimal =
        !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) && (*size == "0" || !size.starts_with('0'));
    if !canonical_decimal {
        return Err(bad(&format!("the tree size {size:?} is not a decimal number")));
    }
    let size = size.parse::<u64>().map_err(|_| bad(&format!("the tree size {size:?} is too large")))?;
    let root: [u8; 32] = decode_base64(root)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| bad(&format!("the root hash {root:?} is not 32 bytes of base64")))?;
    Ok(Checkpoint { origin: (*origin).to_owned(), size, root })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_lines_are_required_in_order() {
        let root = crate::json::encode_base64(&[7u8; 32]);
        let ok = parse_body(&format!("log.example\n12\n{root}\nTimestamp: 1\n")).unwrap();
        assert_eq!((ok.origin.as_str(), ok.size, ok.root), ("log.example", 12, [7u8; 32]));
        for bad in [
            format!("12\n{root}\n"),
            "log.example\n12\n".to_owned(),
            format!("log.example\n{root}\n"),
            format!("log.example\n012\n{root}\n"),
        ] {
            assert!(parse_body(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signature_lines_are_strict() {
        assert!(parse_signatures("").is_err());
        assert!(parse_signatures("\u{2014} name AAAAAAA=").is_err(), "no final newline");
        assert!(parse_signatures("- name AAAAAAA=\n").is_err(), "hyphen, not em dash");
        assert!(parse_signatures("\u{2014} name AAAA\n").is_err(), "shorter than a key hint and a signature");
        let sigs = parse_signatures("\u{2014} a AQIDBAU=\n\u{2014} b/c AQIDBAUG\n").unwrap();
        assert_eq!(sigs.len(), 2);
        assert_eq!(sigs[1].name, "b/c");
        assert_eq!(sigs[1].hint, [1, 2, 3, 4]);
        assert_eq!(sigs[1].signature, [5, 6]);
    }
}
