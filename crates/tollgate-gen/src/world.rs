//! The simulated organisation: services with their own habits, and the chains of events each
//! deployment attempt, rollback and incident produces.
//!
//! Streaming in time order with constant memory: each service generates its next chain only
//! when the output has nearly caught up with it. A chain's events all fall at or after its
//! anchor (the production finish time, or an incident's detection) minus [`LOOKBACK`], so an
//! event in the pending heap can be written as soon as it is earlier than every service's next
//! anchor minus [`LOOKBACK`]: no chain generated later can produce an earlier event. The heap
//! then holds only the events of the next eight hours or so, plus the few scheduled further ahead
//! (incident resolutions, late rollbacks), whatever the length of the history.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;

use crate::emit::{
    BUILD_ERRORS, Body, DEPLOY_ERRORS, DESCRIPTIONS, Env, Event, Outcome, Pending, Phase, Pipeline, Writer,
};
use crate::rng::Rng;
use crate::time::{DAY, HOUR, MINUTE, SECOND, weekday};
use crate::{Config, GenError, Summary};

/// How far before its anchor a chain's earliest event may lie: merges up to 3 h before the
/// build, a build of up to 45 min (after up to 4 min queued), a staging soak of up to 2.5 h, a
/// deployment of up to 64 min with its queue: 7 h 27 min at most. Merges are clamped to it.
/// The shorter it is, the fewer events wait in the heap.
pub const LOOKBACK: i64 = 8 * HOUR;

/// Share of deployment attempts cancelled (superseded); not failures.
const CANCEL: f64 = 0.005;
/// Share of builds that repackage the previous artefact's changes (a base-image refresh).
const REBUILD: f64 = 0.04;
/// Cumulative weights of 1..=5 changes per artefact.
const CHANGES_PER_ARTEFACT: [f64; 5] = [0.60, 0.85, 0.95, 0.99, 1.0];
/// Cumulative weights of P1..P4.
const SEVERITY: [f64; 4] = [0.03, 0.15, 0.55, 1.0];
/// Share of incidents whose tracker sends no severity (the importer counts them as P2).
const NO_SEVERITY: f64 = 0.03;
/// Chance that a P1 (P2) incident is fixed by an emergency deployment: rare, except on fragile
/// services, which are the few that exceed two emergencies in 30 days.
const EMERGENCY_P1: f64 = 0.10;
const EMERGENCY_P2: f64 = 0.01;
const FRAGILE_EMERGENCY_P1: f64 = 0.9;
const FRAGILE_EMERGENCY_P2: f64 = 0.5;
/// Share of services that are fragile, and how many more incidents they have.
const FRAGILE: f64 = 0.02;
const FRAGILE_INCIDENTS: f64 = 3.0;
/// Share of rollbacks triggered by an incident the deployment caused.
const ROLLBACK_BY_INCIDENT: f64 = 0.4;
/// Share of incidents that name the artefact that caused them.
const ATTRIBUTED: f64 = 0.6;
/// Team time zones, minutes east of UTC: business hours are local.
const TIME_ZONES: [i64; 8] = [-480, -300, 0, 60, 120, 330, 480, 540];
/// Log-normal shape of the spread of deployment rates across services: with it the median
/// service deploys about once every few days when the mean is nine a day, the slowest about
/// monthly, the busiest over a hundred times a day.
const RATE_SHAPE: f64 = 1.6;

const DOMAINS: [&str; 40] = [
    "billing",
    "payments",
    "checkout",
    "catalog",
    "search",
    "inventory",
    "orders",
    "shipping",
    "accounts",
    "auth",
    "profile",
    "notifications",
    "email",
    "sms",
    "pricing",
    "promotions",
    "reviews",
    "ratings",
    "recommendations",
    "analytics",
    "reporting",
    "ledger",
    "invoicing",
    "tax",
    "fraud",
    "risk",
    "identity",
    "sessions",
    "cart",
    "wishlist",
    "media",
    "images",
    "video",
    "content",
    "cms",
    "routing",
    "geo",
    "maps",
    "scheduler",
    "loyalty",
];
const ROLES: [&str; 25] = [
    "api",
    "service",
    "worker",
    "web",
    "gateway",
    "sync",
    "indexer",
    "consumer",
    "publisher",
    "jobs",
    "proxy",
    "store",
    "cache",
    "events",
    "admin",
    "ui",
    "batch",
    "stream",
    "export",
    "import",
    "bridge",
    "monitor",
    "audit",
    "core",
    "backend",
];

/// `billing-api`, `payments-api`, ...; unique, and made of `[a-z0-9-]` only (no JSON escaping).
pub fn service_name(i: u32) -> String {
    let i = i as usize;
    let base = format!("{}-{}", DOMAINS[i % DOMAINS.len()], ROLES[(i / DOMAINS.len()) % ROLES.len()]);
    let round = i / (DOMAINS.len() * ROLES.len());
    if round == 0 { base } else { format!("{base}-{}", round + 1) }
}

struct Service {
    rng: Rng,
    tz: i64,
    staged: bool,
    upgraded: bool,
    /// Successful production deployments per day, and attempts per millisecond.
    daily_rate: f64,
    attempt_rate: f64,
    fail: f64,
    rollback: f64,
    /// Chance that a deployment causes an incident that names its artefact.
    incident: f64,
    /// Incidents per millisecond that name no artefact.
    unattributed_rate: f64,
    pipe_median: f64,
    new_service: bool,
    force_first_rollback: bool,
    fragile: bool,
    next_regular: i64,
    next_unattributed: i64,
    /// (anchor, incident number), sorted.
    emergencies: Vec<(i64, u64)>,
    /// No deployment pipeline starts before this (a rollback is under way).
    not_before: i64,
    /// Production finish times are strictly increasing, so "the latest earlier deployment" of
    /// a rollback is always the one it was generated for.
    last_finish: i64,
    /// Changes merged but not yet in a production deployment that stayed, and when they were
    /// known to need another artefact (the failure or the rollback).
    pending: Vec<u32>,
    pending_since: i64,
    /// The changes of the latest production artefact, for rebuilds, and its finish time.
    last_changes: Vec<u32>,
    last_changes_since: i64,
    running: Option<u64>,
    deployed: bool,
    staged_once: bool,
    next_pr: u32,
    next_run: u32,
}

impl Service {
    fn next_anchor(&self) -> i64 {
        let emergency = self.emergencies.first().map_or(i64::MAX, |e| e.0);
        self.next_regular.min(self.next_unattributed).min(emergency)
    }
}

#[derive(Default)]
struct Counters {
    chains: u64,
    artefacts: u64,
    incidents: u64,
}

impl Counters {
    fn chain(&mut self) -> u64 {
        self.chains += 1;
        self.chains
    }
}

/// Events waiting for their time: a heap of small entries over a slab of events.
struct Queue {
    heap: BinaryHeap<Pending>,
    slab: Vec<Event>,
    free: Vec<u32>,
    seq: u64,
    end: i64,
    clamped: u64,
}

impl Queue {
    /// Events after the end of the history are dropped. One before `floor` would break the
    /// streaming order; it is moved to `floor` and counted (the test requires none).
    fn push(&mut self, floor: i64, at: i64, svc: u32, chain: u64, body: Body) {
        if at > self.end {
            return;
        }
        let at = if at < floor {
            self.clamped += 1;
            floor
        } else {
            at
        };
        let event = Event { at, svc, chain, body };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = event;
                slot
            }
            None => {
                self.slab.push(event);
                (self.slab.len() - 1) as u32
            }
        };
        self.seq += 1;
        self.heap.push(Pending { at, seq: self.seq, slot });
    }

    fn next_at(&self) -> Option<i64> {
        self.heap.peek().map(|p| p.at)
    }

    fn pop(&mut self) -> Option<Event> {
        let p = self.heap.pop()?;
        self.free.push(p.slot);
        self.slab.get(p.slot as usize).copied()
    }
}

/// Deployment intensity by local hour of the week (Monday 00:00 first), mean 1.
struct Week {
    weights: [f64; 168],
    max: f64,
}

impl Week {
    fn new() -> Self {
        let mut weights = [0.0; 168];
        for (i, w) in weights.iter_mut().enumerate() {
            let (day, hour) = (i / 24, i % 24);
            *w = match (day < 5, hour) {
                (true, 9..=17) => 10.0,
                (true, 7..=8 | 18..=20) => 3.0,
                (true, _) => 0.6,
                (false, 10..=17) => 1.2,
                (false, _) => 0.4,
            };
        }
        let mean = weights.iter().sum::<f64>() / 168.0;
        weights.iter_mut().for_each(|w| *w /= mean);
        let max = weights.iter().copied().fold(0.0, f64::max);
        Week { weights, max }
    }

    fn at(&self, local_ms: i64) -> f64 {
        let hours = local_ms.div_euclid(HOUR);
        let day = hours.div_euclid(24);
        let index = weekday(day) * 24 + hours.rem_euclid(24);
        self.weights[index as usize]
    }
}

struct World {
    services: Vec<Service>,
    queue: Queue,
    counters: Counters,
    week: Week,
    end: i64,
}

fn ms(x: f64) -> i64 {
    x.round() as i64
}

pub fn run<W: Write>(cfg: &Config, sink: W) -> Result<Summary, GenError> {
    cfg.validate()?;
    let names: Vec<String> = (0..cfg.services).map(service_name).collect();
    let mut world = World::new(cfg);
    let mut writer = Writer::new(sink, names, cfg.seed);
    let mut schedule: BinaryHeap<Reverse<(i64, u32)>> = BinaryHeap::new();
    for (i, s) in world.services.iter().enumerate() {
        let anchor = s.next_anchor();
        if anchor <= world.end {
            schedule.push(Reverse((anchor - LOOKBACK, i as u32)));
        }
    }
    loop {
        let next_chain = schedule.peek().map(|r| r.0.0);
        let next_event = world.queue.next_at();
        match (next_event, next_chain) {
            (Some(at), Some(key)) if at < key => write_next(&mut world, &mut writer)?,
            (Some(_), None) => write_next(&mut world, &mut writer)?,
            (_, Some(_)) => {
                if let Some(Reverse((_, svc))) = schedule.pop() {
                    world.step(svc);
                    let anchor = world.services[svc as usize].next_anchor();
                    if anchor <= world.end {
                        schedule.push(Reverse((anchor - LOOKBACK, svc)));
                    }
                }
            }
            (None, None) => break,
        }
    }
    let mut summary = writer.finish()?;
    summary.services = u64::from(cfg.services);
    summary.clamped = world.queue.clamped;
    Ok(summary)
}

fn write_next<W: Write>(world: &mut World, writer: &mut Writer<W>) -> Result<(), GenError> {
    if let Some(ev) = world.queue.pop() {
        writer.write(&ev)?;
    }
    Ok(())
}

impl World {
    fn new(cfg: &Config) -> Self {
        let end = cfg.end_ms();
        let start = cfg.start_ms();
        // The first chains start a lookback after the window opens, so that nothing a chain
        // refers to (a merged change, a pipeline start) falls before the history.
        let first = start + LOOKBACK;
        let n = cfg.services as usize;
        let mut services = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(n);
        for i in 0..n {
            let mut rng = Rng::new(cfg.seed, i as u64 + 1);
            let z = rng.normal().clamp(-2.5, 2.5);
            weights.push((RATE_SHAPE * z).exp());
            let tz = TIME_ZONES[rng.below(TIME_ZONES.len() as u64) as usize] * MINUTE;
            let staged = rng.chance(0.25);
            let upgraded = rng.chance(0.5);
            let fail = (0.027 * rng.lognormal(1.0, 0.5)).clamp(0.005, 0.15);
            let rollback = (0.018 * rng.lognormal(1.0, 0.5)).clamp(0.003, 0.1);
            let pipe_median = rng.uniform(8.0, 35.0) * MINUTE as f64;
            let new_service = rng.chance(0.1);
            let fragile = rng.chance(FRAGILE);
            let born = if new_service { first + ms(rng.uniform(0.0, 0.8) * (end - first) as f64) } else { first };
            services.push(Service {
                rng,
                tz,
                staged,
                upgraded,
                daily_rate: 0.0,
                attempt_rate: 0.0,
                fail,
                rollback,
                incident: 0.0,
                unattributed_rate: 0.0,
                pipe_median,
                new_service,
                force_first_rollback: false,
                fragile,
                next_regular: born,
                next_unattributed: born,
                emergencies: Vec::new(),
                not_before: born,
                last_finish: born,
                pending: Vec::new(),
                pending_since: 0,
                last_changes: Vec::new(),
                last_changes_since: 0,
                running: None,
                deployed: false,
                staged_once: false,
                next_pr: 100,
                next_run: 1,
            });
        }
        // At least one service starts during the history, and the first one that does has its
        // first deployment rolled back: the importer must cope with no earlier deployment.
        if n >= 2 && !services.iter().any(|s| s.new_service) {
            let last = &mut services[n - 1];
            last.new_service = true;
            last.next_regular = first + (end - first) / 3;
            last.next_unattributed = last.next_regular;
            last.not_before = last.next_regular;
            last.last_finish = last.next_regular;
        }
        if let Some(s) = services.iter_mut().find(|s| s.new_service) {
            s.force_first_rollback = true;
        }
        // Every kind of service exists whenever there are two: the small preset must still
        // exercise staging, both deployment event types and emergencies.
        if n >= 2 {
            if !services.iter().any(|s| s.staged) {
                services[1].staged = true;
            }
            if services.iter().all(|s| s.upgraded) {
                services[0].upgraded = false;
            } else if !services.iter().any(|s| s.upgraded) {
                services[0].upgraded = true;
            }
            if !services.iter().any(|s| s.fragile) {
                services[0].fragile = true;
            }
        }
        let proneness: Vec<f64> = services.iter().map(|s| if s.fragile { FRAGILE_INCIDENTS } else { 1.0 }).collect();
        let active: Vec<f64> = services.iter().map(|s| ((end - s.next_regular) as f64 / DAY as f64).max(0.0)).collect();

        // Deployment rates in proportion to the weights, scaled to the asked total.
        let weighted: f64 = weights.iter().zip(&active).map(|(w, a)| w * a).sum();
        let per_weight = if weighted > 0.0 { cfg.deployments as f64 / weighted } else { 0.0 };
        for (s, w) in services.iter_mut().zip(&weights) {
            s.daily_rate = per_weight * w;
            s.attempt_rate = s.daily_rate / (1.0 - s.fail - CANCEL) / DAY as f64;
        }
        // Unattributed incidents grow with the square root of activity; attributed ones per
        // deployment fall as the rate rises (busy services ship smaller changes).
        let unattributed = (1.0 - ATTRIBUTED) * cfg.incidents as f64;
        let sqrt_weighted: f64 = weights.iter().zip(&active).zip(&proneness).map(|((w, a), p)| w.sqrt() * a * p).sum();
        let deploys: Vec<f64> = services.iter().zip(&active).map(|(s, a)| s.daily_rate * a).collect();
        let by_rollback: f64 =
            services.iter().zip(&deploys).map(|(s, d)| d * s.rollback * ROLLBACK_BY_INCIDENT).sum::<f64>();
        let attributed = (ATTRIBUTED * cfg.incidents as f64 - by_rollback).max(0.0);
        let damped: f64 = weights.iter().zip(&deploys).zip(&proneness).map(|((w, d), p)| d * w.powf(-0.4) * p).sum();
        for ((s, w), p) in services.iter_mut().zip(&weights).zip(&proneness) {
            if sqrt_weighted > 0.0 {
                s.unattributed_rate = unattributed / sqrt_weighted * w.sqrt() * p / DAY as f64;
            }
            if damped > 0.0 {
                s.incident = (attributed / damped * w.powf(-0.4) * p).min(0.5);
            }
        }

        let week = Week::new();
        for s in &mut services {
            let born = s.next_regular;
            s.next_regular = next_regular(s, &week, born, end);
            s.next_unattributed = next_unattributed(s, born);
        }
        World {
            services,
            queue: Queue { heap: BinaryHeap::new(), slab: Vec::new(), free: Vec::new(), seq: 0, end, clamped: 0 },
            counters: Counters::default(),
            week,
            end,
        }
    }

    /// Generates the service's next chain: an emergency fix, an unattributed incident or a
    /// regular deployment attempt, whichever is due first.
    fn step(&mut self, svc: u32) {
        let Some(s) = self.services.get_mut(svc as usize) else { return };
        let anchor = s.next_anchor();
        let q = &mut self.queue;
        let c = &mut self.counters;
        if s.emergencies.first().is_some_and(|e| e.0 == anchor) {
            let (_, incident) = s.emergencies.remove(0);
            attempt(s, q, c, svc, anchor, Some(incident));
        } else if s.next_unattributed == anchor {
            incident(s, q, c, svc, anchor - LOOKBACK, anchor, None, None, None, true);
            s.next_unattributed = next_unattributed(s, anchor);
        } else {
            // From the anchor, not the finish: attempts held back by a rollback pile up after
            // it (a backlog) instead of being lost.
            attempt(s, q, c, svc, anchor, None);
            s.next_regular = next_regular(s, &self.week, anchor, self.end);
        }
    }
}

/// The next regular deployment, by thinning a Poisson process of the service's peak rate with
/// the local hour-of-week intensity.
fn next_regular(s: &mut Service, week: &Week, from: i64, end: i64) -> i64 {
    if s.attempt_rate <= 0.0 {
        return i64::MAX;
    }
    let mean_gap = 1.0 / (s.attempt_rate * week.max);
    let mut t = from as f64;
    loop {
        t += s.rng.exp(mean_gap);
        let at = ms(t);
        if at > end {
            return at;
        }
        if s.rng.f64() * week.max < week.at(at + s.tz) {
            return at;
        }
    }
}

fn next_unattributed(s: &mut Service, from: i64) -> i64 {
    if s.unattributed_rate <= 0.0 {
        return i64::MAX;
    }
    let gap = s.rng.exp(1.0 / s.unattributed_rate);
    if gap > 1e15 { i64::MAX } else { from + ms(gap).max(1) }
}

fn pipeline_event(phase: Phase, pipeline: Pipeline, run: u32, env: Env, outcome: Outcome, error: u8) -> Body {
    Body::Pipeline { phase, pipeline, run, env, outcome, error }
}

fn take_run(s: &mut Service) -> u32 {
    let run = s.next_run;
    s.next_run = s.next_run.wrapping_add(1);
    run
}

/// One deployment attempt finishing at about `anchor`: its new changes, the build (a separate
/// chain that also deploys to staging for staged services), the production deployment or the
/// failure, and what follows (rollback, incident).
fn attempt(s: &mut Service, q: &mut Queue, c: &mut Counters, svc: u32, anchor: i64, emergency: Option<u64>) {
    let floor = anchor - LOOKBACK;
    let hotfix = emergency.is_some();
    let deploy_minutes = if hotfix {
        s.rng.lognormal(12.0, 0.3).clamp(5.0, 30.0)
    } else {
        (s.rng.lognormal(s.pipe_median, 0.35) / MINUTE as f64).clamp(5.0, 60.0)
    };
    let deploy_ms = ms(deploy_minutes * MINUTE as f64);
    let queued = if s.rng.chance(0.3) { ms(s.rng.uniform(5.0, 240.0) * SECOND as f64) } else { 0 };
    let total = deploy_ms + queued;
    let finish = anchor.max(s.last_finish + SECOND).max(s.not_before + total);
    s.last_finish = finish;
    let start = finish - total;
    let run_start = start + queued;

    let outcome = if hotfix {
        Outcome::Success
    } else {
        let x = s.rng.f64();
        if x < s.fail {
            if s.rng.chance(0.8) { Outcome::Failure } else { Outcome::Error }
        } else if x < s.fail + CANCEL {
            Outcome::Cancel
        } else {
            Outcome::Success
        }
    };
    let staged = s.staged && !hotfix;
    let fails_in_build = staged && outcome != Outcome::Success && s.rng.chance(0.5);

    // The build: inside the deployment pipeline, or its own chain ending in staging.
    let deploy_chain = c.chain();
    let (build_chain, build_start, build_ms) = if staged {
        let build_ms = ms(s.rng.lognormal(s.pipe_median * 0.6, 0.35).clamp(5.0 * MINUTE as f64, 45.0 * MINUTE as f64));
        let soak = ms(s.rng.lognormal(40.0, 0.6).clamp(10.0, 150.0) * MINUTE as f64);
        (c.chain(), start - soak - build_ms, build_ms)
    } else {
        (deploy_chain, run_start, deploy_ms)
    };

    // Changes: those carried from a failed or rolled-back artefact, or a rebuild's, plus new.
    // Only what was known when the build started: a build running alongside the one that
    // failed cannot carry its changes.
    let mut changes: Vec<(u32, bool)> = Vec::with_capacity(6);
    let pending_ready = !s.pending.is_empty() && s.pending_since < build_start;
    let new_count = if hotfix {
        1
    } else if s.pending.is_empty()
        && !s.last_changes.is_empty()
        && s.last_changes_since < build_start
        && s.rng.chance(REBUILD)
    {
        changes.extend(s.last_changes.iter().map(|&pr| (pr, true)));
        s.rng.below(2) as usize
    } else {
        if pending_ready {
            changes.extend(s.pending.drain(..).map(|pr| (pr, true)));
        }
        let k = 1 + s.rng.pick(&CHANGES_PER_ARTEFACT);
        if changes.is_empty() { k.max(1) } else { k.saturating_sub(changes.len()) }
    };
    for j in 0..new_count {
        let pr = s.next_pr;
        s.next_pr = s.next_pr.wrapping_add(1);
        // The last merge triggers the build; earlier ones wait for it.
        let before = if j + 1 == new_count {
            s.rng.uniform(20.0, 300.0) * SECOND as f64
        } else {
            s.rng.exp(45.0 * MINUTE as f64).min(3.0 * HOUR as f64)
        };
        let merged = (build_start - ms(before)).max(floor + SECOND);
        let review = if hotfix { s.rng.lognormal(40.0, 0.8) } else { s.rng.lognormal(300.0, 1.1) };
        let committed = merged - ms(review.clamp(3.0, 20.0 * 24.0 * 60.0) * MINUTE as f64);
        let committed = if s.rng.chance(0.1) { None } else { Some(committed) };
        q.push(floor, merged, svc, build_chain, Body::ChangeMerged { pr, committed });
        changes.push((pr, false));
    }

    let build_env = if staged { Env::Staging } else { Env::Production };
    let build_pipeline = if hotfix {
        Pipeline::Hotfix
    } else if staged {
        Pipeline::Build
    } else {
        Pipeline::Deploy
    };
    let build_run = take_run(s);
    if staged && s.rng.chance(0.3) {
        let wait = ms(s.rng.uniform(5.0, 240.0) * SECOND as f64);
        let body = pipeline_event(Phase::Queued, build_pipeline, build_run, build_env, Outcome::Success, 0);
        q.push(floor, build_start - wait, svc, build_chain, body);
    } else if !staged && queued > 0 {
        let body = pipeline_event(Phase::Queued, build_pipeline, build_run, build_env, Outcome::Success, 0);
        q.push(floor, start, svc, build_chain, body);
    }
    let body = pipeline_event(Phase::Started, build_pipeline, build_run, build_env, Outcome::Success, 0);
    q.push(floor, build_start, svc, build_chain, body);

    let packaged_at = build_start + build_ms * 3 / 10;
    let build_fails_at = (fails_in_build || (!staged && outcome != Outcome::Success))
        .then(|| build_start + ms(build_ms as f64 * s.rng.uniform(0.15, 1.0)));
    let artefact = if build_fails_at.is_none_or(|at| at > packaged_at + SECOND) {
        c.artefacts += 1;
        for (i, &(pr, carried)) in changes.iter().enumerate() {
            let body = Body::ArtifactPackaged { artefact: c.artefacts, pr, carried };
            q.push(floor, packaged_at + i as i64 * 50, svc, build_chain, body);
        }
        Some(c.artefacts)
    } else {
        None
    };
    let prs: Vec<u32> = changes.iter().map(|&(pr, _)| pr).take(5).collect();

    if let Some(at) = build_fails_at {
        let errors = if staged { BUILD_ERRORS.len() } else { DEPLOY_ERRORS.len() };
        let error = s.rng.below(errors as u64) as u8;
        let body = pipeline_event(Phase::Finished, build_pipeline, build_run, build_env, outcome, error);
        q.push(floor, at, svc, build_chain, body);
        defer(s, &prs, at);
        return;
    }
    let Some(artefact) = artefact else { return };

    if staged {
        let staging_at = build_start + build_ms;
        let upgraded = s.upgraded && s.staged_once;
        s.staged_once = true;
        let body = Body::Deployed { env: Env::Staging, artefact, upgraded, emergency: None };
        q.push(floor, staging_at, svc, build_chain, body);
        if s.rng.chance(0.25) {
            let body = pipeline_event(Phase::Finished, Pipeline::Build, build_run, Env::Staging, Outcome::Success, 0);
            q.push(floor, staging_at + ms(s.rng.uniform(2.0, 20.0) * SECOND as f64), svc, build_chain, body);
        }
        // The promotion to production: its own chain and run.
        let run = take_run(s);
        if queued > 0 {
            let body = pipeline_event(Phase::Queued, Pipeline::Deploy, run, Env::Production, Outcome::Success, 0);
            q.push(floor, start, svc, deploy_chain, body);
        }
        let body = pipeline_event(Phase::Started, Pipeline::Deploy, run, Env::Production, Outcome::Success, 0);
        q.push(floor, run_start, svc, deploy_chain, body);
        if outcome != Outcome::Success {
            let at = run_start + ms(deploy_ms as f64 * s.rng.uniform(0.15, 1.0));
            let error = s.rng.below(DEPLOY_ERRORS.len() as u64) as u8;
            let body = pipeline_event(Phase::Finished, Pipeline::Deploy, run, Env::Production, outcome, error);
            q.push(floor, at, svc, deploy_chain, body);
            defer(s, &prs, at);
            return;
        }
        deployed(s, q, c, svc, floor, deploy_chain, finish, artefact, Pipeline::Deploy, run, emergency, prs);
    } else {
        deployed(s, q, c, svc, floor, deploy_chain, finish, artefact, build_pipeline, build_run, emergency, prs);
    }
}

/// A successful production deployment and its consequences.
#[allow(clippy::too_many_arguments)]
fn deployed(
    s: &mut Service,
    q: &mut Queue,
    c: &mut Counters,
    svc: u32,
    floor: i64,
    chain: u64,
    finish: i64,
    artefact: u64,
    pipeline: Pipeline,
    run: u32,
    emergency: Option<u64>,
    prs: Vec<u32>,
) {
    let first = !s.deployed;
    s.deployed = true;
    let upgraded = s.upgraded && !first;
    q.push(floor, finish, svc, chain, Body::Deployed { env: Env::Production, artefact, upgraded, emergency });
    if s.rng.chance(0.25) {
        let body = pipeline_event(Phase::Finished, pipeline, run, Env::Production, Outcome::Success, 0);
        q.push(floor, finish + ms(s.rng.uniform(2.0, 20.0) * SECOND as f64), svc, chain, body);
    }
    let previous = s.running.replace(artefact);
    if emergency.is_none() {
        s.last_changes.clone_from(&prs);
        s.last_changes_since = finish;
    }

    let rollback_chance = if first && s.force_first_rollback {
        1.0
    } else if first && s.new_service {
        0.5
    } else {
        s.rollback
    };
    if s.rng.chance(rollback_chance) {
        // Production returns to the previous artefact, or, before any seen here, to the one
        // that ran before the history began.
        let target = previous.unwrap_or((1 << 63) | u64::from(svc));
        let completed = rollback(s, q, c, svc, floor, finish, artefact, target, first);
        s.running = previous;
        defer(s, &prs, completed);
    } else if s.rng.chance(s.incident) {
        let after = s.rng.lognormal(240.0, 1.6).clamp(2.0, 14.0 * 24.0 * 60.0);
        let detected = finish + ms(after * MINUTE as f64);
        incident(s, q, c, svc, floor, detected, None, Some(artefact), None, true);
    }
}

#[allow(clippy::too_many_arguments)]
fn rollback(
    s: &mut Service,
    q: &mut Queue,
    c: &mut Counters,
    svc: u32,
    floor: i64,
    finish: i64,
    bad: u64,
    target: u64,
    first: bool,
) -> i64 {
    let chain = c.chain();
    let by_incident = s.rng.chance(ROLLBACK_BY_INCIDENT);
    let (decided, detected) = if by_incident {
        let detected = finish + ms(s.rng.lognormal(15.0, 0.8).clamp(1.0, 240.0) * MINUTE as f64);
        (detected + ms(s.rng.uniform(3.0, 25.0) * MINUTE as f64), Some(detected))
    } else if s.daily_rate < 1.0 && s.rng.chance(0.15) {
        // A slow service may find a problem days later, past its stabilisation window.
        (finish + ms(s.rng.uniform(1.0, 4.0) * DAY as f64), None)
    } else {
        (finish + ms(s.rng.lognormal(25.0, 0.9).clamp(2.0, 480.0) * MINUTE as f64), None)
    };
    // Median 6 min; about one in ten exceeds the 15-minute target.
    let completed = decided + ms(s.rng.lognormal(6.0, 0.7).clamp(0.5, 90.0) * MINUTE as f64);
    let with_pipeline = s.rng.chance(0.85);
    if with_pipeline {
        let run = take_run(s);
        let body = pipeline_event(Phase::Started, Pipeline::Rollback, run, Env::Production, Outcome::Success, 0);
        q.push(floor, decided, svc, chain, body);
    }
    q.push(floor, completed, svc, chain, Body::RolledBack { artefact: target, first, with_pipeline });
    if let Some(detected) = detected {
        let severity = if s.rng.chance(0.3) { 1 } else { 2 };
        let resolved = completed + ms(s.rng.uniform(2.0, 30.0) * MINUTE as f64);
        incident(s, q, c, svc, floor, detected, Some(severity), Some(bad), Some(resolved), false);
    }
    s.not_before = completed + ms(s.rng.uniform(5.0, 30.0) * MINUTE as f64);
    completed
}

/// Changes that must ship again in a later artefact (after a failure or a rollback), added to
/// those still waiting; at most five are kept.
fn defer(s: &mut Service, prs: &[u32], since: i64) {
    for &pr in prs {
        if s.pending.len() < 5 && !s.pending.contains(&pr) {
            s.pending.push(pr);
        }
    }
    s.pending_since = s.pending_since.max(since);
}

/// An incident on the service, detected and (unless it outlasts the history) resolved; a
/// P1/P2 one may be fixed by an emergency deployment, which then precedes its resolution.
#[allow(clippy::too_many_arguments)]
fn incident(
    s: &mut Service,
    q: &mut Queue,
    c: &mut Counters,
    svc: u32,
    floor: i64,
    detected: i64,
    severity: Option<u8>,
    artefact: Option<u64>,
    resolved: Option<i64>,
    allow_emergency: bool,
) {
    c.incidents += 1;
    let no = c.incidents;
    let chain = c.chain();
    let reported = !s.rng.chance(NO_SEVERITY);
    // Without a reported severity the importer reads P2, so the story follows P2.
    let severity = if reported { severity.unwrap_or_else(|| 1 + s.rng.pick(&SEVERITY) as u8) } else { 2 };
    let description = s.rng.below(DESCRIPTIONS.len() as u64) as u8;
    let (median, cap) = match severity {
        1 => (50.0, 2.0 * 24.0 * 60.0),
        2 => (180.0, 7.0 * 24.0 * 60.0),
        3 => (20.0 * 60.0, 30.0 * 24.0 * 60.0),
        _ => (72.0 * 60.0, 45.0 * 24.0 * 60.0),
    };
    let mut resolved =
        resolved.unwrap_or_else(|| detected + ms(s.rng.lognormal(median, 0.9).clamp(3.0, cap) * MINUTE as f64));
    let emergency_chance = match (severity, s.fragile) {
        (1, false) => EMERGENCY_P1,
        (2, false) => EMERGENCY_P2,
        (1, true) => FRAGILE_EMERGENCY_P1,
        (2, true) => FRAGILE_EMERGENCY_P2,
        _ => 0.0,
    };
    if allow_emergency && s.rng.chance(emergency_chance) {
        // At least 45 min later: a hotfix pipeline (at most 34 min) starts after the detection.
        let at = detected + ms(s.rng.lognormal(70.0, 0.6).clamp(45.0, 480.0) * MINUTE as f64);
        let pos = s.emergencies.partition_point(|e| e.0 <= at);
        s.emergencies.insert(pos, (at, no));
        resolved = at + ms(s.rng.uniform(5.0, 40.0) * MINUTE as f64);
    }
    let severity = reported.then_some(severity);
    let body = Body::Incident { resolved: false, no, severity, artefact, description };
    q.push(floor, detected, svc, chain, body);
    let body = Body::Incident { resolved: true, no, severity, artefact, description };
    q.push(floor, resolved, svc, chain, body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn service_names_are_unique_and_need_no_escaping() {
        let names: Vec<String> = (0..3_000).map(service_name).collect();
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len());
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')));
        assert_eq!(names[0], "billing-api");
    }

    #[test]
    fn week_favours_weekday_business_hours() {
        let week = Week::new();
        let mean = week.weights.iter().sum::<f64>() / 168.0;
        assert!((mean - 1.0).abs() < 1e-9);
        // 2026-11-02 was a Monday: 10:00 UTC against Sunday 03:00.
        let monday_ten = 1_793_491_200_000 + DAY + 10 * HOUR;
        let sunday_three = 1_793_491_200_000 + 3 * HOUR;
        assert!(week.at(monday_ten) > 10.0 * week.at(sunday_three));
    }
}
