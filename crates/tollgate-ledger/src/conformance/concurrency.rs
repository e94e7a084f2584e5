//! The concurrency chapter of the storage story: several handles on one store, as several
//! processes or a server's threads hold them.
//!
//! A backend serialises appenders with its own locks or isolation, and that is exactly what
//! its single-handle tests cannot show. The chapter races handles on threads: they synchronise
//! on barriers and channels, never on sleeps, and nothing is asserted about timing, so it
//! holds on a loaded machine. A writer that finds the store busy ([`LedgerError::Locked`],
//! which writes nothing) tries again; any other error fails the story.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Barrier, Mutex};
use std::thread;

use super::{all_records, checkpoint_root, exp, rec, snapshot, stream_records};
use crate::merkle;
use crate::store::{Appended, Expectation, Ledger, LedgerError, NewRecord, Record};
use crate::verify::verify;

/// A handle on the shared store, for one thread.
type Handle = Box<dyn Ledger + Send>;

/// Rounds of the race for one version.
const ROUNDS: u64 = 4;
/// Threads appending to streams of their own.
const WRITERS: usize = 4;
/// Appends per writer thread.
const APPENDS: u64 = 8;
/// Records in each append a reader watches for.
const PARTS: u64 = 3;
/// How often a busy store is tried again before the story gives up.
const BUSY_TRIES: usize = 100;

/// Runs the concurrency chapter. `open` gives a new handle on one store, the same store every
/// time, which must be empty when the story begins; handles are moved to other threads.
/// Panics with a description of the first broken promise.
pub fn concurrency_story(open: &mut dyn FnMut() -> Handle) {
    let start = open();
    assert_eq!(start.size().expect("size"), 0, "the store starts empty");
    drop(start);
    let mut appends = race_for_one_version(open);
    appends += distinct_streams_all_land(open);
    appends += readers_see_whole_appends(open);
    whole_log_holds_together(open().as_ref(), appends);
}

/// Appends, trying again while another writer holds the store.
fn append_when_free(
    ledger: &mut dyn Ledger,
    expect: &[Expectation],
    records: &[NewRecord],
    recorded_at: i64,
) -> Result<Appended, LedgerError> {
    for _ in 1..BUSY_TRIES {
        match ledger.append(expect, records, recorded_at) {
            Err(LedgerError::Locked { .. }) => {}
            done => return done,
        }
    }
    ledger.append(expect, records, recorded_at)
}

/// Two handles read the same version of a stream and append expecting it: one wins, the other
/// gets a conflict naming the stream, what it expected and what it found, and nothing of the
/// loser is written. Returns the number of appends made.
fn race_for_one_version(open: &mut dyn FnMut() -> Handle) -> u64 {
    let mut handles = [open(), open()];
    for round in 0..ROUNDS {
        let seen = handles[0].stream_version("race").expect("stream_version");
        assert_eq!(handles[1].stream_version("race").expect("stream_version"), seen, "both handles read one version");
        let (size, checkpoints, log) = snapshot(handles[0].as_ref());
        let barrier = Barrier::new(handles.len());
        let outcomes: Vec<Result<Appended, LedgerError>> = thread::scope(|s| {
            let racers: Vec<_> = (0..)
                .zip(handles.iter_mut())
                .map(|(who, ledger)| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let records =
                            [rec("race", &format!("{round}:{who}:0")), rec("race", &format!("{round}:{who}:1"))];
                        barrier.wait();
                        append_when_free(ledger.as_mut(), &[exp("race", seen)], &records, round_time(round))
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().expect("racing thread")).collect()
        });

        let (won, lost): (Vec<_>, Vec<_>) = (0..).zip(outcomes).partition(|(_, o)| o.is_ok());
        assert_eq!((won.len(), lost.len()), (1, 1), "round {round}: exactly one of two racers wins");
        let (winner, loser) = (won[0].0, lost[0].0);
        match &lost[0].1 {
            Err(LedgerError::Conflict { stream, expected, actual }) => {
                assert_eq!(
                    (stream.as_str(), *expected, *actual),
                    ("race", seen, seen + 2),
                    "round {round}: the conflict"
                );
            }
            other => panic!("round {round}: the loser should get a conflict, got {other:?}"),
        }
        let ledger = handles[0].as_ref();
        let after = all_records(ledger, 0);
        assert_eq!(after[..log.len()], log[..], "round {round}: the log before the race is untouched");
        let added: Vec<&[u8]> = after[log.len()..].iter().map(|r| r.payload.as_slice()).collect();
        let winners = [format!("{round}:{winner}:0"), format!("{round}:{winner}:1")];
        assert_eq!(added, winners.iter().map(|p| p.as_bytes()).collect::<Vec<_>>(), "round {round}: the winner only");
        assert!(
            !after.iter().any(|r| r.payload.starts_with(format!("{round}:{loser}:").as_bytes())),
            "round {round}: nothing of the loser is written"
        );
        assert_eq!(ledger.size().expect("size"), size + 2);
        assert_eq!(ledger.stream_version("race").expect("stream_version"), seen + 2);
        assert_eq!(ledger.checkpoints().expect("checkpoints").len(), checkpoints.len() + 1, "one checkpoint");
    }
    ROUNDS
}

/// Threads append to streams of their own at once: every append lands, in one gap-free
/// sequence, each signed. Returns the number of appends made.
fn distinct_streams_all_land(open: &mut dyn FnMut() -> Handle) -> u64 {
    let size_before = open().size().expect("size");
    let handles: Vec<Handle> = (0..WRITERS).map(|_| open()).collect();
    let barrier = Barrier::new(WRITERS);
    let appended: Vec<Vec<Appended>> = thread::scope(|s| {
        let writers: Vec<_> = handles
            .into_iter()
            .enumerate()
            .map(|(w, mut ledger)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let stream = format!("writer-{w}");
                    let mut version = 0;
                    barrier.wait();
                    (0..APPENDS)
                        .map(|i| {
                            let records: Vec<NewRecord> =
                                (0..1 + i % 3).map(|k| rec(&stream, &format!("{w}:{i}:{k}"))).collect();
                            let expect = [exp(&stream, version)];
                            let appended = append_when_free(ledger.as_mut(), &expect, &records, round_time(i))
                                .unwrap_or_else(|e| panic!("writer {w}, append {i}: {e}"));
                            version += records.len() as u64;
                            appended
                        })
                        .collect()
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().expect("writer thread")).collect()
    });

    let ledger = open();
    let ledger = ledger.as_ref();
    let mut all: Vec<&Appended> = appended.iter().flatten().collect();
    all.sort_by_key(|a| a.first_seq);
    let mut next = size_before;
    for a in &all {
        assert_eq!(a.first_seq, next, "appends follow each other without gaps or overlaps");
        next = a.size;
    }
    assert_eq!(ledger.size().expect("size"), next, "the sizes add up");
    let hashes = ledger.leaf_hashes(next).expect("leaf_hashes");
    for a in &all {
        assert_eq!(checkpoint_root(ledger, &a.checkpoint), (a.size, a.root), "an append's checkpoint");
        let n = usize::try_from(a.size).expect("size");
        assert_eq!(a.root, merkle::root(&hashes[..n]), "the checkpoint at {} covers the log up to it", a.size);
    }
    for w in 0..WRITERS {
        let stream = format!("writer-{w}");
        let payloads: Vec<String> = stream_records(ledger, &stream, 0)
            .iter()
            .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
            .collect();
        let written: Vec<String> =
            (0..APPENDS).flat_map(|i| (0..1 + i % 3).map(move |k| format!("{w}:{i}:{k}"))).collect();
        assert_eq!(payloads, written, "{stream} holds what its writer wrote, in order");
    }
    all.len() as u64
}

/// A reader scans while writers append records in threes: every scan is a prefix of the log
/// that ends where an append ends, never inside one. Returns the number of appends made.
fn readers_see_whole_appends(open: &mut dyn FnMut() -> Handle) -> u64 {
    const WHOLE_WRITERS: usize = 2;
    let reader = open();
    let size_before = reader.size().expect("size");
    let writers: Vec<Handle> = (0..WHOLE_WRITERS).map(|_| open()).collect();
    // Writers only hold a sender: the channel disconnects when the last writer is done, even
    // by a panic, so the reader cannot wait forever.
    let (writing, writers_done) = mpsc::channel::<()>();
    let ends = Mutex::new(vec![size_before]);
    let barrier = Barrier::new(WHOLE_WRITERS + 1);
    let scanned: Vec<usize> = thread::scope(|s| {
        for (w, mut ledger) in writers.into_iter().enumerate() {
            let (barrier, ends, writing) = (&barrier, &ends, writing.clone());
            s.spawn(move || {
                let streams = [format!("whole-{w}-a"), format!("whole-{w}-b")];
                let mut versions = [0u64; 2];
                barrier.wait();
                for i in 0..APPENDS {
                    let records: Vec<NewRecord> =
                        (0..PARTS).map(|k| rec(&streams[usize::from(k % 2 == 1)], &format!("{w}:{i}:{k}"))).collect();
                    let expect = [exp(&streams[0], versions[0]), exp(&streams[1], versions[1])];
                    let appended = append_when_free(ledger.as_mut(), &expect, &records, round_time(i))
                        .unwrap_or_else(|e| panic!("whole writer {w}, append {i}: {e}"));
                    versions[0] += PARTS.div_ceil(2);
                    versions[1] += PARTS / 2;
                    ends.lock().expect("ends").push(appended.size);
                }
                drop(writing);
            });
        }
        drop(writing);
        let barrier = &barrier;
        let scans = s.spawn(move || {
            barrier.wait();
            let mut previous = Vec::new();
            let mut lengths = Vec::new();
            // Scans over and over while the writers append, and once more after they are done.
            loop {
                let done = matches!(writers_done.try_recv(), Err(mpsc::TryRecvError::Disconnected));
                let records = all_records(reader.as_ref(), 0);
                whole_appends_only(&records, &previous, size_before);
                if lengths.last() != Some(&records.len()) {
                    lengths.push(records.len());
                }
                previous = records;
                if done {
                    return lengths;
                }
            }
        });
        scans.join().expect("reader thread")
    });

    let ends = ends.into_inner().expect("ends");
    for len in &scanned {
        assert!(ends.contains(&(*len as u64)), "a scan of {len} events ends inside an append (ends: {ends:?})");
    }
    let last = *ends.iter().max().expect("ends");
    assert_eq!(scanned.last().map(|&n| n as u64), Some(last), "the scan after the writers sees every append");
    (WHOLE_WRITERS as u64) * APPENDS
}

/// One scan: gap-free from the start, extending the scan before it, and every watched append
/// (after `from`) present with all its parts or absent.
fn whole_appends_only(records: &[Record], previous: &[Record], from: u64) {
    for (i, r) in (0..).zip(records) {
        assert_eq!(r.seq, i, "a scan is gap-free from the start");
    }
    assert!(records.len() >= previous.len(), "a later scan sees less than an earlier one");
    assert_eq!(records[..previous.len()], previous[..], "a later scan rewrites what an earlier one saw");
    let mut parts: HashMap<&[u8], u64> = HashMap::new();
    for r in records.iter().filter(|r| r.seq >= from) {
        let append = r.payload.rsplitn(2, |&b| b == b':').nth(1).expect("a watched payload");
        *parts.entry(append).or_default() += 1;
    }
    for (append, n) in parts {
        assert_eq!(n, PARTS, "a scan sees {n} of {PARTS} records of append {:?}", String::from_utf8_lossy(append));
    }
}

/// After every chapter: the log verifies, one checkpoint per append plus the empty log's, the
/// last covering everything, and every stream's versions 1..n in log order.
fn whole_log_holds_together(ledger: &dyn Ledger, appends: u64) {
    let size = ledger.size().expect("size");
    let report = verify(ledger, None).expect("verify");
    assert!(report.intact, "the log verifies: {:?}", report.problems);
    assert_eq!(report.events, size);
    let checkpoints = ledger.checkpoints().expect("checkpoints");
    assert_eq!(checkpoints.len() as u64, appends + 1, "one checkpoint per append, and the empty log's");
    assert_eq!(report.checkpoints_checked, appends + 1, "every checkpoint verifies");
    let latest = ledger.latest_checkpoint().expect("latest_checkpoint").expect("a checkpoint");
    assert_eq!(checkpoint_root(ledger, &latest.note), (size, report.root), "the last checkpoint covers everything");

    let records = all_records(ledger, 0);
    assert_eq!(records.len() as u64, size);
    let mut versions: HashMap<&str, u64> = HashMap::new();
    for (seq, r) in (0..).zip(&records) {
        assert_eq!(r.seq, seq, "seq is gap-free");
        let version = versions.entry(&r.stream).or_default();
        *version += 1;
        assert_eq!(r.stream_version, *version, "event {seq}: {} versions in log order", r.stream);
    }
    for (stream, version) in versions {
        assert_eq!(ledger.stream_version(stream).expect("stream_version"), version, "version of {stream}");
        assert_eq!(stream_records(ledger, stream, 0).len() as u64, version, "scan_stream of {stream}");
    }
}

fn round_time(round: u64) -> i64 {
    i64::try_from(round).map_or(i64::MAX, |r| 1_000 + r)
}
