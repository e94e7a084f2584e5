//! Full verification of a ledger from its stored leaves, and proof helpers.
//!
//! [`verify`] trusts nothing the backend derived: in one streaming pass it
//! decodes every frame, recomputes every leaf hash and the Merkle root at
//! every checkpoint, checks every checkpoint signature, and compares the
//! result with the copies of the latest checkpoint kept outside the store
//! (the SQLite sidecar) and with a checkpoint the caller kept. Memory is
//! bounded by the number of checkpoints and streams, not by the log.
//!
//! The report describes each problem in log order, phrased for a person who
//! has to act on it, and pins the first bad event as precisely as the
//! evidence allows: a row-level defect names its event; a rewrite that kept
//! leaf bytes and leaf hash consistent is located between the last
//! checkpoint that still matches and the first that does not.

use std::collections::HashMap;

use crate::frame;
use crate::merkle::{self, CompactRange, Hash};
use crate::note::Checkpoint;
use crate::store::{Ledger, LedgerError, RawEntry, Sidecar};

/// Most problems listed in one report; the rest are counted in a final entry.
pub const MAX_PROBLEMS: usize = 100;

/// One thing wrong with a ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The first event concerned, when the problem concerns events.
    pub seq: Option<u64>,
    /// What is wrong, for a person.
    pub what: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// True when no problem was found.
    pub intact: bool,
    /// Number of stored events.
    pub events: u64,
    /// Root recomputed from the stored leaves.
    pub root: Hash,
    /// Stored checkpoints whose signature verified and whose root was
    /// compared with the recomputed tree.
    pub checkpoints_checked: u64,
    /// The problems found, in log order.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Stored,
    Sidecar(String),
    External,
}

impl Source {
    fn describe(&self, size: u64) -> String {
        match self {
            Self::Stored => format!("checkpoint at size {size}"),
            Self::Sidecar(location) => format!("sidecar checkpoint ({location}) at size {size}"),
            Self::External => format!("external checkpoint at size {size}"),
        }
    }
}

#[derive(Debug)]
enum Claim {
    Root(Hash),
    /// The checkpoint could not be trusted; the reason is reported when the
    /// scan reaches its size, to keep problems in log order.
    Rejected(String),
}

#[derive(Debug)]
struct Target {
    size: u64,
    source: Source,
    claim: Claim,
}

#[derive(Debug, Default)]
struct Problems {
    list: Vec<Problem>,
    omitted: u64,
}

impl Problems {
    fn push(&mut self, seq: Option<u64>, what: impl Into<String>) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(Problem { seq, what: what.into() });
        } else {
            self.omitted += 1;
        }
    }

    fn finish(mut self) -> Vec<Problem> {
        if self.omitted > 0 {
            self.list.push(Problem { seq: None, what: format!("... and {} more problems not listed", self.omitted) });
        }
        self.list
    }
}

/// The state of the single pass over the log.
struct Pass {
    range: CompactRange,
    next: u64,
    rows: u64,
    stream_versions: HashMap<String, u64>,
    problems: Problems,
    targets: Vec<Target>,
    target_index: usize,
    checkpoints_checked: u64,
    /// Size of the last stored checkpoint that matched the recomputed tree.
    last_good: u64,
    /// Once the recomputed tree is known to differ from the signed one (an
    /// event was removed, added or changed), later checkpoint mismatches are
    /// consequences and only counted, not listed one by one.
    tree_diverged: bool,
    consequential_mismatches: u64,
    /// Events reported missing from the middle of the log; a shortfall at
    /// the end of this size is explained by them, not by truncation.
    missing: u64,
}

impl Pass {
    fn check_targets(&mut self) {
        while let Some(target) = self.targets.get(self.target_index) {
            if target.size != self.range.size() {
                break;
            }
            self.target_index += 1;
            let size = target.size;
            let description = target.source.describe(size);
            match &target.claim {
                Claim::Rejected(reason) => {
                    self.problems.push(None, format!("{description}: {reason}"));
                }
                Claim::Root(root) if *root == self.range.root() => {
                    if target.source == Source::Stored {
                        self.checkpoints_checked += 1;
                        self.last_good = self.last_good.max(size);
                    }
                }
                Claim::Root(_) => {
                    if target.source == Source::Stored {
                        self.checkpoints_checked += 1;
                    }
                    if target.source != Source::External && self.tree_diverged {
                        self.consequential_mismatches += 1;
                        continue;
                    }
                    let what = if self.tree_diverged {
                        format!("{description} does not match the log (see above)")
                    } else {
                        let lo = self.last_good.min(size.saturating_sub(1));
                        let culprit = if size - lo == 1 {
                            format!("event {lo} was rewritten")
                        } else {
                            format!("an event among {lo}..{} was rewritten", size - 1)
                        };
                        format!(
                            "{culprit} together with its leaf hash: the {description} does not \
                             match the recomputed tree (last matching checkpoint at size {})",
                            self.last_good
                        )
                    };
                    let seq = (!self.tree_diverged).then(|| self.last_good.min(size.saturating_sub(1)));
                    self.problems.push(seq, what);
                    self.tree_diverged = true;
                }
            }
        }
    }

    fn row(&mut self, raw: &RawEntry<'_>) {
        let row_seq = u64::try_from(raw.seq).ok();
        match row_seq {
            Some(seq) if seq == self.next => {}
            Some(seq) if seq > self.next => {
                let what = if seq == self.next + 1 {
                    format!("event {} is missing (deleted)", self.next)
                } else {
                    format!("events {}..{} are missing (deleted)", self.next, seq - 1)
                };
                self.problems.push(Some(self.next), what);
                self.missing += seq - self.next;
                self.tree_diverged = true;
            }
            _ => {
                self.problems.push(
                    row_seq,
                    format!(
                        "event row {} is out of order after event {} (inserted or reordered)",
                        raw.seq,
                        self.next.saturating_sub(1)
                    ),
                );
                self.tree_diverged = true;
            }
        }
        let position = row_seq.unwrap_or(self.next);
        self.next = position.saturating_add(1);
        self.rows += 1;

        let computed = merkle::leaf_hash(raw.leaf);
        let mut issues: Vec<String> = Vec::new();
        let hash_ok = raw.leaf_hash == computed.as_slice();
        let decoded = frame::decode(raw.leaf);
        match &decoded {
            Err(e) => {
                issues.push(format!("stored bytes are not a valid event frame ({e}) (edited)"));
                if !hash_ok {
                    issues.push("they do not match their leaf hash".into());
                }
            }
            Ok(frame) => {
                let in_place = row_seq == Some(frame.seq);
                if !in_place {
                    issues.push(format!("holds the frame of event {} (rows moved or swapped)", frame.seq));
                }
                if !hash_ok {
                    issues.push("stored bytes do not match their leaf hash (edited)".into());
                }
                let columns_ok = raw.stream == frame.stream.as_bytes()
                    && u64::try_from(raw.stream_version).ok() == Some(frame.stream_version)
                    && raw.recorded_at == frame.recorded_at;
                if !columns_ok {
                    issues.push(
                        "its stream, version or time columns disagree with the signed frame \
                         (edited)"
                            .into(),
                    );
                }
                // Once the log is known to be damaged, version gaps are
                // consequences of that damage and would only add noise.
                if in_place && issues.is_empty() && !self.tree_diverged {
                    let last = self.stream_versions.get(frame.stream).copied().unwrap_or(0);
                    if frame.stream_version != last.saturating_add(1) {
                        issues.push(format!(
                            "stream {:?} goes from version {last} to {} (events of the stream \
                             missing or duplicated)",
                            frame.stream, frame.stream_version
                        ));
                    }
                }
                if in_place {
                    match self.stream_versions.get_mut(frame.stream) {
                        Some(v) => *v = frame.stream_version,
                        None => {
                            self.stream_versions.insert(frame.stream.to_owned(), frame.stream_version);
                        }
                    }
                }
                if !in_place {
                    self.tree_diverged = true;
                }
            }
        }
        if !issues.is_empty() {
            // A leaf that is not the one signed at this position changes the
            // recomputed tree; column-only edits do not.
            if !hash_ok || row_seq.is_none() || decoded.is_err() {
                self.tree_diverged = true;
            }
            self.problems.push(Some(position), format!("event {position}: {}", issues.join("; ")));
        }
        self.range.append(computed);
        self.check_targets();
    }
}

/// Recomputes everything from the stored leaves and reports every
/// inconsistency found; see the module documentation.
///
/// `external_checkpoint` is a signed checkpoint kept elsewhere (for example
/// by a witness or a previous run); the log must contain it.
///
/// Returns `Err` only when the ledger cannot be read at all; damage to the
/// stored data is reported in the [`VerifyReport`].
pub fn verify(ledger: &dyn Ledger, external_checkpoint: Option<&str>) -> Result<VerifyReport, LedgerError> {
    verify_each(ledger, external_checkpoint, &mut |_, _| {})
}

/// [`verify`], also lending each stored row's sequence number and leaf bytes to `each` as the
/// single pass reads them, so a caller can check the payloads without reading the store twice.
pub fn verify_each(
    ledger: &dyn Ledger,
    external_checkpoint: Option<&str>,
    each: &mut dyn FnMut(i64, &[u8]),
) -> Result<VerifyReport, LedgerError> {
    let verifier = ledger.verifier();
    let mut targets = Vec::new();
    let mut latest_stored: Option<u64> = None;
    let open = |note: &str| -> Result<Checkpoint, String> {
        verifier.open_checkpoint(note).map_err(|e| match note.lines().next() {
            // Most often a checkpoint of another store (a sandbox's for a real one's, say): its
            // first line names the log it belongs to.
            Some(origin) if origin != verifier.name() => format!(
                "does not verify with the ledger's key ({e}): it is a checkpoint of the log {origin}, not of this log ({})",
                verifier.name()
            ),
            _ => format!("does not verify with the ledger's key ({e}) (forged or edited)"),
        })
    };

    // Problems not tied to a position in the log; listed after those that are.
    let mut unplaced: Vec<String> = Vec::new();
    let scanned = ledger.scan_checkpoints(&mut |stored| {
        let claim = match open(&stored.note) {
            Ok(cp) if cp.size == stored.size => Claim::Root(cp.root),
            Ok(cp) => Claim::Rejected(format!(
                "the row for size {} holds a checkpoint signed for size {} (moved)",
                stored.size, cp.size
            )),
            Err(reason) => Claim::Rejected(reason),
        };
        if matches!(claim, Claim::Root(_)) {
            latest_stored = latest_stored.max(Some(stored.size));
        }
        targets.push(Target { size: stored.size, source: Source::Stored, claim });
        Ok(())
    });
    match scanned {
        Ok(()) => {}
        Err(LedgerError::Corrupt { at, detail }) => {
            unplaced.push(format!("{at} cannot be read ({detail}); later checkpoints were not checked"))
        }
        Err(e) => return Err(e),
    }
    match ledger.sidecar()? {
        Sidecar::NotKept => {}
        // A checkpoint the auditor kept elsewhere stands in for the one beside the store.
        Sidecar::Missing { .. } if external_checkpoint.is_some() => {}
        Sidecar::Missing { location } => {
            // Most often a store copied without its checkpoint file, not a deletion.
            unplaced.push(format!(
                "the checkpoint file {location} that belongs beside the store is missing (deleted, or not copied with it); copy it too, or pass a checkpoint you kept with --checkpoint FILE"
            ));
        }
        Sidecar::Found { location, note } => match open(&note) {
            Ok(cp) => {
                targets.push(Target { size: cp.size, source: Source::Sidecar(location), claim: Claim::Root(cp.root) })
            }
            Err(reason) => unplaced.push(format!("the sidecar checkpoint {location} {reason}")),
        },
    }
    if let Some(note) = external_checkpoint {
        match open(note) {
            Ok(cp) => targets.push(Target { size: cp.size, source: Source::External, claim: Claim::Root(cp.root) }),
            Err(reason) => unplaced.push(format!("the external checkpoint {reason}")),
        }
    }
    targets.sort_by_key(|t| t.size);

    let mut pass = Pass {
        range: CompactRange::new(),
        next: 0,
        rows: 0,
        stream_versions: HashMap::new(),
        problems: Problems::default(),
        targets,
        target_index: 0,
        checkpoints_checked: 0,
        last_good: 0,
        tree_diverged: false,
        consequential_mismatches: 0,
        missing: 0,
    };
    pass.check_targets();
    let scanned = ledger.scan_raw(0, &mut |raw| {
        pass.row(raw);
        each(raw.seq, raw.leaf);
        Ok(())
    });
    match scanned {
        Ok(()) => {}
        Err(LedgerError::Corrupt { at, detail }) => {
            pass.problems.push(Some(pass.next), format!("{at} cannot be read ({detail}); verification stopped there"));
        }
        Err(e) => return Err(e),
    }

    let events = pass.rows;
    if pass.consequential_mismatches > 0 {
        pass.problems.push(
            None,
            format!(
                "{} later checkpoint comparisons fail as a consequence of the above",
                pass.consequential_mismatches
            ),
        );
    }
    // Targets beyond the end of the log: the log once was longer, unless
    // events reported missing above account for the difference.
    let mut truncation_reported = false;
    let explained = events.saturating_add(pass.missing);
    for target in &pass.targets[pass.target_index..] {
        if target.size <= explained && matches!(target.claim, Claim::Root(_)) {
            truncation_reported = true;
            continue;
        }
        match (&target.source, &target.claim) {
            (_, Claim::Rejected(reason)) => {
                pass.problems.push(None, format!("{}: {reason}", target.source.describe(target.size)))
            }
            (Source::Stored, Claim::Root(_)) if latest_stored == Some(target.size) => {
                truncation_reported = true;
                pass.problems.push(
                    Some(events),
                    format!(
                        "log truncated: checkpoint signed at size {} but only {events} events present",
                        target.size
                    ),
                );
            }
            (Source::Stored, Claim::Root(_)) => {}
            (source, Claim::Root(_)) => {
                truncation_reported = true;
                pass.problems.push(
                    Some(events),
                    format!(
                        "log truncated: the {} is beyond the {events} events present",
                        source.describe(target.size)
                    ),
                );
            }
        }
    }
    match latest_stored {
        None => pass.problems.push(None, "no valid checkpoint is stored (checkpoints deleted or forged)"),
        Some(latest) if latest < events => {
            let which = if events - latest == 1 {
                format!("event {latest} is")
            } else {
                format!("events {latest}..{} are", events - 1)
            };
            pass.problems
                .push(Some(latest), format!("{which} not covered by any signed checkpoint (added outside the ledger)"));
        }
        Some(_) => {}
    }
    match ledger.size() {
        Ok(size) if size != events && !truncation_reported => pass.problems.push(
            Some(size.min(events)),
            format!("the ledger records a size of {size} but {events} events are present"),
        ),
        Ok(_) => {}
        // The rows could be read, so this is damage rather than an outage.
        Err(e) => pass.problems.push(None, format!("the recorded ledger size cannot be read: {e}")),
    }

    for what in unplaced {
        pass.problems.push(None, what);
    }
    let problems = pass.problems.finish();
    Ok(VerifyReport {
        intact: problems.is_empty(),
        events,
        root: pass.range.root(),
        checkpoints_checked: pass.checkpoints_checked,
        problems,
    })
}

/// The inclusion proof of event `seq` in the tree of the first `size`
/// events, from the stored leaf hashes; [`merkle::verify_inclusion`]
/// accepts it against the checkpoint root for `size`.
pub fn inclusion_proof_for(ledger: &dyn Ledger, seq: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
    let hashes = ledger.leaf_hashes(size)?;
    Ok(merkle::inclusion_proof(&hashes, seq)?)
}

/// The consistency proof from the tree of `size1` events to that of
/// `size2` events; [`merkle::verify_consistency`] accepts it against the two
/// checkpoint roots.
pub fn consistency_proof_between(ledger: &dyn Ledger, size1: u64, size2: u64) -> Result<Vec<Hash>, LedgerError> {
    let hashes = ledger.leaf_hashes(size2)?;
    Ok(merkle::consistency_proof(&hashes, size1)?)
}
