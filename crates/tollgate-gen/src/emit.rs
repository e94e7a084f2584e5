//! Events waiting to be written, and their CDEvents 0.5 JSON lines. Lines are assembled by hand
//! into one buffer: every string written is drawn from fixed alphabets (service names, ids,
//! digits, fixed phrases) that need no JSON escaping, and serde would triple the cost.

use std::cmp::Ordering;
use std::io::Write;

use crate::Summary;
use crate::ids::{write_digest, write_padded, write_uuid};
use crate::time::{DAY, DayCache, write_rfc3339};

/// The spec version the shared test data (CDEvents v0.5.1 conformance files) carries; every
/// event type used is at 0.3.0 in that release's schemas.
pub const SPEC_VERSION: &str = "0.5.1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Env {
    Production,
    Staging,
}

impl Env {
    fn name(self) -> &'static [u8] {
        match self {
            Env::Production => b"production",
            Env::Staging => b"staging",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipeline {
    Build,
    Deploy,
    Rollback,
    Hotfix,
}

impl Pipeline {
    fn name(self) -> &'static [u8] {
        match self {
            Pipeline::Build => b"build",
            Pipeline::Deploy => b"deploy",
            Pipeline::Rollback => b"rollback",
            Pipeline::Hotfix => b"hotfix",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Started,
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Error,
    Cancel,
}

impl Outcome {
    fn name(self) -> &'static [u8] {
        match self {
            Outcome::Success => b"success",
            Outcome::Failure => b"failure",
            Outcome::Error => b"error",
            Outcome::Cancel => b"cancel",
        }
    }
}

/// Why a pipeline did not succeed, by where it stopped.
pub const BUILD_ERRORS: [&str; 4] = [
    "unit tests failed",
    "image build failed",
    "security scan found a critical vulnerability",
    "integration tests failed",
];
pub const DEPLOY_ERRORS: [&str; 4] = [
    "deployment health check failed",
    "timed out waiting for rollout",
    "database migration failed",
    "smoke tests failed",
];
const INFRA_ERROR: &str = "pipeline infrastructure error: runner lost";
const CANCELLED: &str = "superseded by a newer run";

pub const DESCRIPTIONS: [&str; 8] = [
    "Error rate above threshold",
    "Latency p99 above SLO",
    "Availability below SLO",
    "Elevated 5xx responses",
    "Queue backlog growing",
    "Memory saturation",
    "Failed health checks",
    "Data inconsistency reported",
];

#[derive(Clone, Copy, Debug)]
pub enum Body {
    ChangeMerged {
        pr: u32,
        /// Commit time (ms); `None` leaves `customData.committedAt` out.
        committed: Option<i64>,
    },
    ArtifactPackaged {
        artefact: u64,
        pr: u32,
        /// The change was already packaged in an earlier artefact (a rebuild).
        carried: bool,
    },
    Pipeline {
        phase: Phase,
        pipeline: Pipeline,
        run: u32,
        env: Env,
        outcome: Outcome,
        /// Index into the error list of the pipeline's kind.
        error: u8,
    },
    Deployed {
        env: Env,
        artefact: u64,
        /// `service.upgraded` instead of `service.deployed`.
        upgraded: bool,
        /// The incident an emergency deployment fixes.
        emergency: Option<u64>,
    },
    RolledBack {
        artefact: u64,
        /// The service's first production deployment is the one rolled back.
        first: bool,
        /// Its chain has a pipeline event before it (otherwise decided = completed).
        with_pipeline: bool,
    },
    Incident {
        resolved: bool,
        no: u64,
        /// 1..=4 for P1..P4; `None` leaves `customData.severity` out.
        severity: Option<u8>,
        artefact: Option<u64>,
        description: u8,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub at: i64,
    pub svc: u32,
    pub chain: u64,
    pub body: Body,
}

/// Heap entry: when, the push order (so a chain's events keep their order at equal times) and
/// where the event waits. Kept to 24 bytes because every push and pop moves entries at each
/// level of the heap: with whole events in it, sifting took most of the run time.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub at: i64,
    pub seq: u64,
    pub slot: u32,
}

// `BinaryHeap` is a max-heap: the order is reversed to pop the earliest event.
impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

fn name_of(names: &[String], svc: u32) -> &[u8] {
    names.get(svc as usize).map_or(b"unknown", |n| n.as_bytes())
}

/// Flush to the sink once this much is buffered.
const FLUSH_AT: usize = 1 << 20;

/// Writes lines and counts what it wrote.
pub struct Writer<W: Write> {
    sink: W,
    out: Vec<u8>,
    names: Vec<String>,
    event_key: u64,
    chain_key: u64,
    digest_key: u64,
    events: u64,
    ts: DayCache,
    last_at: i64,
    /// Per service, the times of its last two emergency deployments and whether a third came
    /// within 30 days of the first of them.
    emergencies: Vec<([i64; 2], bool)>,
    pub summary: Summary,
}

impl<W: Write> Writer<W> {
    pub fn new(sink: W, names: Vec<String>, seed: u64) -> Self {
        let services = names.len();
        Writer {
            sink,
            out: Vec::with_capacity(FLUSH_AT + 4096),
            names,
            event_key: crate::rng::splitmix64(seed ^ 0x0E0E),
            chain_key: crate::rng::splitmix64(seed ^ 0xC4A1),
            digest_key: crate::rng::splitmix64(seed ^ 0xD16E),
            events: 0,
            ts: DayCache::default(),
            last_at: i64::MIN,
            emergencies: vec![([i64::MIN; 2], false); services],
            summary: Summary::default(),
        }
    }

    pub fn finish(mut self) -> std::io::Result<Summary> {
        self.flush()?;
        self.sink.flush()?;
        self.summary.services_over_two_emergencies_in_30_days =
            self.emergencies.iter().filter(|(_, flagged)| *flagged).count() as u64;
        Ok(self.summary)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.write_all(&self.out)?;
        self.summary.bytes += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    pub fn write(&mut self, ev: &Event) -> std::io::Result<()> {
        if ev.at < self.last_at {
            self.summary.out_of_order += 1;
        }
        self.last_at = ev.at;
        if self.summary.lines == 0 {
            self.summary.first_ms = ev.at;
        }
        self.summary.last_ms = ev.at;
        self.summary.lines += 1;
        match ev.body {
            Body::ChangeMerged { pr, committed } => self.change_merged(ev, pr, committed),
            Body::ArtifactPackaged { artefact, pr, carried } => self.artifact_packaged(ev, artefact, pr, carried),
            Body::Pipeline { phase, pipeline, run, env, outcome, error } => {
                self.pipeline(ev, phase, pipeline, run, env, outcome, error)
            }
            Body::Deployed { env, artefact, upgraded, emergency } => {
                self.deployed(ev, env, artefact, upgraded, emergency)
            }
            Body::RolledBack { artefact, first, with_pipeline } => self.rolled_back(ev, artefact, first, with_pipeline),
            Body::Incident { resolved, no, severity, artefact, description } => {
                self.incident(ev, resolved, no, severity, artefact, description)
            }
        }
        if self.out.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn head(&mut self, ev: &Event, ty: &str, source: &str) {
        let o = &mut self.out;
        o.extend_from_slice(br#"{"context":{"specversion":""#);
        o.extend_from_slice(SPEC_VERSION.as_bytes());
        o.extend_from_slice(br#"","id":""#);
        write_uuid(o, self.event_key, self.events);
        self.events += 1;
        o.extend_from_slice(br#"","chainId":""#);
        write_uuid(o, self.chain_key, ev.chain);
        o.extend_from_slice(br#"","source":""#);
        o.extend_from_slice(source.as_bytes());
        o.extend_from_slice(br#"","type":"dev.cdevents."#);
        o.extend_from_slice(ty.as_bytes());
        o.extend_from_slice(br#".0.3.0","timestamp":""#);
        self.ts.write(o, ev.at);
        o.extend_from_slice(br#""},"subject":{"id":""#);
    }

    fn purl(&mut self, svc: u32, artefact: u64) {
        self.out.extend_from_slice(b"pkg:oci/");
        self.out.extend_from_slice(name_of(&self.names, svc));
        self.out.extend_from_slice(b"@sha256%3A");
        write_digest(&mut self.out, self.digest_key, artefact);
    }

    fn change_id(&mut self, svc: u32, pr: u32) {
        self.out.extend_from_slice(b"acme/");
        self.out.extend_from_slice(name_of(&self.names, svc));
        self.out.extend_from_slice(b"/pull/");
        write_padded(&mut self.out, u64::from(pr), 1);
    }

    fn change_merged(&mut self, ev: &Event, pr: u32, committed: Option<i64>) {
        self.summary.changes_merged += 1;
        self.head(ev, "change.merged", "/scm");
        self.change_id(ev.svc, pr);
        self.out.extend_from_slice(br#"","content":{"repository":{"id":"acme/"#);
        let name = name_of(&self.names, ev.svc);
        self.out.extend_from_slice(name);
        self.out.extend_from_slice(br#"","source":"https://git.example.com"}}}"#);
        match committed {
            Some(at) => {
                self.out.extend_from_slice(br#","customData":{"committedAt":""#);
                write_rfc3339(&mut self.out, at);
                self.out.extend_from_slice(b"\"}}\n");
            }
            None => {
                self.summary.changes_without_commit_time += 1;
                self.out.extend_from_slice(b"}\n");
            }
        }
    }

    fn artifact_packaged(&mut self, ev: &Event, artefact: u64, pr: u32, carried: bool) {
        self.summary.packaged += 1;
        self.summary.packaged_carried_changes += u64::from(carried);
        self.head(ev, "artifact.packaged", "/ci");
        self.purl(ev.svc, artefact);
        self.out.extend_from_slice(br#"","content":{"change":{"id":""#);
        self.change_id(ev.svc, pr);
        self.out.extend_from_slice(b"\",\"source\":\"https://git.example.com\"}}}}\n");
    }

    #[allow(clippy::too_many_arguments)]
    fn pipeline(
        &mut self,
        ev: &Event,
        phase: Phase,
        pipeline: Pipeline,
        run: u32,
        env: Env,
        outcome: Outcome,
        error: u8,
    ) {
        let ty = match phase {
            Phase::Queued => "pipelinerun.queued",
            Phase::Started => "pipelinerun.started",
            Phase::Finished => "pipelinerun.finished",
        };
        self.head(ev, ty, "/ci");
        let name = name_of(&self.names, ev.svc);
        let o = &mut self.out;
        o.extend_from_slice(name);
        o.push(b'/');
        o.extend_from_slice(pipeline.name());
        o.push(b'/');
        write_padded(o, u64::from(run), 1);
        o.extend_from_slice(br#"","content":{"pipelineName":""#);
        o.extend_from_slice(name);
        o.push(b'-');
        o.extend_from_slice(pipeline.name());
        o.extend_from_slice(br#"","uri":"https://ci.example.com/"#);
        o.extend_from_slice(name);
        o.push(b'/');
        o.extend_from_slice(pipeline.name());
        o.push(b'/');
        write_padded(o, u64::from(run), 1);
        o.push(b'"');
        if phase == Phase::Finished {
            o.extend_from_slice(br#","outcome":""#);
            o.extend_from_slice(outcome.name());
            o.push(b'"');
            let errors = match outcome {
                Outcome::Success => None,
                Outcome::Error => Some(INFRA_ERROR),
                Outcome::Cancel => Some(CANCELLED),
                Outcome::Failure if pipeline == Pipeline::Build => BUILD_ERRORS.get(usize::from(error)).copied(),
                Outcome::Failure => DEPLOY_ERRORS.get(usize::from(error)).copied(),
            };
            if let Some(text) = errors {
                o.extend_from_slice(br#","errors":""#);
                o.extend_from_slice(text.as_bytes());
                o.push(b'"');
            }
            o.extend_from_slice(br#"}},"customData":{"service":""#);
            o.extend_from_slice(name);
            o.extend_from_slice(br#"","environment":""#);
            o.extend_from_slice(env.name());
            o.extend_from_slice(b"\"}}\n");
            let s = &mut self.summary;
            match (outcome, env) {
                (Outcome::Success, _) => s.successful_pipeline_finishes += 1,
                (Outcome::Cancel, _) => s.cancelled_pipelines += 1,
                (_, Env::Production) => s.failed_pipelines_production += 1,
                (_, Env::Staging) => s.failed_pipelines_staging += 1,
            }
            s.error_outcomes += u64::from(outcome == Outcome::Error);
        } else {
            o.extend_from_slice(b"}}}\n");
        }
    }

    fn deployed(&mut self, ev: &Event, env: Env, artefact: u64, upgraded: bool, emergency: Option<u64>) {
        let ty = if upgraded { "service.upgraded" } else { "service.deployed" };
        self.head(ev, ty, "/cd");
        self.service_content(ev.svc, env, artefact);
        match emergency {
            Some(no) => {
                self.out.extend_from_slice(br#","customData":{"emergency":true,"incident":"INC-"#);
                write_padded(&mut self.out, no, 7);
                self.out.extend_from_slice(b"\"}}\n");
                self.count_emergency(ev);
            }
            None => self.out.extend_from_slice(b"}\n"),
        }
        let s = &mut self.summary;
        s.upgraded_events += u64::from(upgraded);
        match env {
            Env::Production => s.production_deployments += 1,
            Env::Staging => s.staging_deployments += 1,
        }
    }

    fn count_emergency(&mut self, ev: &Event) {
        self.summary.emergency_deployments += 1;
        if let Some((last, flagged)) = self.emergencies.get_mut(ev.svc as usize) {
            // A third emergency within 30 days of the one two before it.
            if last[0] != i64::MIN && ev.at - last[0] <= 30 * DAY {
                *flagged = true;
            }
            *last = [last[1], ev.at];
        }
    }

    fn service_content(&mut self, svc: u32, env: Env, artefact: u64) {
        let name = name_of(&self.names, svc);
        self.out.extend_from_slice(name);
        self.out.extend_from_slice(br#"","content":{"environment":{"id":""#);
        self.out.extend_from_slice(env.name());
        self.out.extend_from_slice(br#""},"artifactId":""#);
        self.purl(svc, artefact);
        self.out.extend_from_slice(b"\"}}");
    }

    fn rolled_back(&mut self, ev: &Event, artefact: u64, first: bool, with_pipeline: bool) {
        let s = &mut self.summary;
        s.rollbacks += 1;
        s.first_deployment_rollbacks += u64::from(first);
        s.rollbacks_without_pipeline += u64::from(!with_pipeline);
        self.head(ev, "service.rolledback", "/cd");
        self.service_content(ev.svc, Env::Production, artefact);
        self.out.extend_from_slice(b"}\n");
    }

    fn incident(
        &mut self,
        ev: &Event,
        resolved: bool,
        no: u64,
        severity: Option<u8>,
        artefact: Option<u64>,
        description: u8,
    ) {
        if resolved {
            self.summary.incidents_resolved += 1;
        } else {
            let s = &mut self.summary;
            s.incidents += 1;
            match artefact {
                Some(_) => s.incidents_attributed += 1,
                None => s.incidents_unattributed += 1,
            }
            match severity.and_then(|p| s.incidents_by_severity.get_mut(usize::from(p).wrapping_sub(1))) {
                Some(count) => *count += 1,
                None => s.incidents_without_severity += 1,
            }
        }
        let ty = if resolved { "incident.resolved" } else { "incident.detected" };
        self.head(ev, ty, "/monitoring");
        self.out.extend_from_slice(b"INC-");
        write_padded(&mut self.out, no, 7);
        self.out.extend_from_slice(br#"","content":{"description":""#);
        if resolved {
            self.out.extend_from_slice(b"Resolved: ");
        }
        let text = DESCRIPTIONS.get(usize::from(description)).copied().unwrap_or("Incident");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(br#"","environment":{"id":"production"},"service":{"id":""#);
        let name = name_of(&self.names, ev.svc);
        self.out.extend_from_slice(name);
        self.out.extend_from_slice(b"\"}");
        if let Some(artefact) = artefact {
            self.out.extend_from_slice(br#","artifactId":""#);
            self.purl(ev.svc, artefact);
            self.out.push(b'"');
        }
        self.out.extend_from_slice(b"}}");
        match severity {
            Some(p) => {
                self.out.extend_from_slice(br#","customData":{"severity":"P"#);
                self.out.push(b'0' + p);
                self.out.extend_from_slice(b"\"}}\n");
            }
            None => self.out.extend_from_slice(b"}\n"),
        }
    }
}
