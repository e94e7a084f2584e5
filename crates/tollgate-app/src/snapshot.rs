//! A cache of the state at a checkpointed size, so that a process starting on a long log
//! (a server after a restart, an embedded command at a million events) applies only what was
//! written since, instead of folding every fact again.
//!
//! It is a cache, never a record: the log stays the only truth, and a snapshot is used only
//! when all of these hold, else the log is replayed and the snapshot written anew:
//! - it is signed by the key that signs the log's checkpoints (so nobody without that key,
//!   which could rewrite the log anyway, can hand a process a state of their making), and its
//!   signed header names the SHA-256 of its body;
//! - it names the log's origin, and the log holds a signed checkpoint at its size with the
//!   same root: the facts it folded are the log's first `size` facts;
//! - it was written by code that folds facts exactly as this build does (the fingerprint of
//!   the domain, profile and application sources, `build.rs`); a fix to `evolve` makes every
//!   earlier snapshot stale.
//!
//! The file is `<store>.state`: a signed note (its first line says what it is, so it can never
//! pass for a checkpoint), then the state in `postcard`'s compact binary form.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tollgate_domain::Timestamp;
use tollgate_domain::event::Profile;
use tollgate_domain::policy::RoleId;
use tollgate_domain::release::{Release, ReleaseId};
use tollgate_domain::state::{
    Adopted, Blackout, Nonconformance, PendingGrant, Person, ProposedProfile, Risk, Sandbox, State, Token,
};
use tollgate_ledger::{Ledger, LedgerError};

use crate::codec;

/// The note's first line.
const MAGIC: &str = "tollgate state snapshot v1";
/// The fingerprint of the code that folds facts into state.
const CODE: &str = env!("TOLLGATE_STATE_CODE");

/// Where the snapshot of the store at `db` is kept.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".state");
    PathBuf::from(name)
}

/// The state folded from the log's first `applied` facts, and the stream versions they left.
pub struct Folded {
    pub state: State,
    pub versions: HashMap<String, u64>,
    pub applied: u64,
}

/// Why a snapshot could not be used (the log is replayed instead) or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no snapshot at {0}")]
    Absent(PathBuf),
    #[error("snapshot {path}: {why}")]
    Unusable { path: PathBuf, why: String },
    #[error("{0}")]
    Ledger(#[from] LedgerError),
}

fn unusable(path: &Path, why: impl Into<String>) -> SnapshotError {
    SnapshotError::Unusable { path: path.to_owned(), why: why.into() }
}

/// The signed header: which log, at which size and root, which body, which code.
struct Header {
    origin: String,
    size: u64,
    root: String,
    body_sha256: String,
    code: String,
}

impl Header {
    fn text(&self) -> String {
        format!("{MAGIC}\n{}\n{}\n{}\n{}\n{}\n", self.origin, self.size, self.root, self.body_sha256, self.code)
    }

    fn parse(text: &str) -> Option<Header> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let header = Header {
            origin: lines.next()?.to_owned(),
            size: lines.next()?.parse().ok()?,
            root: lines.next()?.to_owned(),
            body_sha256: lines.next()?.to_owned(),
            code: lines.next()?.to_owned(),
        };
        lines.next().is_none().then_some(header)
    }
}

/// The root of the log's signed checkpoint at exactly `size`, base64 as in the note.
fn checkpoint_root(ledger: &dyn Ledger, size: u64) -> Result<Option<String>, LedgerError> {
    let Some(stored) = ledger.checkpoint_at(size)? else { return Ok(None) };
    let checkpoint = ledger.verifier().open_checkpoint(&stored.note)?;
    Ok(Some(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, checkpoint.root)))
}

/// Reads the snapshot at `path` if it is this log's, signed, and folded by this build.
pub fn load(path: &Path, ledger: &dyn Ledger) -> Result<Folded, SnapshotError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SnapshotError::Absent(path.to_owned())),
        Err(e) => return Err(unusable(path, e.to_string())),
    };
    let (note, body) = split(&bytes).ok_or_else(|| unusable(path, "not a state snapshot"))?;
    let text = ledger
        .verifier()
        .open_note(note)
        .map_err(|e| unusable(path, format!("its signature does not verify with the log's key ({e})")))?;
    let header = Header::parse(text).ok_or_else(|| unusable(path, "its header is not a snapshot's"))?;
    if header.code != CODE {
        return Err(unusable(path, "written by another version of Tollgate"));
    }
    if header.origin != ledger.origin() {
        return Err(unusable(path, format!("made from the log {}, not {}", header.origin, ledger.origin())));
    }
    match checkpoint_root(ledger, header.size)? {
        Some(root) if root == header.root => {}
        Some(_) => {
            return Err(unusable(path, format!("the log's first {} facts are not those it folded", header.size)));
        }
        None => return Err(unusable(path, format!("the log has no checkpoint at its size {}", header.size))),
    }
    if hex::encode(Sha256::digest(body)) != header.body_sha256 {
        return Err(unusable(path, "its body is not the one its header signs"));
    }
    let image: Image =
        postcard::from_bytes(body).map_err(|e| unusable(path, format!("its body does not decode: {e}")))?;
    image.into_folded(header.size).map_err(|why| unusable(path, why))
}

/// A snapshot to write: the state as of a checkpointed size, copied (pointer copies: the
/// entries are behind `Arc`s) so that encoding it can run off the thread that owns the state.
pub struct Job {
    path: PathBuf,
    origin: String,
    root: String,
    applied: u64,
    image: Image,
}

impl Job {
    /// The snapshot of `state` and `versions`, which must be the fold of the log's first
    /// `applied` facts, a size the log holds a checkpoint of.
    pub fn new(
        path: &Path,
        ledger: &dyn Ledger,
        state: &State,
        versions: &HashMap<String, u64>,
        applied: u64,
    ) -> Result<Job, SnapshotError> {
        let root = checkpoint_root(ledger, applied)?
            .ok_or_else(|| unusable(path, format!("the log has no checkpoint at size {applied}")))?;
        Ok(Job {
            path: path.to_owned(),
            origin: ledger.origin().to_owned(),
            root,
            applied,
            image: Image::of(state, versions),
        })
    }

    /// The size of the log the snapshot folds.
    pub fn size(&self) -> u64 {
        self.applied
    }

    /// Encodes, signs with `sign` (the signature line of a note text, by the log's key) and
    /// replaces the file.
    pub fn write(&self, sign: &dyn Fn(&str) -> Result<String, LedgerError>) -> Result<(), SnapshotError> {
        let path = &self.path;
        let body = postcard::to_stdvec(&self.image).map_err(|e| unusable(path, format!("encoding the state: {e}")))?;
        let header = Header {
            origin: self.origin.clone(),
            size: self.applied,
            root: self.root.clone(),
            body_sha256: hex::encode(Sha256::digest(&body)),
            code: CODE.to_owned(),
        };
        let text = header.text();
        let note = format!("{text}\n{}", sign(&text)?);
        let mut file = Vec::with_capacity(4 + note.len() + body.len());
        file.extend_from_slice(&u32::try_from(note.len()).unwrap_or(u32::MAX).to_le_bytes());
        file.extend_from_slice(note.as_bytes());
        file.extend_from_slice(&body);
        // A cache: a crash mid-write leaves the old file (the write is a rename), and losing
        // the latest one costs only a longer replay, so it is not synced.
        tollgate_ledger::files::replace(path, &file, false).map_err(|e| unusable(path, e.to_string()))
    }
}

/// The note and the body of a snapshot file.
fn split(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let length = usize::try_from(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?)).ok()?;
    let note = bytes.get(4..4 + length)?;
    Some((std::str::from_utf8(note).ok()?, &bytes[4 + length..]))
}

/// The state as stored. Profiles are kept as the log keeps them, their source texts, and read
/// again on load (as replay does), so the policy types need no second form.
#[derive(Serialize, Deserialize)]
struct Image {
    profiles: Vec<AdoptedImage>,
    proposed: Option<ProposedImage>,
    people: BTreeMap<String, Arc<Person>>,
    pending_grants: BTreeMap<(String, RoleId), PendingGrant>,
    tokens: BTreeMap<String, Arc<Token>>,
    releases: imbl::OrdMap<ReleaseId, Arc<Release>>,
    blackouts: imbl::Vector<Arc<Blackout>>,
    risks: imbl::Vector<Arc<Risk>>,
    ncs: imbl::Vector<Arc<Nonconformance>>,
    last_at: Option<Timestamp>,
    /// A sandbox's clock offset in seconds (advances are whole seconds).
    sandbox_offset: Option<i64>,
    /// Sorted by stream, so that the same state always encodes to the same bytes.
    versions: Vec<(String, u64)>,
}

#[derive(Serialize, Deserialize)]
struct ProfileImage {
    id: String,
    version: String,
    hash: String,
    reason: String,
    sources: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct AdoptedImage {
    profile: ProfileImage,
    by: String,
    at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct ProposedImage {
    profile: ProfileImage,
    loosens: Vec<String>,
    by: String,
    at: Timestamp,
    approvals: Vec<(String, std::collections::BTreeSet<RoleId>)>,
}

impl ProfileImage {
    fn of(p: &Profile) -> ProfileImage {
        ProfileImage {
            id: p.policy.id.clone(),
            version: p.policy.version.clone(),
            hash: p.hash.clone(),
            reason: p.reason.clone(),
            sources: p.sources.iter().map(|s| (s.name.clone(), s.text.clone())).collect(),
        }
    }

    fn read(self) -> Result<Arc<Profile>, String> {
        let sources = self.sources.into_iter().map(|(name, text)| codec::WireSource { name, text }).collect();
        codec::profile_from(&self.id, &self.version, &self.hash, self.reason, sources).map_err(|e| e.0)
    }
}

impl Image {
    /// Copies cost pointers: the entries are behind `Arc`s.
    fn of(state: &State, versions: &HashMap<String, u64>) -> Image {
        let mut versions: Vec<(String, u64)> = versions.iter().map(|(s, v)| (s.clone(), *v)).collect();
        versions.sort_unstable();
        Image {
            profiles: state
                .profiles
                .iter()
                .map(|a| AdoptedImage { profile: ProfileImage::of(&a.profile), by: a.by.clone(), at: a.at })
                .collect(),
            proposed: state.proposed_profile.as_ref().map(|p| ProposedImage {
                profile: ProfileImage::of(&p.profile),
                loosens: p.loosens.clone(),
                by: p.by.clone(),
                at: p.at,
                approvals: p.approvals.clone(),
            }),
            people: state.people.clone(),
            pending_grants: state.pending_grants.clone(),
            tokens: state.tokens.clone(),
            releases: state.releases.clone(),
            blackouts: state.blackouts.clone(),
            risks: state.risks.clone(),
            ncs: state.ncs.clone(),
            last_at: state.last_at,
            sandbox_offset: state.sandbox.map(|s| s.offset.num_seconds()),
            versions,
        }
    }

    fn into_folded(self, applied: u64) -> Result<Folded, String> {
        let profiles = self
            .profiles
            .into_iter()
            .map(|a| Ok(Adopted { profile: a.profile.read()?, by: a.by, at: a.at }))
            .collect::<Result<Vec<_>, String>>()?;
        let proposed_profile = match self.proposed {
            Some(p) => Some(ProposedProfile {
                profile: p.profile.read()?,
                loosens: p.loosens,
                by: p.by,
                at: p.at,
                approvals: p.approvals,
            }),
            None => None,
        };
        let state = State {
            profiles,
            proposed_profile,
            people: self.people,
            pending_grants: self.pending_grants,
            tokens: self.tokens,
            releases: self.releases,
            blackouts: self.blackouts,
            risks: self.risks,
            ncs: self.ncs,
            last_at: self.last_at,
            sandbox: self.sandbox_offset.map(|s| Sandbox { offset: chrono::Duration::seconds(s) }),
        };
        Ok(Folded { state, versions: self.versions.into_iter().collect(), applied })
    }
}
