//! A backend-independent test story for the [`Ledger`] contract.
//!
//! Every backend must behave identically, so the contract is checked by one
//! shared story rather than by each backend's own tests. It is public, not
//! test-only, so that a backend in another crate (PostgreSQL, later) can run
//! it from its tests. It panics on the first broken promise, like any test.
//!
//! Its chapters: [`storage_story`] (one handle: appends, refusals, scans, proofs),
//! [`group_commit_story`] (for a backend that groups) and [`concurrency_story`] (several
//! handles on one store, on threads).

mod concurrency;

pub use concurrency::concurrency_story;

use crate::frame::{self, Frame};
use crate::merkle::{self, EMPTY_ROOT, Hash};
use crate::store::{Expectation, Ledger, LedgerError, MAX_STREAM_LEN, NewRecord, Record, StoredCheckpoint};
use crate::verify::{consistency_proof_between, inclusion_proof_for, verify};

fn rec(stream: &str, payload: &str) -> NewRecord {
    NewRecord { stream: stream.to_owned(), payload: payload.as_bytes().to_vec() }
}

fn exp(stream: &str, version: u64) -> Expectation {
    Expectation { stream: stream.to_owned(), version }
}

fn all_records(ledger: &dyn Ledger, from: u64) -> Vec<Record> {
    let mut out = Vec::new();
    ledger
        .scan(from, &mut |r| {
            out.push(r);
            Ok(())
        })
        .expect("scan");
    out
}

fn stream_records(ledger: &dyn Ledger, stream: &str, from_version: u64) -> Vec<Record> {
    let mut out = Vec::new();
    ledger
        .scan_stream(stream, from_version, &mut |r| {
            out.push(r);
            Ok(())
        })
        .expect("scan_stream");
    out
}

/// Everything observable about the log, to show a failed append changed
/// nothing.
fn snapshot(ledger: &dyn Ledger) -> (u64, Vec<StoredCheckpoint>, Vec<Record>) {
    (ledger.size().expect("size"), ledger.checkpoints().expect("checkpoints"), all_records(ledger, 0))
}

fn assert_rejected_without_effect(
    ledger: &mut dyn Ledger,
    expect: &[Expectation],
    records: &[NewRecord],
    check: impl FnOnce(&LedgerError) -> bool,
    what: &str,
) {
    let before = snapshot(ledger);
    let before_versions: Vec<u64> =
        ["orders", "invoices", "audit"].iter().map(|s| ledger.stream_version(s).expect("stream_version")).collect();
    match ledger.append(expect, records, 1) {
        Ok(a) => panic!("{what}: append should fail but wrote up to size {}", a.size),
        Err(e) => assert!(check(&e), "{what}: unexpected error {e:?}"),
    }
    assert_eq!(snapshot(ledger), before, "{what}: the log changed");
    let after_versions: Vec<u64> =
        ["orders", "invoices", "audit"].iter().map(|s| ledger.stream_version(s).expect("stream_version")).collect();
    assert_eq!(after_versions, before_versions, "{what}: versions changed");
}

fn checkpoint_root(ledger: &dyn Ledger, note: &str) -> (u64, Hash) {
    let cp = ledger.verifier().open_checkpoint(note).expect("checkpoint verifies with the ledger key");
    assert_eq!(cp.origin, ledger.origin(), "checkpoint origin");
    (cp.size, cp.root)
}

/// Runs the whole story against fresh ledgers from `new_ledger`, each of
/// which must be empty. Panics with a description of the first broken
/// promise.
pub fn storage_story(new_ledger: &mut dyn FnMut() -> Box<dyn Ledger>) {
    let mut ledger = new_ledger();
    let ledger: &mut dyn Ledger = ledger.as_mut();

    // An empty ledger: no events, one signed checkpoint for the empty tree.
    assert_eq!(ledger.size().unwrap(), 0);
    assert_eq!(ledger.stream_version("orders").unwrap(), 0);
    assert!(all_records(ledger, 0).is_empty());
    assert!(ledger.leaf_hashes(0).unwrap().is_empty());
    assert!(matches!(ledger.leaf_hashes(1), Err(LedgerError::OutOfRange { .. })));
    let initial = ledger.checkpoints().unwrap();
    assert_eq!(initial.len(), 1, "the empty ledger has one checkpoint");
    assert_eq!(initial[0].size, 0);
    assert_eq!(checkpoint_root(ledger, &initial[0].note), (0, EMPTY_ROOT));
    let report = verify(ledger, None).unwrap();
    assert!(report.intact, "empty ledger verifies: {:?}", report.problems);
    assert_eq!((report.events, report.root), (0, EMPTY_ROOT));

    // A first append to one stream.
    let a1 = ledger
        .append(
            &[exp("orders", 0)],
            &[rec("orders", "{\"n\":1}"), rec("orders", "{\"n\":2}"), rec("orders", "{\"n\":3}")],
            1_000,
        )
        .unwrap();
    assert_eq!((a1.first_seq, a1.size), (0, 3));
    assert_eq!(checkpoint_root(ledger, &a1.checkpoint), (3, a1.root));
    assert_eq!(a1.root, merkle::root(&ledger.leaf_hashes(3).unwrap()));
    assert_eq!(ledger.size().unwrap(), 3);
    assert_eq!(ledger.stream_version("orders").unwrap(), 3);
    assert_eq!(ledger.stream_version("invoices").unwrap(), 0);

    // Requests that must be refused before anything is written.
    assert_rejected_without_effect(
        ledger,
        &[exp("orders", 3)],
        &[],
        |e| matches!(e, LedgerError::EmptyAppend),
        "empty append",
    );
    assert_rejected_without_effect(
        ledger,
        &[exp("orders", 3)],
        &[rec("invoices", "{}")],
        |e| matches!(e, LedgerError::MissingExpectation { stream } if stream == "invoices"),
        "record without expectation",
    );
    assert_rejected_without_effect(
        ledger,
        &[exp("orders", 3), exp("orders", 3)],
        &[rec("orders", "{}")],
        |e| matches!(e, LedgerError::DuplicateExpectation { .. }),
        "duplicate expectation",
    );
    assert_rejected_without_effect(
        ledger,
        &[exp("", 0)],
        &[rec("", "{}")],
        |e| matches!(e, LedgerError::InvalidStreamName { .. }),
        "empty stream name",
    );
    let too_long = "s".repeat(MAX_STREAM_LEN + 1);
    assert_rejected_without_effect(
        ledger,
        &[exp(&too_long, 0)],
        &[rec(&too_long, "{}")],
        |e| matches!(e, LedgerError::InvalidStreamName { .. }),
        "stream name too long",
    );

    // A stale expectation conflicts and writes nothing.
    assert_rejected_without_effect(
        ledger,
        &[exp("orders", 2)],
        &[rec("orders", "{\"n\":4}")],
        |e| matches!(e, LedgerError::Conflict { stream, expected: 2, actual: 3 } if stream == "orders"),
        "stale expectation",
    );
    // Expecting a stream to be absent when it exists conflicts too.
    assert_rejected_without_effect(
        ledger,
        &[exp("orders", 0)],
        &[rec("orders", "{}")],
        |e| matches!(e, LedgerError::Conflict { expected: 0, actual: 3, .. }),
        "expected absent stream",
    );

    // A multi-stream append is atomic and versions each stream separately.
    let a2 = ledger
        .append(
            &[exp("orders", 3), exp("invoices", 0)],
            &[rec("invoices", "{\"i\":1}"), rec("orders", "{\"n\":4}"), rec("invoices", "{\"i\":2}")],
            2_000,
        )
        .unwrap();
    assert_eq!((a2.first_seq, a2.size), (3, 6));
    assert_eq!(ledger.stream_version("orders").unwrap(), 4);
    assert_eq!(ledger.stream_version("invoices").unwrap(), 2);

    // One stale stream among several: nothing at all is written.
    assert_rejected_without_effect(
        ledger,
        &[exp("orders", 4), exp("invoices", 1)],
        &[rec("orders", "{\"n\":5}"), rec("invoices", "{\"i\":3}")],
        |e| matches!(e, LedgerError::Conflict { stream, expected: 1, actual: 2 } if stream == "invoices"),
        "one stale stream of two",
    );

    // An expectation on a stream that gets no record guards the decision.
    assert_rejected_without_effect(
        ledger,
        &[exp("orders", 4), exp("invoices", 1)],
        &[rec("orders", "{\"n\":5}")],
        |e| matches!(e, LedgerError::Conflict { expected: 1, actual: 2, .. }),
        "stale read guard",
    );
    let longest = "l".repeat(MAX_STREAM_LEN);
    let a3 = ledger
        .append(
            &[exp("orders", 4), exp("invoices", 2), exp(&longest, 0)],
            &[rec("orders", "{\"n\":5}"), rec(&longest, "")],
            3_000,
        )
        .unwrap();
    assert_eq!((a3.first_seq, a3.size), (6, 8));
    assert_eq!(ledger.stream_version("invoices").unwrap(), 2);
    assert_eq!(ledger.stream_version(&longest).unwrap(), 1);

    // Larger payloads and batches.
    let big = vec![b'x'; 100_000];
    let batch: Vec<NewRecord> = (0..50)
        .map(|i| NewRecord {
            stream: format!("batch-{}", i % 5),
            payload: if i == 7 { big.clone() } else { format!("{{\"b\":{i}}}").into_bytes() },
        })
        .collect();
    let expectations: Vec<Expectation> = (0..5).map(|i| exp(&format!("batch-{i}"), 0)).collect();
    let a4 = ledger.append(&expectations, &batch, 4_000).unwrap();
    assert_eq!((a4.first_seq, a4.size), (8, 58));
    for i in 0..5 {
        assert_eq!(ledger.stream_version(&format!("batch-{i}")).unwrap(), 10);
    }

    // Scans return every event once, in order, faithful to what was appended.
    let records = all_records(ledger, 0);
    assert_eq!(records.len(), 58);
    let expected_heads = [
        ("orders", 1, "{\"n\":1}", 1_000),
        ("orders", 2, "{\"n\":2}", 1_000),
        ("orders", 3, "{\"n\":3}", 1_000),
        ("invoices", 1, "{\"i\":1}", 2_000),
        ("orders", 4, "{\"n\":4}", 2_000),
        ("invoices", 2, "{\"i\":2}", 2_000),
        ("orders", 5, "{\"n\":5}", 3_000),
    ];
    for (i, (stream, version, payload, at)) in expected_heads.iter().enumerate() {
        let r = &records[i];
        assert_eq!(r.seq, i as u64);
        assert_eq!(
            (r.stream.as_str(), r.stream_version, r.payload.as_slice(), r.recorded_at),
            (*stream, *version, payload.as_bytes(), *at),
            "record {i}"
        );
    }
    assert_eq!(records[7].stream, longest);
    assert!(records[7].payload.is_empty());
    assert_eq!(records[15].payload, big);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64, "scan order");
    }
    assert_eq!(all_records(ledger, 56).iter().map(|r| r.seq).collect::<Vec<_>>(), [56, 57]);
    assert!(all_records(ledger, 58).is_empty());
    assert!(all_records(ledger, 1_000).is_empty());
    assert!(all_records(ledger, u64::MAX).is_empty());
    let mut seen = 0;
    let stopped = ledger.scan(0, &mut |_| {
        seen += 1;
        if seen == 2 { Err(LedgerError::EmptyAppend) } else { Ok(()) }
    });
    assert!(matches!(stopped, Err(LedgerError::EmptyAppend)), "callback error propagates");
    assert_eq!(seen, 2, "scan stops at the callback's error");

    // One stream's records from a version on: exactly what the whole scan holds of that stream,
    // in order, and nothing of streams whose names merely begin alike.
    for stream in ["orders", "invoices", "batch-2", longest.as_str()] {
        let of_stream: Vec<Record> = records.iter().filter(|r| r.stream == stream).cloned().collect();
        assert_eq!(stream_records(ledger, stream, 0), of_stream, "scan_stream({stream:?}, 0)");
        assert_eq!(stream_records(ledger, stream, 1), of_stream, "scan_stream({stream:?}, 1)");
        let versions: Vec<u64> = of_stream.iter().map(|r| r.stream_version).collect();
        assert_eq!(versions, (1..=of_stream.len() as u64).collect::<Vec<_>>(), "versions of {stream:?}");
    }
    let tail: Vec<(u64, u64)> = stream_records(ledger, "orders", 4).iter().map(|r| (r.seq, r.stream_version)).collect();
    assert_eq!(tail, [(4, 4), (6, 5)]);
    assert_eq!(stream_records(ledger, "batch-2", 10).len(), 1);
    for (stream, from) in [("orders", 6), ("orders", u64::MAX), ("batch", 0), ("order", 0), ("absent", 0)] {
        assert!(stream_records(ledger, stream, from).is_empty(), "scan_stream({stream:?}, {from}) is empty");
    }
    let mut seen = 0;
    let stopped = ledger.scan_stream("batch-0", 0, &mut |_| {
        seen += 1;
        if seen == 3 { Err(LedgerError::EmptyAppend) } else { Ok(()) }
    });
    assert!(matches!(stopped, Err(LedgerError::EmptyAppend)), "scan_stream: callback error propagates");
    assert_eq!(seen, 3, "scan_stream stops at the callback's error");

    // Leaf hashes are the RFC 6962 hashes of the exact frames.
    let hashes = ledger.leaf_hashes(58).unwrap();
    assert_eq!(hashes.len(), 58);
    for (r, h) in records.iter().zip(&hashes) {
        let frame = Frame {
            seq: r.seq,
            stream_version: r.stream_version,
            recorded_at: r.recorded_at,
            stream: &r.stream,
            payload: &r.payload,
        }
        .encode()
        .unwrap();
        assert_eq!(frame::decode(&frame).unwrap().payload, r.payload.as_slice());
        assert_eq!(merkle::leaf_hash(&frame), *h, "leaf hash of event {}", r.seq);
        assert_eq!(r.leaf_hash, *h);
    }
    assert_eq!(ledger.leaf_hashes(5).unwrap(), hashes[..5]);
    assert!(matches!(ledger.leaf_hashes(59), Err(LedgerError::OutOfRange { .. })));

    // One checkpoint per append, each signed, each with the right root.
    let checkpoints = ledger.checkpoints().unwrap();
    let sizes: Vec<u64> = checkpoints.iter().map(|c| c.size).collect();
    assert_eq!(sizes, [0, 3, 6, 8, 58]);
    for c in &checkpoints {
        let (size, root) = checkpoint_root(ledger, &c.note);
        assert_eq!(size, c.size);
        let n = usize::try_from(size).unwrap();
        assert_eq!(root, merkle::root(&hashes[..n]), "root at size {size}");
    }
    let latest = ledger.latest_checkpoint().unwrap().unwrap();
    assert_eq!(latest.note, a4.checkpoint);
    assert_eq!(checkpoints.last(), Some(&latest));

    // Proofs from the stored leaves verify against the signed roots.
    for &(seq, size) in &[(0u64, 3u64), (2, 3), (4, 6), (7, 8), (15, 58), (57, 58)] {
        let proof = inclusion_proof_for(ledger, seq, size).unwrap();
        let n = usize::try_from(size).unwrap();
        let root = merkle::root(&hashes[..n]);
        let leaf = hashes[usize::try_from(seq).unwrap()];
        merkle::verify_inclusion(&leaf, seq, size, &proof, &root).unwrap();
    }
    for pair in checkpoints.windows(2) {
        let (s1, r1) = checkpoint_root(ledger, &pair[0].note);
        let (s2, r2) = checkpoint_root(ledger, &pair[1].note);
        if s1 == 0 {
            continue;
        }
        let proof = consistency_proof_between(ledger, s1, s2).unwrap();
        merkle::verify_consistency(s1, s2, &proof, &r1, &r2).unwrap();
    }
    assert!(inclusion_proof_for(ledger, 58, 58).is_err());
    assert!(consistency_proof_between(ledger, 3, 59).is_err());

    // The whole log verifies, also against a checkpoint kept from earlier.
    let report = verify(ledger, Some(&a2.checkpoint)).unwrap();
    assert!(report.intact, "verify: {:?}", report.problems);
    assert_eq!(report.events, 58);
    assert_eq!(report.root, a4.root);
    assert_eq!(report.checkpoints_checked, 5);

    // A rejected append after all this still leaves everything as it was,
    // root included.
    assert_rejected_without_effect(
        ledger,
        &[exp("orders", 5), exp("batch-0", 9)],
        &[rec("orders", "{}"), rec("batch-0", "{}")],
        |e| matches!(e, LedgerError::Conflict { .. }),
        "late conflict",
    );
    assert_eq!(verify(ledger, None).unwrap().root, a4.root);

    // A second ledger starts empty and independent of the first.
    let other = new_ledger();
    assert_eq!(other.size().unwrap(), 0);
    assert_eq!(other.stream_version("orders").unwrap(), 0);
    assert!(other.verifier().open_checkpoint(&a1.checkpoint).is_err(), "each ledger signs with its own key");
}

/// The group commit chapter, for a backend that groups ([`Ledger::begin_group`]): appends in a
/// group are each all-or-nothing, become durable together under one checkpoint, and a group
/// abandoned keeps nothing. `reopen` gives a second handle on the same log (another process's
/// view: it sees only what is committed).
pub fn group_commit_story(ledger: &mut dyn Ledger, reopen: &mut dyn FnMut() -> Box<dyn Ledger>) {
    let a = ledger.append(&[exp("orders", 0)], &[rec("orders", "{\"n\":1}")], 1).unwrap();
    let checkpoints = ledger.checkpoints().unwrap().len();

    // A group requested and idle holds nothing: another writer appends meanwhile.
    ledger.begin_group().unwrap();
    let mut other = reopen();
    other.append(&[exp("invoices", 0)], &[rec("invoices", "{}")], 2).unwrap();
    drop(other);

    // Three appends in the group, the middle one refused: the other two stand.
    let g1 = ledger.append(&[exp("orders", 1)], &[rec("orders", "{\"n\":2}")], 3).unwrap();
    assert_eq!((g1.first_seq, g1.size), (2, 3), "the group's append follows the other writer's");
    assert!(matches!(ledger.append(&[exp("orders", 1)], &[rec("orders", "{}")], 3), Err(LedgerError::Conflict { .. })));
    let g3 = ledger
        .append(&[exp("orders", 2), exp("audit", 0)], &[rec("orders", "{\"n\":3}"), rec("audit", "{}")], 4)
        .unwrap();
    assert_eq!(g3.size, 5);
    assert_eq!(ledger.size().unwrap(), 5, "the group's writer reads its own appends");
    assert_eq!(reopen().size().unwrap(), 2, "nothing of the group is visible before it commits");

    // Committed: durable together, under one signed checkpoint of the last size.
    let note = ledger.commit_group().unwrap().expect("a checkpoint for the group");
    assert_eq!(checkpoint_root(ledger, &note).0, 5);
    assert_eq!(ledger.checkpoints().unwrap().len(), checkpoints + 2, "the other writer's and the group's");
    let seen = reopen();
    assert_eq!(seen.size().unwrap(), 5);
    assert_eq!(seen.stream_version("orders").unwrap(), 3);
    let report = verify(seen.as_ref(), Some(&a.checkpoint)).unwrap();
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!(ledger.commit_group().unwrap(), None, "no group open: nothing to commit");

    // Abandoned: nothing of it is kept.
    ledger.begin_group().unwrap();
    ledger.append(&[exp("orders", 3)], &[rec("orders", "{\"n\":4}")], 5).unwrap();
    ledger.abandon_group();
    assert_eq!(ledger.size().unwrap(), 5);
    assert_eq!(ledger.stream_version("orders").unwrap(), 3);
    assert_eq!(ledger.checkpoints().unwrap().len(), checkpoints + 2);
    assert!(verify(ledger, None).unwrap().intact);
}
