//! The rollout executor: a thread of `tollgate serve` that carries out each running rollout.
//!
//! It keeps nothing of its own. Each round it reads the durable state, asks the domain what
//! each rollout needs now (`progress::next`), does that one thing in the world (shift traffic,
//! query Prometheus, probe the health endpoint, run the smoke checks) and records what it did
//! or saw through the application layer, as the person who started the rollout, like any
//! other command: `decide` checks every step against the rollout as recorded, so a promotion
//! the analysis did not pass is refused here as it would be from anyone. A server killed at any
//! point resumes from the log: a shift done but not recorded is done again (setting a weight
//! twice is setting it once), and a step recorded is never asked for again.
//!
//! Rollbacks need no approval (4.5): a trigger that fires, a failed analysis or smoke check
//! starts one at once, traffic goes back to the previous version, and the rollback completes
//! when that version answers healthy, which times the rollback from decision to confirmed.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use tollgate_app::Clock;
use tollgate_domain::release::ReleaseId;
use tollgate_domain::rollout::analysis::Measured;
use tollgate_domain::rollout::plan::{Plan, Strategy, Target as PlanTarget};
use tollgate_domain::rollout::progress::{self, Due, Measurement, Next, Rollout, RolloutFact, SmokeRecord};
use tollgate_domain::{Command, State, Timestamp};
use tollgate_rollout::haproxy::Runtime;
use tollgate_rollout::prometheus::Prometheus;
use tollgate_rollout::smoke::SmokeCheck;
use tollgate_rollout::target::{CommandTarget, HaproxyTarget, Shift, Target, UnleashTarget, WebhookTarget};

use super::Server;

/// The longest the executor sleeps: a rollout started by a request is picked up this soon.
const POLL: Duration = Duration::from_millis(200);
/// Steps done for one rollout in a round before the others get their turn.
const STEPS_PER_ROUND: usize = 32;
/// Failed shifts in a row after which the rollout is rolled back: the split is unknown.
const SHIFT_ATTEMPTS: u32 = 3;
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct Executor {
    wake: Arc<Wake>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Wake {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl Executor {
    pub(crate) fn start(server: Arc<Server>, clock: Arc<dyn Clock>) -> Executor {
        let wake = Arc::new(Wake::default());
        let signal = Arc::clone(&wake);
        let thread = std::thread::Builder::new()
            .name("rollout-executor".into())
            .spawn(move || run(&server, &clock, &signal))
            .expect("starting the rollout executor's thread");
        Executor { wake, thread: Some(thread) }
    }

    /// Stops after the step in hand (a step is one call, each bounded by its timeout).
    pub(crate) fn stop(mut self) {
        *self.wake.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(server: &Server, clock: &Arc<dyn Clock>, wake: &Wake) {
    let mut executor = Rounds { server, clock, failed_shifts: HashMap::new() };
    loop {
        let pause = executor.round();
        let stopped = wake.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        if *stopped {
            return;
        }
        let (stopped, _) = wake.changed.wait_timeout(stopped, pause).unwrap_or_else(PoisonError::into_inner);
        if *stopped {
            return;
        }
    }
}

struct Rounds<'a> {
    server: &'a Server,
    clock: &'a Arc<dyn Clock>,
    failed_shifts: HashMap<ReleaseId, u32>,
}

impl Rounds<'_> {
    /// One pass over every rollout with work; how long until the next is due.
    fn round(&mut self) -> Duration {
        let Some(state) = self.state() else { return POLL };
        let now = self.clock.now();
        let active: Vec<ReleaseId> = state
            .releases
            .iter()
            .filter(|(_, r)| !r.rollouts.is_empty() && progress::current(r, state.policy_of(r), now).is_some())
            .map(|(id, _)| *id)
            .collect();
        let mut pause = POLL;
        for id in active {
            if let Some(until) = self.advance(id) {
                let wait = (until - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
                pause = pause.min(wait);
            }
        }
        pause
    }

    fn state(&self) -> Option<Arc<State>> {
        match self.server.snapshots.current(&self.server.app, &self.server.commits) {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::error!(error = ?e, "the executor cannot read the store");
                None
            }
        }
    }

    /// Does what `id`'s rollout needs until it has to wait; when it next has something to do.
    fn advance(&mut self, id: ReleaseId) -> Option<Timestamp> {
        for _ in 0..STEPS_PER_ROUND {
            let state = self.state()?;
            let release = state.releases.get(&id)?;
            let now = self.clock.now();
            let (rollout, next) = progress::current(release, state.policy_of(release), now)?;
            let step = Step { id, rollout, actor: &rollout.started.by };
            match next {
                Next::Wait { until } => return Some(until),
                // Both wait for a person: a resume or a rollback, the release manager's approval.
                Next::Idle(_) | Next::AwaitApproval { .. } => return None,
                next => {
                    if !self.act(&step, next) {
                        return Some(now + chrono::Duration::seconds(1));
                    }
                }
            }
        }
        Some(self.clock.now())
    }

    /// Carries out one step; false when it could not be done or recorded (tried again later).
    fn act(&mut self, step: &Step<'_>, next: Next) -> bool {
        let Step { id, rollout, .. } = *step;
        let plan = &rollout.plan.plan;
        let stage = rollout.current().map(|s| s.index);
        match next {
            Next::Baseline => {
                let due: Vec<Due> = rollout.baseline_due().into_iter().map(Due::Signal).collect();
                self.measure_all(step, None, &due)
            }
            Next::Measure(due) => self.measure_all(step, stage, &due),
            Next::Shift { stage, weight } => match self.shift(step, weight) {
                Ok(()) => {
                    self.failed_shifts.remove(&id);
                    self.record(step, RolloutFact::Shifted { stage, weight })
                }
                Err(why) => self.shift_failed(step, &why),
            },
            Next::Smoke { stage } => {
                let mut recorded = true;
                for check in &plan.smoke {
                    let result =
                        SmokeCheck { expect_status: check.expect_status, ..SmokeCheck::new(&check.name, &check.url) }
                            .run();
                    let record = SmokeRecord {
                        stage,
                        name: result.name,
                        url: result.url,
                        status: result.status,
                        passed: result.passed,
                        detail: format!("{} in {} ms", result.detail, result.millis),
                    };
                    recorded &= self.record(step, RolloutFact::SmokeChecked(record));
                }
                recorded
            }
            Next::Promote { stage } => self.record(step, RolloutFact::StagePassed { stage }),
            Next::Complete => self.record(step, RolloutFact::Completed),
            Next::Pause { reason } => self.record(step, RolloutFact::Paused { reason }),
            Next::RollForward { reason } => {
                tracing::warn!(release = %id, %reason, "past a one-way step: rolling forward, traffic stays");
                self.record(step, RolloutFact::RolledForward { reason })
            }
            Next::RollBack { reason } => {
                tracing::warn!(release = %id, %reason, "rolling back, no approval needed (4.5)");
                let command = Command::StartRollback { release: id, reason: format!("automatic: {reason}") };
                self.execute(step, &command)
            }
            Next::Restore => match self.shift(step, 0) {
                Ok(()) => self.record(step, RolloutFact::TrafficRestored),
                Err(why) => {
                    tracing::error!(release = %id, error = %why, "traffic could not be put back on the previous version; retrying");
                    false
                }
            },
            Next::ConfirmRollback => self.execute(step, &Command::CompleteRollback { release: id }),
            Next::Wait { .. } | Next::Idle(_) | Next::AwaitApproval { .. } => unreachable!("handled by advance"),
        }
    }

    fn shift(&self, step: &Step<'_>, weight: u32) -> Result<(), String> {
        let target = target(&step.rollout.plan.plan)?;
        let shift = Shift { weight: u8::try_from(weight.min(100)).expect("at most 100"), ..self.intended(step) };
        target.shift(&shift).map_err(|e| format!("{}: {e}", target.describe()))
    }

    /// The split the rollout stands at: the current stage's weight, both artefacts.
    fn intended(&self, step: &Step<'_>) -> Shift {
        let rollout = step.rollout;
        Shift {
            weight: rollout.current().map_or(0, |s| u8::try_from(s.weight.min(100)).expect("at most 100")),
            artefact: rollout.artefact.to_string(),
            previous: rollout.previous.as_ref().map(ToString::to_string),
            environment: rollout.environment.clone(),
            release: step.id.to_string(),
        }
    }

    fn shift_failed(&mut self, step: &Step<'_>, why: &str) -> bool {
        let failures = self.failed_shifts.entry(step.id).or_default();
        *failures += 1;
        tracing::warn!(release = %step.id, attempt = *failures, error = %why, "the target refused the shift");
        if *failures < SHIFT_ATTEMPTS {
            return false;
        }
        self.failed_shifts.remove(&step.id);
        let reason =
            format!("automatic: the target failed {SHIFT_ATTEMPTS} shifts in a row, the split is unknown: {why}");
        self.execute(step, &Command::StartRollback { release: step.id, reason })
    }

    fn measure_all(&self, step: &Step<'_>, stage: Option<u32>, due: &[Due]) -> bool {
        let plan = &step.rollout.plan.plan;
        let mut recorded = true;
        for item in due {
            let (name, query, measured) = match item {
                Due::Metric(i) => {
                    let metric = &plan.analysis[*i];
                    (metric.name.clone(), metric.query.clone(), self.query(plan, &metric.query))
                }
                Due::Signal(name) => {
                    let (query, measured) = self.signal(step, name);
                    ((*name).to_owned(), query, measured)
                }
            };
            let m = Measurement { stage, name, query, at: self.clock.now(), measured };
            recorded &= self.record(step, RolloutFact::Measured(m));
        }
        recorded
    }

    fn query(&self, plan: &Plan, promql: &str) -> Measured {
        let Some(url) = &plan.prometheus else { return Measured::Error("the plan names no Prometheus".into()) };
        match Prometheus::new(url, QUERY_TIMEOUT).query(promql, self.clock.now()) {
            Ok(samples) => match samples.as_slice() {
                [one] => Measured::Value(one.value),
                [] => Measured::NoData("the query returned no series".into()),
                more => Measured::NoData(format!("the query returned {} series, not one number", more.len())),
            },
            Err(e) => Measured::Error(e.to_string()),
        }
    }

    fn signal(&self, step: &Step<'_>, name: &str) -> (String, Measured) {
        let plan = &step.rollout.plan.plan;
        let signals = &plan.signals;
        match name {
            "health" => {
                let url = signals.health.clone().unwrap_or_default();
                let probe = SmokeCheck { timeout: PROBE_TIMEOUT, ..SmokeCheck::new("health", &url) }.run();
                let measured = match probe.status {
                    Some(status) => Measured::Value(f64::from(status)),
                    None => Measured::Error(probe.detail),
                };
                (url, measured)
            }
            "integrity" => {
                let program = signals.integrity.clone().unwrap_or_default();
                (program.join(" "), integrity(&program, &self.intended(step)))
            }
            query_signal => {
                let query = signal_query(plan, query_signal).unwrap_or_default().to_owned();
                let measured = self.query(plan, &query);
                (query, measured)
            }
        }
    }

    fn record(&self, step: &Step<'_>, fact: RolloutFact) -> bool {
        self.execute(step, &Command::RecordRollout { release: step.id, fact })
    }

    /// Records `command` as the rollout's starter, durably, through the application layer.
    fn execute(&self, step: &Step<'_>, command: &Command) -> bool {
        super::commit::record_with(self.server, step.actor, Arc::clone(self.clock), command)
            .inspect_err(|e| tracing::warn!(release = %step.id, error = %e, "the executor's step was not recorded"))
            .is_ok()
    }
}

/// One rollout at one moment of a round.
#[derive(Clone, Copy)]
struct Step<'a> {
    id: ReleaseId,
    rollout: &'a Rollout,
    actor: &'a str,
}

fn signal_query<'a>(plan: &'a Plan, name: &str) -> Option<&'a str> {
    plan.signals.queries().into_iter().find(|(n, _)| *n == name).map(|(_, query)| query)
}

/// The adapter the plan's target names.
fn target(plan: &Plan) -> Result<Box<dyn Target>, String> {
    Ok(match plan.target.as_ref().ok_or("the plan names no target")? {
        PlanTarget::Haproxy { admin, backend, stable, canary } => Box::new(HaproxyTarget {
            runtime: Runtime::new(tollgate_rollout::haproxy::Address::parse(admin)),
            backend: backend.clone(),
            stable_server: stable.clone(),
            canary_server: canary.clone(),
        }),
        PlanTarget::Command { program } => {
            let (first, rest) = program.split_first().ok_or("the command target names no program")?;
            Box::new(CommandTarget::new(first, rest.iter().cloned()))
        }
        PlanTarget::Webhook { url } => Box::new(WebhookTarget::new(url, Duration::from_secs(30))),
        PlanTarget::Unleash { url, project, environment, token_env } => {
            let Strategy::FeatureFlag { flag, .. } = &plan.strategy else {
                return Err("an unleash target needs the feature-flag strategy's flag".into());
            };
            // The token is the server's secret: an environment variable of `tollgate serve`.
            let token = std::env::var(token_env)
                .map_err(|_| format!("the server has no environment variable {token_env} holding the Unleash token"))?;
            let mut unleash = UnleashTarget::new(url, token, flag, environment, Duration::from_secs(10));
            unleash.project = project.clone();
            Box::new(unleash)
        }
    })
}

/// The data-integrity check after a migration: the plan's program, run as a command target
/// runs (the release, the artefacts and the environment in its environment), bounded by a
/// minute. Exit 0 passes; a failure, a timeout or a program that cannot start fails the check,
/// with what it said.
fn integrity(program: &[String], shift: &Shift) -> Measured {
    let Some((first, rest)) = program.split_first() else { return Measured::Error("no program".into()) };
    let check = CommandTarget { timeout: Duration::from_secs(60), ..CommandTarget::new(first, rest.iter().cloned()) };
    match check.shift(shift) {
        Ok(()) => Measured::Value(0.0),
        Err(e) => Measured::Error(e.to_string()),
    }
}
