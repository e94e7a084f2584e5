//! `compute()` on an organisation-sized window: 1,000 services, 90 days, ~820,000 production
//! deployments (the 90-day share of a 10-million, 3-year history), ~41,000 incidents, plus the
//! emergency deployments of the 30 days before the window. Prints the time for the whole
//! organisation and for one service (a one-service history, as the store returns it for
//! `--service`, and the whole organisation's history filtered by `Query::service`).
//! Targets: < 1 s for the organisation, < 10 ms for one service.
//!
//! `cargo bench -p tollgate-metrics --bench kpi` (`-- --quick` for fewer runs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use tollgate_metrics::history::{
    ApprovalCycle, Deployment, History, Incident, ReleaseAtGate, Rollback, Severity, Time,
};
use tollgate_metrics::kpi::{self, Query};

const SERVICES: u64 = 1_000;
const DEPLOYMENTS: u64 = 820_000;
const DAY: i64 = 86_400;
const FROM: Time = 1_772_409_600; // 2026-03-02
const TO: Time = FROM + 90 * DAY;

/// SplitMix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(1000) < percent * 10
    }
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }
}

fn generate() -> History {
    let mut rng = Rng(42);
    let names: Vec<String> = (0..SERVICES).map(|i| format!("svc-{i:04}")).collect();
    let types = [("patch", 30 * 60), ("minor", 2 * 3600), ("major", DAY), ("infrastructure", DAY)];
    let mut deployments = Vec::with_capacity(DEPLOYMENTS as usize + 10_000);
    let mut id = 0u64;
    // Emergency deployments of the 30 days before the window (the rolling 30-day count).
    let before = DEPLOYMENTS / 90 * 30 / 100;
    let mut times: Vec<(Time, bool)> = Vec::with_capacity((before + DEPLOYMENTS) as usize);
    times.extend((0..before).map(|_| (rng.between(FROM - 30 * DAY, FROM), true)));
    times.extend((0..DEPLOYMENTS).map(|_| (rng.between(FROM, TO), false)));
    times.sort_unstable();
    for (finished, pre_window) in times {
        id += 1;
        let service = rng.below(SERVICES) as usize;
        let (kind, stab) = types[rng.below(4) as usize];
        let emergency = pre_window || rng.chance(1);
        let release = rng.chance(70).then(|| format!("R-{id}"));
        let changes = rng.below(4) as usize;
        deployments.push(Deployment {
            id,
            service: names[service].as_str().into(),
            environment: "production".into(),
            artefact: Some(format!("{}@sha256:{id:016x}", names[service])),
            pipeline_started: rng.chance(90).then(|| finished - rng.between(5 * 60, 45 * 60)),
            finished,
            success: !rng.chance(3),
            release,
            release_type: Some(if emergency { "emergency" } else { kind }.into()),
            emergency,
            fixes_incident: (emergency && rng.chance(80)).then(|| format!("INC-{id}")),
            change_lead_times: (0..changes).map(|_| rng.between(600, 5 * DAY)).collect(),
            rollback: rng.chance(2).then(|| {
                let decided = finished + rng.between(60, 6 * 3600);
                Rollback { decided, completed: rng.chance(95).then(|| decided + rng.between(60, 40 * 60)) }
            }),
            stabilisation: (!rng.chance(10)).then_some(if emergency { 30 * 60 } else { stab }),
        });
    }
    // ~500,000 incidents in 3 years: ~41,000 in 90 days; 70% name the deployment that caused
    // them, detected within a day of it.
    let first_in_window = deployments.partition_point(|d| d.finished < FROM);
    let mut incidents: Vec<Incident> = (0..41_000u64)
        .map(|n| {
            let severity = [Severity::P1, Severity::P2, Severity::P3, Severity::P4][match rng.below(100) {
                0..5 => 0,
                5..30 => 1,
                30..70 => 2,
                _ => 3,
            }];
            let cause =
                &deployments[first_in_window + rng.below(deployments.len() as u64 - first_in_window as u64) as usize];
            let attributed = rng.chance(70);
            let detected = cause.finished + rng.between(60, DAY);
            Incident {
                id: format!("INC-{n}"),
                service: Some(cause.service.to_string()),
                environment: Some("production".into()),
                severity,
                detected,
                resolved: rng.chance(95).then(|| detected + rng.between(600, 2 * DAY)),
                caused_by: attributed.then_some(cause.id),
            }
        })
        .collect();
    incidents.sort_by_key(|i| i.detected);
    let mut approvals: Vec<ApprovalCycle> = Vec::new();
    let mut releases: Vec<ReleaseAtGate> = Vec::new();
    for d in deployments.iter().filter(|d| d.release.is_some()).step_by(6) {
        let release = d.release.clone().unwrap_or_default();
        let requested = d.finished - rng.between(DAY, 3 * DAY);
        approvals.push(ApprovalCycle {
            release: release.clone(),
            service: d.service.to_string(),
            emergency: d.emergency,
            requested: Some(requested),
            opened: requested - DAY,
            granted: rng.chance(97).then(|| requested + rng.between(10 * 60, 8 * 3600)),
        });
        releases.push(ReleaseAtGate {
            release,
            service: d.service.to_string(),
            gate_at: d.finished - rng.between(3600, DAY),
            documentation_complete: rng.chance(96),
            critical_drift: rng.chance(60).then(|| u32::from(rng.chance(3))),
        });
    }
    approvals.sort_by_key(|a| a.placed());
    releases.sort_by_key(|r| r.gate_at);
    History { deployments, incidents, approvals, releases }
}

/// Nanoseconds this thread has run on a CPU (Linux's schedstat), so that a machine shared with
/// other builds does not count the time we waited for a core. `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

struct Timing {
    wall_min: Duration,
    wall_median: Duration,
    cpu_min: Option<Duration>,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wall min {:.2?}, median {:.2?}", self.wall_min, self.wall_median)?;
        // schedstat advances by scheduler ticks: meaningless for short runs.
        match self.cpu_min {
            Some(c) if c > Duration::from_millis(20) => write!(f, "; on-CPU min {c:.1?}"),
            _ => Ok(()),
        }
    }
}

fn time(runs: usize, history: &History, query: &Query) -> Timing {
    let mut wall = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (start, start_cpu) = (Instant::now(), cpu_ns());
        black_box(kpi::compute(black_box(history), black_box(query)));
        wall.push(start.elapsed());
        if let (Some(a), Some(b)) = (start_cpu, cpu_ns()) {
            cpu.push(Duration::from_nanos(b - a));
        }
    }
    wall.sort();
    cpu.sort();
    Timing { wall_min: wall[0], wall_median: wall[runs / 2], cpu_min: cpu.first().copied() }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 11 };
    let start = Instant::now();
    let org = generate();
    let in_window = org.deployments.iter().filter(|d| d.finished >= FROM).count();
    println!(
        "generated {} deployments ({} in the 90-day window, {} services), {} incidents, {} approvals in {:.1?}",
        org.deployments.len(),
        in_window,
        SERVICES,
        org.incidents.len(),
        org.approvals.len(),
        start.elapsed()
    );
    let query = Query { service: None, environment: "production".into(), from: FROM, to: TO };
    let kpis = kpi::compute(&org, &query);
    for k in &kpis {
        let value = k.value.as_ref().map(ToString::to_string).unwrap_or_else(|| format!("null: {:?}", k.null_reason));
        println!("  {:32} {value}", k.key);
    }
    let t = time(runs, &org, &query);
    println!("organisation ({in_window} deployments), {runs} runs: {t} (target < 1 s)");

    let service = "svc-0123";
    let one = History {
        deployments: org.deployments.iter().filter(|d| &*d.service == service).cloned().collect(),
        incidents: org.incidents.iter().filter(|i| i.service.as_deref() == Some(service)).cloned().collect(),
        approvals: org.approvals.iter().filter(|a| a.service == service).cloned().collect(),
        releases: org.releases.iter().filter(|r| r.service == service).cloned().collect(),
    };
    let query = Query { service: Some(service.into()), ..query };
    let runs_one = runs * 20;
    let t = time(runs_one, &one, &query);
    println!(
        "one service, its own history ({} deployments), {runs_one} runs: {t} (target < 10 ms)",
        one.deployments.len()
    );
    let t = time(runs, &org, &query);
    println!("one service, filtered from the organisation's history, {runs} runs: {t}");
}
