//! Deployments on disk: one blob per (environment, two-week period, service), holding the
//! deployments that finished in it and the rollbacks of those deployments, as records appended
//! in arrival order. A KPI query for a window reads a handful of blobs per service instead of a
//! B-tree row per deployment, and an import appends whole periods instead of inserting rows.
//!
//! A rollback is a record of its own in the chunk of the deployment it rolls back, so nothing
//! once written is ever rewritten: a late record for a closed period is appended to its blob.
//! A rollback that a deployment arriving later turns out to roll back instead is withdrawn from
//! the first by a record of its own; of the rollbacks left, a deployment's is the earliest.
//!
//! Record layout (little-endian):
//! - deployment: `1`, id u64, finished i64, flags u8, then as flagged: pipeline start i64,
//!   artefact (u32 length + UTF-8), fixed incident (u32 length + UTF-8), lead times (u32 count +
//!   i64 each);
//! - rollback: `2`, deployment id u64, decided i64, completed i64;
//! - rollback withdrawn: `3`, then as the rollback it withdraws.

use crate::history::Time;

/// Two weeks: a 90-day query with its 30-day look-back reads about ten chunks per service.
pub const PERIOD: i64 = 14 * 86_400;

pub fn period(t: Time) -> i64 {
    t.div_euclid(PERIOD)
}

const DEPLOYMENT: u8 = 1;
const ROLLBACK: u8 = 2;
const WITHDRAWN: u8 = 3;

const SUCCESS: u8 = 1;
const EMERGENCY: u8 = 2;
const PIPELINE: u8 = 4;
const ARTEFACT: u8 = 8;
const FIXES: u8 = 16;
const LEADS: u8 = 32;

/// A deployment as the importer writes it.
pub struct NewDeployment<'a> {
    pub id: u64,
    pub finished: Time,
    pub success: bool,
    pub emergency: bool,
    pub pipeline_started: Option<Time>,
    pub artefact: Option<&'a str>,
    pub fixes_incident: Option<&'a str>,
    pub lead_times: &'a [i64],
}

pub fn push_deployment(buf: &mut Vec<u8>, d: &NewDeployment<'_>) {
    let mut flags = 0;
    for (on, flag) in [
        (d.success, SUCCESS),
        (d.emergency, EMERGENCY),
        (d.pipeline_started.is_some(), PIPELINE),
        (d.artefact.is_some(), ARTEFACT),
        (d.fixes_incident.is_some(), FIXES),
        (!d.lead_times.is_empty(), LEADS),
    ] {
        if on {
            flags |= flag;
        }
    }
    buf.push(DEPLOYMENT);
    buf.extend_from_slice(&d.id.to_le_bytes());
    buf.extend_from_slice(&d.finished.to_le_bytes());
    buf.push(flags);
    if let Some(t) = d.pipeline_started {
        buf.extend_from_slice(&t.to_le_bytes());
    }
    for s in [d.artefact, d.fixes_incident].into_iter().flatten() {
        buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
        buf.extend_from_slice(s.as_bytes());
    }
    if !d.lead_times.is_empty() {
        buf.extend_from_slice(&(d.lead_times.len() as u32).to_le_bytes());
        for t in d.lead_times {
            buf.extend_from_slice(&t.to_le_bytes());
        }
    }
}

pub fn push_rollback(buf: &mut Vec<u8>, deployment: u64, decided: Time, completed: Time) {
    push_rollback_record(buf, ROLLBACK, deployment, decided, completed);
}

/// Withdraws the rollback pushed with the same values.
pub fn push_withdrawn(buf: &mut Vec<u8>, deployment: u64, decided: Time, completed: Time) {
    push_rollback_record(buf, WITHDRAWN, deployment, decided, completed);
}

fn push_rollback_record(buf: &mut Vec<u8>, kind: u8, deployment: u64, decided: Time, completed: Time) {
    buf.push(kind);
    buf.extend_from_slice(&deployment.to_le_bytes());
    buf.extend_from_slice(&decided.to_le_bytes());
    buf.extend_from_slice(&completed.to_le_bytes());
}

/// A deployment record, read in place.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRecord<'a> {
    pub id: u64,
    pub finished: Time,
    pub success: bool,
    pub emergency: bool,
    pub pipeline_started: Option<Time>,
    pub artefact: Option<&'a str>,
    pub fixes_incident: Option<&'a str>,
    /// The lead times, 8 bytes each.
    lead_times: &'a [u8],
}

impl DeploymentRecord<'_> {
    pub fn lead_times(&self) -> crate::history::LeadTimes {
        self.lead_times.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    Deployment(DeploymentRecord<'a>),
    Rollback { deployment: u64, decided: Time, completed: Time },
    Withdrawn { deployment: u64, decided: Time, completed: Time },
}

/// The records of a chunk in order; `Err` names the byte offset of a damaged record.
pub fn records(blob: &[u8]) -> Records<'_> {
    Records { blob, at: 0 }
}

pub struct Records<'a> {
    blob: &'a [u8],
    at: usize,
}

/// A chunk that does not decode: the store was damaged or written by something else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("damaged deployment chunk at byte {0}")]
pub struct Damaged(pub usize);

impl<'a> Records<'a> {
    /// Where the next record starts.
    pub fn offset(&self) -> usize {
        self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Damaged> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.blob.len()).ok_or(Damaged(self.at))?;
        let bytes = &self.blob[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn u64(&mut self) -> Result<u64, Damaged> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| Damaged(self.at))?))
    }

    fn i64(&mut self) -> Result<i64, Damaged> {
        Ok(self.u64()? as i64)
    }

    fn u32(&mut self) -> Result<usize, Damaged> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| Damaged(self.at))?) as usize)
    }

    fn str(&mut self) -> Result<&'a str, Damaged> {
        let at = self.at;
        let n = self.u32()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| Damaged(at))
    }

    /// The next record; a damaged one is reported at its start.
    fn record(&mut self) -> Result<Record<'a>, Damaged> {
        let start = self.at;
        self.parse().map_err(|_| Damaged(start))
    }

    fn parse(&mut self) -> Result<Record<'a>, Damaged> {
        match self.take(1)?[0] {
            DEPLOYMENT => {
                let id = self.u64()?;
                let finished = self.i64()?;
                let flags = self.take(1)?[0];
                let pipeline_started = if flags & PIPELINE != 0 { Some(self.i64()?) } else { None };
                let artefact = if flags & ARTEFACT != 0 { Some(self.str()?) } else { None };
                let fixes_incident = if flags & FIXES != 0 { Some(self.str()?) } else { None };
                let lead_times = if flags & LEADS != 0 {
                    let n = self.u32()?;
                    self.take(n.checked_mul(8).ok_or(Damaged(self.at))?)?
                } else {
                    &[]
                };
                Ok(Record::Deployment(DeploymentRecord {
                    id,
                    finished,
                    success: flags & SUCCESS != 0,
                    emergency: flags & EMERGENCY != 0,
                    pipeline_started,
                    artefact,
                    fixes_incident,
                    lead_times,
                }))
            }
            ROLLBACK => Ok(Record::Rollback { deployment: self.u64()?, decided: self.i64()?, completed: self.i64()? }),
            WITHDRAWN => {
                Ok(Record::Withdrawn { deployment: self.u64()?, decided: self.i64()?, completed: self.i64()? })
            }
            _ => Err(Damaged(self.at)),
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, Damaged>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.blob.len() {
            return None;
        }
        let record = self.record();
        if record.is_err() {
            self.at = self.blob.len();
        }
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_reported_with_its_offset() {
        let mut buf = Vec::new();
        push_deployment(
            &mut buf,
            &NewDeployment {
                id: 7,
                finished: 1_000,
                success: true,
                emergency: true,
                pipeline_started: Some(900),
                artefact: Some("pkg:oci/a@sha256%3Aab"),
                fixes_incident: Some("INC-1"),
                lead_times: &[60, 120],
            },
        );
        push_deployment(
            &mut buf,
            &NewDeployment {
                id: 8,
                finished: 2_000,
                success: false,
                emergency: false,
                pipeline_started: None,
                artefact: None,
                fixes_incident: None,
                lead_times: &[],
            },
        );
        push_rollback(&mut buf, 7, 1_100, 1_500);
        push_withdrawn(&mut buf, 7, 1_100, 1_500);
        let all: Vec<_> = records(&buf).collect::<Result<_, _>>().unwrap();
        let Record::Deployment(first) = &all[0] else { panic!("{all:?}") };
        assert_eq!((first.id, first.finished, first.success, first.emergency), (7, 1_000, true, true));
        assert_eq!(first.pipeline_started, Some(900));
        assert_eq!(first.artefact, Some("pkg:oci/a@sha256%3Aab"));
        assert_eq!(first.fixes_incident, Some("INC-1"));
        assert_eq!(first.lead_times().to_vec(), vec![60, 120]);
        let Record::Deployment(second) = &all[1] else { panic!("{all:?}") };
        assert_eq!((second.success, second.artefact, second.lead_times().to_vec()), (false, None, vec![]));
        assert_eq!(all[2], Record::Rollback { deployment: 7, decided: 1_100, completed: 1_500 });
        assert_eq!(all[3], Record::Withdrawn { deployment: 7, decided: 1_100, completed: 1_500 });

        let cut = &buf[..buf.len() - 3];
        assert_eq!(records(cut).last(), Some(Err(Damaged(buf.len() - 25))));
        let mut bad = buf.clone();
        bad[0] = 9;
        assert_eq!(records(&bad).collect::<Vec<_>>(), vec![Err(Damaged(0))]);
    }

    #[test]
    fn periods_split_at_fixed_two_week_boundaries_before_and_after_the_epoch() {
        assert_eq!(period(0), 0);
        assert_eq!(period(PERIOD - 1), 0);
        assert_eq!(period(PERIOD), 1);
        assert_eq!(period(-1), -1);
    }
}
