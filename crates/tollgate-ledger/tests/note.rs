//! Signed notes and checkpoints: compatibility with Go's
//! golang.org/x/mod/sumdb/note, round trips, and rejection of tampering.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tollgate_ledger::merkle::leaf_hash;
use tollgate_ledger::note::{Checkpoint, NoteError, NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint};

// The example key, text and signatures of the Go package's documentation and
// tests (note.go, note_test.go).
const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str =
    "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn go_note() -> String {
    format!("{GO_TEXT}\n{PETER_SIG}")
}

#[test]
fn signs_byte_for_byte_like_go() {
    let signer = NoteSigner::parse(GO_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.to_private_key_string(), GO_SKEY);
    assert_eq!(signer.verifier().to_string(), GO_VKEY);
    // Ed25519 is deterministic, so the signature must be the Go one.
    assert_eq!(signer.sign_note(GO_TEXT).unwrap(), go_note());
}

#[test]
fn opens_go_notes_and_ignores_unknown_signatures() {
    let peter = NoteVerifier::parse(GO_VKEY).unwrap();
    let enoch = NoteVerifier::parse(ENOCH_VKEY).unwrap();
    assert_eq!(peter.to_string(), GO_VKEY);
    assert_eq!(enoch.key_id(), 0xaf0cfe78);
    let both = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert_eq!(peter.open_note(&both).unwrap(), GO_TEXT);
    assert_eq!(enoch.open_note(&both).unwrap(), GO_TEXT);
    assert!(matches!(enoch.open_note(&go_note()), Err(NoteError::MissingSignature { .. })));
    // Repeated signatures are tolerated, as in Go.
    let repeated = format!("{GO_TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}");
    assert_eq!(peter.open_note(&repeated).unwrap(), GO_TEXT);
}

#[test]
fn rejects_the_malformed_notes_go_rejects() {
    let peter = NoteVerifier::parse(GO_VKEY).unwrap();
    let bad = [
        GO_TEXT.to_owned(),
        format!("{GO_TEXT}\n"),
        format!("{GO_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\u{1}{GO_TEXT}\n{PETER_SIG}"),
        format!(
            "{GO_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{GO_TEXT}\n{PETER_SIG}Unexpected line.\n"),
        format!("{GO_TEXT}\n{}", PETER_SIG.repeat(101)),
        format!(
            "{GO_TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        ),
        format!("{GO_TEXT}\n\u{2014} PeterNeumann\n"),
        format!("{GO_TEXT}\n\u{2014} PeterNeumann AAAA\n"),
        format!("{GO_TEXT}\n\u{2014} PeterNeumann not*base64\n"),
        format!("{GO_TEXT}\r\n{PETER_SIG}"),
    ];
    for note in &bad {
        assert!(
            matches!(peter.open_note(note), Err(NoteError::MalformedNote(_))),
            "accepted or misjudged: {note:?} -> {:?}",
            peter.open_note(note)
        );
    }
    // A corrupted signature from the known key rejects the note (Go's test).
    let corrupted = format!("{GO_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert!(matches!(peter.open_note(&corrupted), Err(NoteError::InvalidSignature { .. })));
    // An edited text no longer matches its signature.
    let edited = go_note().replace("answer", "answers");
    assert!(matches!(peter.open_note(&edited), Err(NoteError::InvalidSignature { .. })));
}

#[test]
fn rejects_mangled_keys_like_go() {
    assert!(NoteVerifier::parse(GO_VKEY).is_ok());
    assert!(NoteSigner::parse(GO_SKEY).is_ok());
    for key in [GO_VKEY, GO_SKEY] {
        let b = key.as_bytes();
        let parse = |s: &str| {
            if key == GO_VKEY { NoteVerifier::parse(s).is_ok() } else { NoteSigner::parse(s).is_ok() }
        };
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if (i, j) == (0, b.len()) {
                    continue;
                }
                if let Ok(s) = std::str::from_utf8(&b[i..j]) {
                    assert!(!parse(s), "accepted substring {s:?}");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&m) {
                assert!(!parse(s), "accepted mangled {s:?}");
            }
        }
    }
    // Wrong key length and unknown algorithm, each with an adjusted key id.
    assert!(NoteVerifier::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==").is_err());
    assert!(matches!(
        NoteVerifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn key_strings_round_trip_and_debug_hides_the_secret() {
    let signer = NoteSigner::generate("ledger.example/tollgate").unwrap();
    let skey = signer.to_private_key_string();
    assert!(skey.starts_with("PRIVATE+KEY+ledger.example/tollgate+"));
    let again = NoteSigner::parse(&skey).unwrap();
    assert_eq!(again.verifier(), signer.verifier());
    let vkey = signer.verifier().to_string();
    assert_eq!(NoteVerifier::parse(&vkey).unwrap(), signer.verifier());
    // PRIVATE+KEY+<name>+<hash>+<base64>: the base64 key may itself hold '+', so split from the left.
    let secret = skey.splitn(5, '+').nth(4).unwrap();
    assert!(secret.len() >= 44, "{skey}");
    assert!(!format!("{signer:?}").contains(secret));
    assert!(format!("{signer:?}").contains("ledger.example/tollgate"));
    assert_ne!(
        NoteSigner::generate("a").unwrap().verifier(),
        NoteSigner::generate("a").unwrap().verifier(),
        "fresh randomness per key"
    );
    for name in ["", "has space", "has+plus", "tab\there"] {
        assert!(matches!(NoteSigner::generate(name), Err(NoteError::InvalidName(_))));
    }
}

fn sample() -> (NoteSigner, Checkpoint) {
    let signer = NoteSigner::generate("ledger.example/log").unwrap();
    let cp = Checkpoint { origin: "ledger.example/log".into(), size: 20852163, root: leaf_hash(b"root") };
    (signer, cp)
}

#[test]
fn checkpoint_round_trip() {
    let (signer, cp) = sample();
    let note = sign_checkpoint(&signer, &cp).unwrap();
    let mut lines = note.lines();
    assert_eq!(lines.next(), Some("ledger.example/log"));
    assert_eq!(lines.next(), Some("20852163"));
    assert_eq!(lines.next(), Some(STANDARD.encode(cp.root).as_str()));
    assert_eq!(lines.next(), Some(""));
    assert!(lines.next().unwrap().starts_with("\u{2014} ledger.example/log "));
    assert_eq!(lines.next(), None);
    assert_eq!(open_checkpoint(&note, &signer.verifier()).unwrap(), cp);

    let empty = Checkpoint { size: 0, ..cp.clone() };
    let note = signer.sign_checkpoint(&empty).unwrap();
    assert_eq!(open_checkpoint(&note, &signer.verifier()).unwrap(), empty);

    // Witness cosignatures from other keys do not disturb the log's own.
    let witness = NoteSigner::generate("witness.example").unwrap();
    let body = cp.body().unwrap();
    let cosigned = witness.sign_note(&body).unwrap();
    let own_line = note_sig_line(&sign_checkpoint(&signer, &cp).unwrap());
    let both = format!("{cosigned}{own_line}");
    assert_eq!(open_checkpoint(&both, &signer.verifier()).unwrap(), cp);
    // Extension lines are allowed by the format and ignored.
    let extended = signer.sign_note(&format!("{body}extension data\n")).unwrap();
    assert_eq!(open_checkpoint(&extended, &signer.verifier()).unwrap(), cp);
}

fn note_sig_line(note: &str) -> String {
    let start = note.rfind('\u{2014}').unwrap();
    note[start..].to_owned()
}

#[test]
fn checkpoint_tampering_is_rejected() {
    let (signer, cp) = sample();
    let verifier = signer.verifier();
    let note = sign_checkpoint(&signer, &cp).unwrap();
    let sig = note_sig_line(&note);
    let root = STANDARD.encode(cp.root);
    let resign = |body: &str| signer.sign_note(body).unwrap();

    // Edits under the existing signature.
    for edited in [
        note.replace("20852163", "20852164"),
        note.replace("20852163", "2085216"),
        note.replace(&root, &STANDARD.encode(leaf_hash(b"other"))),
        note.replace("ledger.example/log\n2", "ledger.example/lag\n2"),
    ] {
        assert!(matches!(open_checkpoint(&edited, &verifier), Err(NoteError::InvalidSignature { .. })), "{edited:?}");
    }
    // A signature byte flipped.
    let mut raw = STANDARD.decode(sig.trim_end().rsplit(' ').next().unwrap()).unwrap();
    raw[10] ^= 1;
    let flipped = note.replace(sig.trim_end().rsplit(' ').next().unwrap(), &STANDARD.encode(&raw));
    assert!(matches!(open_checkpoint(&flipped, &verifier), Err(NoteError::InvalidSignature { .. })));
    // Another key, or no signature by this key at all.
    let other = NoteSigner::generate("ledger.example/log").unwrap();
    assert!(matches!(
        open_checkpoint(&sign_checkpoint(&other, &cp).unwrap(), &verifier),
        Err(NoteError::MissingSignature { .. })
    ));
    assert!(open_checkpoint(&note, &other.verifier()).is_err());
    let unsigned = note.replace(&sig, "");
    assert!(open_checkpoint(&unsigned, &verifier).is_err());
    // Bodies that are validly signed but not checkpoints.
    for body in [
        format!("ledger.example/log\n+5\n{root}\n"),
        format!("ledger.example/log\n05\n{root}\n"),
        format!("ledger.example/log\n1e3\n{root}\n"),
        format!("ledger.example/log\n 5\n{root}\n"),
        format!("ledger.example/log\n-1\n{root}\n"),
        format!("ledger.example/log\n18446744073709551616\n{root}\n"),
        format!("ledger.example/log\n\n{root}\n"),
        "ledger.example/log\n5\n".to_owned(),
        "ledger.example/log\n5\nAAAA\n".to_owned(),
        format!("ledger.example/log\n5\n{}\n", STANDARD.encode([0u8; 31])),
        format!("ledger.example/log\n5\n{}\n", STANDARD.encode([0u8; 33])),
        "ledger.example/log\n5\nnot base64!\n".to_owned(),
    ] {
        assert!(
            matches!(open_checkpoint(&resign(&body), &verifier), Err(NoteError::MalformedCheckpoint(_))),
            "{body:?}"
        );
    }
    // A validly signed checkpoint for a different origin.
    let foreign = resign(&format!("other.example/log\n5\n{root}\n"));
    assert!(matches!(open_checkpoint(&foreign, &verifier), Err(NoteError::OriginMismatch { .. })));
    // Malformed note structure.
    assert!(open_checkpoint(&note.replace("\n\n", "\n"), &verifier).is_err());
    assert!(open_checkpoint(&format!("{note}junk\n"), &verifier).is_err());
    assert!(open_checkpoint("", &verifier).is_err());
}
