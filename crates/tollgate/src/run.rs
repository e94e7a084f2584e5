//! Runs one command line: resolves the store, the acting person and the time, executes, prints,
//! and maps every failure to its exit code (1 error, 2 usage, 3 refused, 4 integrity).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tollgate_domain::event::Triage;
use tollgate_domain::gate::when;
use tollgate_domain::lifecycle::Phase;
use tollgate_domain::policy::{PlanField, Severity};
use tollgate_domain::release::ReleaseId;
use tollgate_domain::{Command, NewRelease, Profile, Refusal, Rejection, State, Timestamp};
use tollgate_ledger::SqliteLedger;

use crate::cli::*;
use crate::view::{self, View};
use crate::{audit, when as time_arg};
use tollgate_app::app::{App, AppError, ManualClock, Recorded, When};

/// Why a command did not complete, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input or IO: exit 1.
    Error(String),
    /// The procedure said no: exit 3.
    Refused(Vec<Refusal>),
    /// The log does not verify or cannot be replayed: exit 4.
    Integrity(String),
    /// Already reported in full on stdout (the audit report): just the exit code.
    Shown(u8),
    /// Another writer kept changing what the command read, on every retry: exit 1.
    Conflict(String),
}

impl Failure {
    pub(crate) fn code(&self) -> u8 {
        match self {
            Failure::Error(_) | Failure::Conflict(_) => 1,
            Failure::Refused(_) => 3,
            Failure::Integrity(_) => 4,
            Failure::Shown(code) => *code,
        }
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Failure {
        match e {
            AppError::Rejected(Rejection::Refused(r)) => Failure::Refused(r),
            AppError::Rejected(Rejection::Invalid(r)) => Failure::Error(r.join("\n")),
            AppError::Unreadable { .. } => Failure::Integrity(format!("{e}; run `tollgate audit verify`")),
            AppError::Ledger(tollgate_ledger::LedgerError::Corrupt { .. }) => {
                Failure::Integrity(format!("{e}; run `tollgate audit verify`"))
            }
            AppError::Ledger(tollgate_ledger::LedgerError::ReadOnly { .. }) => Failure::Error(format!(
                "{e}: its signing key is not beside it; give the file that holds it with --signing-key FILE (or TOLLGATE_SIGNING_KEY)"
            )),
            e @ AppError::Conflict { .. } => Failure::Conflict(e.to_string()),
            other => Failure::Error(other.to_string()),
        }
    }
}

pub(crate) fn error(message: impl Into<String>) -> Failure {
    Failure::Error(message.into())
}

pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let json = cli.json;
    let result = match cli.server.clone() {
        Some(server) => crate::client::run(&server, &cli, &matches),
        None => run(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            report(&failure, json);
            ExitCode::from(failure.code())
        }
    }
}

pub(crate) fn report(failure: &Failure, json: bool) {
    if let Failure::Shown(_) = failure {
        return;
    }
    if json {
        let doc = match failure {
            Failure::Error(m) => json!({"error": "invalid", "message": m}),
            Failure::Conflict(m) => json!({"error": "conflict", "message": m}),
            Failure::Integrity(m) => json!({"error": "integrity", "message": m}),
            Failure::Refused(r) => json!({
                "error": "refused",
                "reasons": r.iter().map(|r| json!({"rule": r.rule, "reason": r.reason})).collect::<Vec<_>>(),
            }),
            Failure::Shown(_) => unreachable!("returned above"),
        };
        crate::outln!("{}", crate::out::marked(doc));
        return;
    }
    match failure {
        Failure::Error(m) | Failure::Conflict(m) => crate::errln!("error: {m}"),
        Failure::Integrity(m) => crate::errln!("integrity failure: {m}"),
        Failure::Refused(reasons) => {
            crate::errln!("refused by the procedure:");
            for r in reasons {
                crate::errln!("  [{}] {}", r.rule, r.reason);
            }
        }
        Failure::Shown(_) => {}
    }
}

/// The application a server keeps open for every request (already caught up with the log).
pub type SharedApp = Arc<std::sync::Mutex<App<SqliteLedger>>>;

/// The store a command works on: opened for this command (embedded), or the server's.
// One per command: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Opened<'a> {
    Own(App<SqliteLedger>),
    Shared(std::sync::MutexGuard<'a, App<SqliteLedger>>),
}

impl std::ops::Deref for Opened<'_> {
    type Target = App<SqliteLedger>;
    fn deref(&self) -> &Self::Target {
        match self {
            Opened::Own(app) => app,
            Opened::Shared(app) => app,
        }
    }
}

impl std::ops::DerefMut for Opened<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Opened::Own(app) => app,
            Opened::Shared(app) => app,
        }
    }
}

/// Where a command's last facts went in the log: the group commit epoch and the log's size
/// after them. They are durable once a group commit of that epoch reached that size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    pub epoch: u64,
    pub size: u64,
}

/// The resolved environment of one invocation.
pub(crate) struct Ctx {
    pub(crate) db: std::path::PathBuf,
    /// `--signing-key`: the private key, when it is not beside the store.
    pub(crate) signing_key: Option<std::path::PathBuf>,
    /// Set when the server runs the command: its open store.
    pub(crate) shared: Option<SharedApp>,
    /// Set when the server runs the command: its latest state, for reads.
    pub(crate) snapshot: Option<Arc<State>>,
    /// On the server, the last append of this command, to wait for its group commit.
    pub(crate) written: std::cell::Cell<Option<Written>>,
    pub(crate) actor: Option<String>,
    pub(crate) json: bool,
    /// The command's time: `--now`, or the store's time when it started (a sandbox's runs
    /// ahead of the machine's clock); set again by [`Ctx::settle`] once the store is read.
    now: std::cell::Cell<Timestamp>,
    /// The machine's clock when the command started.
    pub(crate) clock: Timestamp,
    /// `--now` as given: the facts happened then, not when they are recorded.
    now_text: Option<String>,
    pub(crate) late_reason: Option<String>,
}

impl Ctx {
    /// The command's time (see `now`).
    pub(crate) fn now(&self) -> Timestamp {
        self.now.get()
    }

    /// The store the command works on is read: on a sandbox, its times are the sandbox's
    /// (`--now +1h` and every relative time count from the sandbox's clock) and its output is
    /// marked as a rehearsal's.
    pub(crate) fn settle(&self, state: &State) -> Result<(), Failure> {
        if !state.is_sandbox() {
            return Ok(());
        }
        crate::out::mark_sandbox();
        let store_now = tollgate_app::sandbox::now(state, self.clock);
        let now = match &self.now_text {
            Some(text) => time_arg::parse(text, store_now).map_err(|e| error(format!("--now: {e}")))?,
            None => store_now,
        };
        self.now.set(now);
        Ok(())
    }

    pub(crate) fn actor(&self) -> Result<&str, Failure> {
        self.actor.as_deref().ok_or_else(|| error("who is acting? set --as NAME or TOLLGATE_USER"))
    }

    pub(crate) fn open(&self) -> Result<Opened<'_>, Failure> {
        if let Some(shared) = &self.shared {
            // A command that panicked mid-way wrote nothing (appends are atomic): the state is
            // still the log's, so the lock's poisoning carries no meaning here.
            let mut app = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Another process (an embedded CLI on the same store) may have written since.
            app.catch_up()?;
            app.set_clock(self.command_clock());
            self.settle(app.state())?;
            return Ok(Opened::Shared(app));
        }
        let cache = tollgate_app::snapshot::path_for(&self.db);
        let (mut app, _) = App::from_ledger_cached(open_ledger(&self.db, self.signing_key.as_deref())?, cache)?;
        if app.snapshot_due() {
            save_snapshot(&mut app);
        }
        self.settle(app.state())?;
        Ok(Opened::Own(app.with_clock(self.command_clock())))
    }

    /// The command's facts are recorded at the instant it started, so that the relative times
    /// it was given (`+2 weeks`) count from the same instant as the facts themselves; a
    /// concurrent writer that got there first moves it only as far as that writer's time. On a
    /// sandbox the application adds the offset the log holds.
    pub(crate) fn command_clock(&self) -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock::new(self.clock))
    }

    pub(crate) fn print(&self, view: View) {
        if self.json {
            crate::out::write_json(view.json);
        } else {
            crate::out::write(&view.text);
            if !view.text.ends_with('\n') && !view.text.is_empty() {
                crate::outln!("");
            }
        }
    }

    pub(crate) fn time(&self, text: &str, what: &str) -> Result<Timestamp, Failure> {
        time_arg::parse(text, self.now()).map_err(|e| error(format!("{what}: {e}")))
    }

    /// Executes a command and prints what was recorded.
    /// On the server the command joins the open group commit, and what it wrote is noted so
    /// that the request is answered only once that is durable.
    pub(crate) fn execute(&self, app: &mut App<SqliteLedger>, command: Command) -> Result<Recorded, Failure> {
        let actor = self.actor()?.to_owned();
        if self.shared.is_some() {
            app.begin_group()?;
        }
        let recorded = app.execute(&actor, &self.when(), &command)?;
        if self.shared.is_some() && !recorded.facts.is_empty() {
            self.written.set(Some(Written { epoch: app.epoch(), size: recorded.size }));
        }
        Ok(recorded)
    }

    pub(crate) fn when(&self) -> When {
        match self.now_text {
            Some(_) => When::At { happened: self.now(), late_reason: self.late_reason.clone() },
            None => When::Now,
        }
    }

    pub(crate) fn done(&self, recorded: &Recorded, summary: String) {
        self.done_with(recorded, summary, json!({}));
    }

    /// `done`, with `extra`'s fields added to the JSON answer.
    pub(crate) fn done_with(&self, recorded: &Recorded, summary: String, extra: Value) {
        let ncs: Vec<String> = recorded
            .facts
            .iter()
            .filter_map(|f| match &f.event {
                tollgate_domain::Event::NcRaised(nc) => Some(format!("NC-{} {}: {}", nc.id, nc.condition, nc.detail)),
                _ => None,
            })
            .collect();
        let mut json = json!({
            "recorded": recorded.facts.len(),
            "first_seq": recorded.first_seq,
            "size": recorded.size,
            "summary": summary,
            "nonconformances_raised": ncs,
        });
        if let (Some(all), Value::Object(extra)) = (json.as_object_mut(), extra) {
            all.extend(extra);
        }
        let mut text = summary;
        for nc in &ncs {
            text.push_str(&format!("\nnon-conformance raised: {nc}"));
        }
        self.print(View { json, text });
    }
}

/// A long replay is not paid again by the next command. A store opened without its key
/// cannot sign a snapshot, which is no failure; any other reason is said, as the next
/// command will replay as long.
fn save_snapshot(app: &mut App<SqliteLedger>) {
    use tollgate_app::snapshot::SnapshotError;
    match app.save_snapshot() {
        Ok(()) | Err(SnapshotError::Ledger(tollgate_ledger::LedgerError::ReadOnly { .. })) => {}
        Err(e) => {
            eprintln!("warning: the state snapshot was not written ({e}); the next command replays the log again")
        }
    }
}

/// The store: signed with the key of `signing_key`, or the one beside it. Without either, it
/// is opened to read only, and a command that would write says which key it needs.
pub(crate) fn open_ledger(db: &Path, signing_key: Option<&Path>) -> Result<SqliteLedger, Failure> {
    use tollgate_ledger::{KeyFile, SqliteOptions};
    let opened = match signing_key {
        Some(key) => {
            KeyFile::load(key).and_then(|key| SqliteLedger::open_signed(db, Box::new(key), SqliteOptions::default()))
        }
        None if db.exists() && !tollgate_ledger::sqlite::key_path(db).exists() => {
            SqliteLedger::open_for_audit(db, None)
        }
        None => SqliteLedger::open(db),
    };
    opened.map_err(store_error)
}

/// A store that cannot be opened, saying what to do about it.
pub(crate) fn store_error(e: tollgate_ledger::LedgerError) -> Failure {
    match e {
        tollgate_ledger::LedgerError::NotInitialised { .. } => {
            error(format!("{e}; run `tollgate init` (or point --db / TOLLGATE_DB at your store)"))
        }
        other => AppError::from(other).into(),
    }
}

/// `--artefact`: a pipeline names what it deploys by digest, written out in full.
pub(crate) fn artefact_digest(text: &str) -> Result<tollgate_domain::evidence::Digest, Failure> {
    let expected =
        || error(format!("--artefact: `{text}` is not an artefact digest; expected sha256: followed by 64 hex digits"));
    if !text.starts_with("sha256:") {
        return Err(expected());
    }
    tollgate_domain::evidence::Digest::parse(text).map_err(|_| expected())
}

pub(crate) fn release_id(text: &str) -> Result<ReleaseId, Failure> {
    text.parse().map_err(Failure::Error)
}

fn nc_id(text: &str) -> Result<u32, Failure> {
    let digits = text.strip_prefix("NC-").or_else(|| text.strip_prefix("nc-")).unwrap_or(text);
    digits
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| error(format!("`{text}` is not a non-conformance id; expected NC-<number>")))
}

pub(crate) fn load_profile(spec: &str) -> Result<Profile, Failure> {
    if let Some(text) = tollgate_profile::builtin(spec) {
        return tollgate_profile::load(&tollgate_profile::builtin_source_name(spec), text)
            .map_err(|e| error(e.to_string()));
    }
    let path = Path::new(spec);
    let text = crate::files::read_text(path, MAX_DOCUMENT, "a profile is text people read").map_err(|e| {
        let builtins: Vec<&str> = tollgate_profile::BUILTINS.iter().map(|(id, _)| *id).collect();
        let Failure::Error(e) = e else { return e };
        error(format!("{e} (expected a profile file or one of {})", builtins.join(", ")))
    })?;
    tollgate_profile::load(&path.display().to_string(), &text).map_err(|e| error(e.to_string()))
}

/// Release documentation is text people read, not an artefact: refuse anything larger than
/// this rather than read without limit.
const MAX_DOCUMENT: u64 = 64 << 20;

fn read_document(file: &Path) -> Result<Vec<u8>, Failure> {
    crate::files::read(file, MAX_DOCUMENT, "attach the document, not an artefact")
}

/// What an add or a grant did: the roles now held, and those waiting for a second administrator.
fn role_changes(recorded: &Recorded) -> String {
    use tollgate_domain::Event;
    let join = |roles: &std::collections::BTreeSet<String>| roles.iter().cloned().collect::<Vec<_>>().join(", ");
    let lines: Vec<String> = recorded
        .facts
        .iter()
        .filter_map(|f| match &f.event {
            Event::PersonAdded { name, roles } if roles.is_empty() => Some(format!("added {name}")),
            Event::PersonAdded { name, roles } => Some(format!("added {name} ({})", join(roles))),
            Event::RolesGranted { name, roles } => Some(format!("{name} now also holds {}", join(roles))),
            Event::GrantProposed { name, roles } => Some(format!(
                "{} governs others: it takes effect when a second administrator runs `tollgate person grant {name} --role {}`",
                join(roles),
                roles.iter().cloned().collect::<Vec<_>>().join(" --role ")
            )),
            _ => None,
        })
        .collect();
    lines.join("\n")
}

fn set(roles: Vec<String>) -> std::collections::BTreeSet<String> {
    roles.into_iter().collect()
}

/// Runs a client's command on the server: as the authenticated `principal`, on the server's
/// open store (reads from `snapshot`), reading only the files the client uploaded. Returns the
/// outcome, where its last facts went (to be waited for until durable) and what it printed.
#[allow(clippy::too_many_arguments)]
pub fn run_for_client(
    cli: Cli,
    principal: &str,
    db: &Path,
    shared: &SharedApp,
    snapshot: Arc<State>,
    uploads: std::collections::HashMap<String, Vec<u8>>,
    clock: Timestamp,
) -> ((Result<(), Failure>, Option<Written>), crate::out::Captured) {
    crate::out::capture(|| {
        crate::files::with_uploads(uploads, || {
            let Cli { now, late_reason, json, command, .. } = cli;
            let ctx = match context(db.to_owned(), None, Some(principal.to_owned()), json, now, late_reason, clock) {
                Ok(ctx) => Ctx { shared: Some(Arc::clone(shared)), snapshot: Some(snapshot), ..ctx },
                Err(e) => {
                    report(&e, json);
                    return (Err(e), None);
                }
            };
            let result = match command {
                Cmd::Init { .. } | Cmd::Demo | Cmd::Serve { .. } | Cmd::Login => {
                    Err(error("this command runs on the machine that holds the store, not through a server"))
                }
                command => execute_command(&ctx, command),
            };
            (result.inspect_err(|failure| report(failure, json)), ctx.written.get())
        })
    })
}

fn context(
    db: std::path::PathBuf,
    signing_key: Option<std::path::PathBuf>,
    actor: Option<String>,
    json: bool,
    now_text: Option<String>,
    late_reason: Option<String>,
    clock: Timestamp,
) -> Result<Ctx, Failure> {
    let now = match &now_text {
        Some(text) => time_arg::parse(text, clock).map_err(|e| error(format!("--now: {e}")))?,
        None => clock,
    };
    Ok(Ctx {
        db,
        signing_key,
        shared: None,
        snapshot: None,
        written: Default::default(),
        actor,
        json,
        now: std::cell::Cell::new(now),
        clock,
        now_text,
        late_reason,
    })
}

fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = context(cli.db, cli.signing_key, cli.actor, cli.json, cli.now, cli.late_reason, time_arg::system_now())?;
    match cli.command {
        Cmd::Serve(args) => crate::serve::run(&ctx.db, ctx.signing_key.as_deref(), args),
        Cmd::Login => Err(error("login keeps a token for a server: give --server URL (or TOLLGATE_SERVER)")),
        command => execute_command(&ctx, command),
    }
}

fn execute_command(ctx: &Ctx, command: Cmd) -> Result<(), Failure> {
    match command {
        Cmd::Init { profile, roles, sandbox } => init(ctx, &profile, roles, sandbox),
        Cmd::Demo => crate::demo::run(ctx.json).map_err(Failure::Error),
        Cmd::Profile(cmd) => crate::profile_cmd::run(ctx, cmd),
        Cmd::Audit(cmd) => audit::run(&ctx.db, ctx.json, cmd),
        // Needs no store: it only reads the key.
        Cmd::Artefact(ArtefactCmd::Fingerprint { key }) => crate::evidence_cmd::fingerprint_only(ctx, &key),
        Cmd::Rollout(RolloutCmd::Check { plan }) => crate::rollout_cmd::check(ctx, &plan),
        // Reads its plan file before the store, so a plan that does not parse is said first.
        Cmd::Analysis(cmd) => crate::analysis_cmd::run(ctx, cmd),
        Cmd::Check { ref artefact, .. } if artefact_digest(artefact).is_err() => {
            // The question is checked before any store is read.
            artefact_digest(artefact).map(drop)
        }
        command => {
            // A read is answered from the server's latest snapshot when it has one, without
            // the writers' lock; otherwise from the store, as a write is.
            let command = match &ctx.snapshot {
                Some(snapshot) => {
                    ctx.settle(snapshot)?;
                    match crate::reads::answer(ctx, snapshot, command) {
                        Ok(answered) => return answered,
                        Err(command) => command,
                    }
                }
                None => command,
            };
            let mut app = ctx.open()?;
            match crate::reads::answer(ctx, app.state(), command) {
                Ok(answered) => answered,
                Err(command) => dispatch(ctx, &mut app, command),
            }
        }
    }
}

fn init(ctx: &Ctx, spec: &str, roles: Vec<String>, sandbox: bool) -> Result<(), Failure> {
    let actor = ctx.actor()?.to_owned();
    let mut profile = load_profile(spec)?;
    profile.reason = "initial adoption at init".into();
    let roles = if roles.is_empty() {
        profile.policy.roles_for(tollgate_domain::policy::Action::AdministerPeople).iter().take(1).cloned().collect()
    } else {
        set(roles)
    };
    let command = Command::Init { profile: Arc::new(profile.clone()), roles: roles.clone(), sandbox };
    // Nothing is created unless the profile is valid and the command would be accepted.
    tollgate_domain::recording::check(&State::default(), &command, &ctx.when().timing(ctx.clock))
        .and_then(|()| tollgate_domain::decide(&State::default(), &actor, ctx.now(), &command).map(drop))
        .map_err(|e| error(e.to_string()))?;
    let app = match &ctx.signing_key {
        Some(key) => App::create_with_key_file(&ctx.db, key, sandbox)?,
        None => App::create_as(&ctx.db, sandbox)?,
    };
    let mut app = app.with_clock(ctx.command_clock());
    let recorded = app.execute(&actor, &ctx.when(), &command)?;
    ctx.settle(app.state())?;
    let key = tollgate_ledger::sqlite::pub_path(&ctx.db);
    let signing = ctx.signing_key.clone().unwrap_or_else(|| tollgate_ledger::sqlite::key_path(&ctx.db));
    ctx.done(
        &recorded,
        format!(
            "initialised {}{} under {} {} ({}), {actor} its first administrator ({}); checkpoint key {}, signing key {}",
            ctx.db.display(),
            if sandbox { " as a sandbox (its clock moves with `tollgate clock advance`)" } else { "" },
            profile.policy.id,
            profile.policy.version,
            profile.policy.title,
            roles.into_iter().collect::<Vec<_>>().join(", "),
            key.display(),
            signing.display()
        ),
    );
    Ok(())
}

/// Why the reads never reach [`dispatch`].
pub(crate) const READ: &str = "a read, answered by reads::answer before dispatch";

fn dispatch(ctx: &Ctx, app: &mut App<SqliteLedger>, command: Cmd) -> Result<(), Failure> {
    match command {
        Cmd::Person(cmd) => match cmd {
            PersonCmd::Add { name, roles } => {
                let r = ctx.execute(app, Command::AddPerson { name, roles: set(roles) })?;
                ctx.done(&r, role_changes(&r));
            }
            PersonCmd::Grant { name, roles } => {
                let r = ctx.execute(app, Command::GrantRoles { name, roles: set(roles) })?;
                ctx.done(&r, role_changes(&r));
            }
            PersonCmd::Revoke { name, roles } => {
                let summary = format!("{name} no longer holds {}", roles.join(", "));
                let r = ctx.execute(app, Command::RevokeRoles { name, roles: set(roles) })?;
                ctx.done(&r, summary);
            }
            PersonCmd::List => unreachable!("{READ}"),
        },
        Cmd::Blackout(cmd) => match cmd {
            BlackoutCmd::Add { from, to, reason, service } => {
                let (from, to) = (ctx.time(&from, "--from")?, ctx.time(&to, "--to")?);
                let summary = format!("blackout {} to {}: {reason}", when(from), when(to));
                let r = ctx.execute(app, Command::AddBlackout { from, to, reason, service })?;
                ctx.done(&r, summary);
            }
            BlackoutCmd::List => unreachable!("{READ}"),
        },
        Cmd::Release(cmd) => release(ctx, app, cmd)?,
        Cmd::Token(cmd) => crate::token_cmd::run(ctx, app, cmd)?,
        Cmd::Rollout(cmd) => crate::rollout_cmd::run(ctx, app, cmd)?,
        Cmd::Emergency(EmergencyCmd::Create { service, version, title, incident, touches }) => {
            let new = NewRelease {
                service,
                version,
                release_type: None,
                title,
                window_start: None,
                window_end: None,
                touches: set(touches),
                incident,
            };
            let r = ctx.execute(app, Command::CreateRelease(new))?;
            created(ctx, app, &r);
        }
        Cmd::Artefact(cmd) => crate::evidence_cmd::artefact(ctx, app, cmd)?,
        Cmd::Evidence(cmd) => crate::evidence_cmd::evidence(ctx, app, cmd)?,
        Cmd::Defect(cmd) => {
            let (id, command, summary) = match cmd {
                DefectCmd::Add { id, reference, severity, title } => {
                    let severity = Severity::from_key(&severity).ok_or_else(|| {
                        error(format!("--severity `{severity}`: expected critical, high, medium or low"))
                    })?;
                    let summary = format!("recorded {} defect {reference}", severity.key());
                    let id = release_id(&id)?;
                    (id, Command::RecordDefect { release: id, reference, severity, title }, summary)
                }
                DefectCmd::Resolve { id, reference, comment } => {
                    triage(&id, reference, Triage::Resolved, comment, None)?
                }
                DefectCmd::AcceptRisk { id, reference, comment } => {
                    triage(&id, reference, Triage::RiskAccepted, comment, None)?
                }
                DefectCmd::Descope { id, reference, scope, comment } => {
                    triage(&id, reference, Triage::Descoped, comment, Some(scope))?
                }
            };
            let r = ctx.execute(app, command)?;
            ctx.done(&r, format!("{id}: {summary}"));
        }
        Cmd::Nc(cmd) => match cmd {
            NcCmd::List { .. } => unreachable!("{READ}"),
            NcCmd::Close { nc, corrective_action } => {
                let id = nc_id(&nc)?;
                let r = ctx.execute(app, Command::CloseNc { id, corrective_action })?;
                ctx.done(&r, format!("NC-{id} closed"));
            }
            NcCmd::Raise { condition, detail, release, service } => {
                let release = release.as_deref().map(release_id).transpose()?;
                let r = ctx.execute(app, Command::RaiseNc { condition, release, service, detail })?;
                ctx.done(&r, "recorded".into());
            }
        },
        Cmd::Risk(cmd) => match cmd {
            RiskCmd::Add { category, risk, mitigation, owner } => {
                let r = ctx.execute(app, Command::AddRisk { category, risk, mitigation, owner })?;
                ctx.done(&r, "risk added to the register".into());
            }
            RiskCmd::List => unreachable!("{READ}"),
        },
        Cmd::Import { cdevents } => crate::metrics_cmd::import(ctx, app, &cdevents)?,
        Cmd::Metrics { service, env, from, to } => {
            let to = to.map(|t| ctx.time(&t, "--to")).transpose()?.unwrap_or(ctx.now());
            let from = from.map(|t| ctx.time(&t, "--from")).transpose()?.unwrap_or(to - chrono::Duration::days(90));
            if from >= to {
                return Err(error(format!("--from {} is not before --to {}", when(from), when(to))));
            }
            ctx.print(crate::metrics_cmd::metrics(ctx, app, service.as_deref(), env.as_deref(), from, to)?);
        }
        Cmd::Report { cadence, service, env, to, out, format } => {
            let to = to.map(|t| ctx.time(&t, "--to")).transpose()?.unwrap_or(ctx.now());
            crate::report::run(ctx, app, cadence, service.as_deref(), env.as_deref(), to, &out, format)?;
        }
        Cmd::Tick => {
            let r = ctx.execute(app, Command::Tick)?;
            let n = r.facts.len();
            ctx.done(
                &r,
                if n == 0 {
                    format!("tick at {}: nothing due", when(ctx.now()))
                } else {
                    format!("tick at {}: {n} non-conformance(s) raised", when(ctx.now()))
                },
            );
        }
        Cmd::Obligations { .. } => unreachable!("{READ}"),
        Cmd::Clock(ClockCmd::Show) => unreachable!("{READ}"),
        Cmd::Clock(ClockCmd::Advance { span }) => crate::clock_cmd::advance(ctx, app, &span)?,
        Cmd::Init { .. }
        | Cmd::Demo
        | Cmd::Analysis(_)
        | Cmd::Profile(_)
        | Cmd::Audit(_)
        | Cmd::Check { .. }
        | Cmd::Serve(_)
        | Cmd::Login => {
            unreachable!("handled before opening the store")
        }
    }
    Ok(())
}

/// The command that fulfils a deferred step.
pub(crate) fn fulfilment(id: ReleaseId, check: &tollgate_domain::policy::Check) -> String {
    use tollgate_domain::policy::Check;
    match check {
        Check::Confirmed(c) => format!("tollgate release confirm {id} {c} --comment TEXT"),
        Check::Plan(fields) => format!(
            "tollgate release plan {id} {}",
            fields.iter().map(|f| format!("--{} TEXT", f.key())).collect::<Vec<_>>().join(" ")
        ),
        Check::Documents(kinds) => kinds
            .iter()
            .map(|k| format!("tollgate release doc {id} --kind {k} --file FILE"))
            .collect::<Vec<_>>()
            .join("; "),
        Check::TestPhases { .. } => format!("tollgate release evidence {id} --phase PHASE --result pass"),
        other => other.name().to_owned(),
    }
}

fn triage(
    id: &str,
    reference: String,
    outcome: Triage,
    comment: String,
    scope: Option<String>,
) -> Result<(ReleaseId, Command, String), Failure> {
    let release = release_id(id)?;
    let summary = match &scope {
        Some(item) => format!("defect {reference} {}; {item} removed from the scope", outcome.key()),
        None => format!("defect {reference} {}", outcome.key()),
    };
    Ok((release, Command::TriageDefect { release, reference, outcome, comment, scope }, summary))
}

fn created(ctx: &Ctx, app: &App<SqliteLedger>, r: &Recorded) {
    let Some(tollgate_domain::Event::ReleaseCreated(c)) = r.facts.first().map(|f| &f.event) else {
        unreachable!("a release creation records the release first")
    };
    let ncs: Vec<String> = r
        .facts
        .iter()
        .filter_map(|f| match &f.event {
            tollgate_domain::Event::NcRaised(nc) => Some(format!("NC-{} {}: {}", nc.id, nc.condition, nc.detail)),
            _ => None,
        })
        .collect();
    // 3.7: flagged at planning, before anything else is planned.
    let flags =
        app.state().releases.get(&c.release).map(|r| view::classification_flags(app.state(), r)).unwrap_or_default();
    let mut text = c.release.to_string();
    for nc in &ncs {
        text.push_str(&format!("\nnon-conformance raised: {nc}"));
    }
    // On stderr: stdout stays the new id, for scripts.
    if !ctx.json {
        for flag in &flags {
            crate::errln!("warning: {flag}; deploying it so is a non-conformance (3.7)");
        }
    }
    ctx.print(View {
        json: json!({"id": c.release.to_string(), "nonconformances_raised": ncs, "classification_flags": flags}),
        text,
    });
}

fn release(ctx: &Ctx, app: &mut App<SqliteLedger>, cmd: ReleaseCmd) -> Result<(), Failure> {
    let (command, summary) = match cmd {
        ReleaseCmd::Create { service, version, release_type, title, window_start, window_end, touches } => {
            let new = NewRelease {
                service,
                version,
                release_type: Some(release_type),
                title,
                window_start: Some(ctx.time(&window_start, "--window-start")?),
                window_end: window_end.map(|e| ctx.time(&e, "--window-end")).transpose()?,
                touches: set(touches),
                incident: None,
            };
            let r = ctx.execute(app, Command::CreateRelease(new))?;
            created(ctx, app, &r);
            return Ok(());
        }
        ReleaseCmd::List { .. } | ReleaseCmd::Show { .. } | ReleaseCmd::Gate { .. } => unreachable!("{READ}"),
        ReleaseCmd::Advance { id } => {
            let id = release_id(&id)?;
            (Command::Advance { release: id }, format!("{id} advanced"))
        }
        ReleaseCmd::Close { id } => {
            let id = release_id(&id)?;
            (Command::Close { release: id }, format!("{id} closed"))
        }
        ReleaseCmd::Reschedule { id, window_start, window_end } => {
            let id = release_id(&id)?;
            let start = ctx.time(&window_start, "--window-start")?;
            let end = window_end.map(|e| ctx.time(&e, "--window-end")).transpose()?;
            (Command::Reschedule { release: id, start, end }, format!("{id} window now starts {}", when(start)))
        }
        ReleaseCmd::Scope(ScopeArgs { id, add, rollback, justification, lock }) => {
            let id = release_id(&id)?;
            match add {
                Some(item) => {
                    let (kind, reference) = item
                        .split_once(':')
                        .filter(|(k, r)| !k.is_empty() && !r.is_empty())
                        .ok_or_else(|| error(format!("--add `{item}`: expected KIND:REF, like ticket:PAY-42")))?;
                    let summary = format!("{id}: {item} added to scope");
                    (
                        Command::AddScope {
                            release: id,
                            kind: kind.into(),
                            reference: reference.into(),
                            rollback,
                            justification,
                        },
                        summary,
                    )
                }
                None => {
                    debug_assert!(lock);
                    (Command::LockScope { release: id }, format!("{id}: scope locked"))
                }
            }
        }
        ReleaseCmd::Plan { id, impact, blast_radius, rollback_strategy } => {
            let id = release_id(&id)?;
            let fields: Vec<(PlanField, String)> = [
                (PlanField::Impact, impact),
                (PlanField::BlastRadius, blast_radius),
                (PlanField::RollbackStrategy, rollback_strategy),
            ]
            .into_iter()
            .filter_map(|(f, t)| t.map(|t| (f, t)))
            .collect();
            let summary =
                format!("{id}: {} recorded", fields.iter().map(|(f, _)| f.label()).collect::<Vec<_>>().join(", "));
            (Command::RecordPlan { release: id, fields }, summary)
        }
        ReleaseCmd::Source { id, repo, tag, commit } => {
            let id = release_id(&id)?;
            let summary = format!("{id}: built from {repo} {tag} at {commit}");
            (Command::RecordSource { release: id, repository: repo, tag, commit }, summary)
        }
        ReleaseCmd::Doc { id, kind, file } => {
            let id = release_id(&id)?;
            let bytes = read_document(&file)?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let summary = format!("{id}: {kind} attached ({}, sha256 {})", file.display(), &sha256[..12]);
            let name = file.display().to_string();
            (Command::AttachDocument { release: id, kind, name, sha256, bytes: bytes.len() as u64 }, summary)
        }
        ReleaseCmd::Evidence { id, phase, result, reference } => {
            let id = release_id(&id)?;
            let passed = matches!(result, TestResult::Pass);
            let summary = format!("{id}: {phase} {}", if passed { "passed" } else { "failed" });
            (Command::RecordTestResult { release: id, phase, passed, reference }, summary)
        }
        ReleaseCmd::SkipTest { id, phase, justification } => {
            let id = release_id(&id)?;
            let summary = format!("{id}: {phase} skipped with approval");
            (Command::SkipTestPhase { release: id, phase, justification }, summary)
        }
        ReleaseCmd::Confirm { id, check, comment } => {
            let id = release_id(&id)?;
            let summary = format!("{id}: {check} confirmed");
            (Command::Confirm { release: id, confirmation: check, comment }, summary)
        }
        ReleaseCmd::Submit { id } => {
            let id = release_id(&id)?;
            (Command::Submit { release: id }, format!("{id}: submitted for approval"))
        }
        ReleaseCmd::Approve { id, reject, role, comment } => {
            let id = release_id(&id)?;
            let summary = format!("{id}: {}", if reject { "rejected" } else { "approved" });
            (Command::Approve { release: id, role, approve: !reject, comment }, summary)
        }
        ReleaseCmd::Go { id } => {
            let id = release_id(&id)?;
            (Command::Go { release: id }, format!("{id}: GO"))
        }
        ReleaseCmd::NoGo { id, reason } => {
            let id = release_id(&id)?;
            (Command::NoGo { release: id, reason }, format!("{id}: NO-GO"))
        }
        ReleaseCmd::Deploy { id, env } => {
            let id = release_id(&id)?;
            let summary = format!("{id}: deployment to {env} started");
            (Command::Deploy { release: id, environment: env }, summary)
        }
        ReleaseCmd::Deployed { id, outcome } => {
            let id = release_id(&id)?;
            let success = matches!(outcome, Outcome::Success);
            (
                Command::DeploymentFinished { release: id, success },
                format!("{id}: deployment {}", if success { "succeeded" } else { "failed" }),
            )
        }
        ReleaseCmd::Rollback { id, reason } => {
            let id = release_id(&id)?;
            (Command::StartRollback { release: id, reason }, format!("{id}: rollback started"))
        }
        ReleaseCmd::RolledBack { id } => {
            let id = release_id(&id)?;
            (Command::CompleteRollback { release: id }, format!("{id}: rollback complete"))
        }
        ReleaseCmd::Withdraw { id, reason } => {
            let id = release_id(&id)?;
            (Command::Withdraw { release: id, reason }, format!("{id} withdrawn"))
        }
        ReleaseCmd::Regovern { id, reason } => {
            let id = release_id(&id)?;
            (
                tollgate_app::procedure::regovern(app.state(), id, reason),
                format!("{id}: governed by the version in force"),
            )
        }
        ReleaseCmd::Override { id, rule, justification } => {
            let id = release_id(&id)?;
            let summary = format!("{id}: {rule} overridden in writing");
            (Command::Override { release: id, criterion: rule, justification }, summary)
        }
    };
    let r = ctx.execute(app, command)?;
    let mut summary = summary;
    if let Some(tollgate_domain::Event::RollbackCompleted { seconds, .. }) = r.facts.first().map(|f| &f.event) {
        summary.push_str(&format!(
            " after {}",
            tollgate_domain::time::format_duration(chrono::Duration::seconds(*seconds))
        ));
    }
    if let Some(tollgate_domain::Event::PhaseAdvanced { to, .. }) = r.facts.first().map(|f| &f.event)
        && *to != Phase::Closed
    {
        summary.push_str(&format!(" to {to}"));
    }
    ctx.done(&r, summary);
    Ok(())
}
