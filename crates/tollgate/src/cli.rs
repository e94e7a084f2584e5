//! The command line: one clap enum. Arguments are parsed first; the environment (store path,
//! acting person, clock) is resolved after, in `run`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "tollgate",
    version,
    about = "Release management that enforces your procedure: gates, approvals with separation of duties, emergency deadlines, non-conformances, and a tamper-evident log.",
    after_help = "Exit codes: 0 done, 1 error (bad input, IO), 2 usage, 3 refused by the procedure, 4 integrity failure."
)]
pub struct Cli {
    /// The store (SQLite); its verifier key, latest checkpoint and (unless --signing-key says
    /// otherwise) its signing key live beside it.
    #[arg(long, global = true, env = "TOLLGATE_DB", default_value = "tollgate.db")]
    pub db: PathBuf,
    /// The private key that signs the log's checkpoints, kept away from the store (as `serve`
    /// requires): `init` creates it there, readable by its owner only, and every command that
    /// writes signs with it. Default: DB.key beside the store.
    #[arg(long, global = true, env = "TOLLGATE_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// The person acting.
    #[arg(long = "as", global = true, env = "TOLLGATE_USER", value_name = "NAME")]
    pub actor: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// When the command's facts happened, for recording them after the fact (default: the
    /// system clock). Never in the future, never earlier than the log's latest record, never
    /// later than the profile's `recording.max-lateness`; the wall-clock time of writing is kept
    /// beside it. RFC 3339 or `YYYY-MM-DD HH:MM` (UTC).
    #[arg(long, global = true, env = "TOLLGATE_NOW", value_name = "TIME")]
    pub now: Option<String>,
    /// Why facts are recorded after they happened: required when --now is more than a minute
    /// before the clock, and kept with each fact.
    #[arg(long, global = true, value_name = "TEXT")]
    pub late_reason: Option<String>,
    /// Run the command on a Tollgate server (`tollgate serve`) instead of the local store, as
    /// the person TOLLGATE_TOKEN (or `tollgate login`) authenticates: same output, same exit
    /// codes. Files the command names are uploaded; --as and --db do not apply.
    #[arg(long, global = true, env = "TOLLGATE_SERVER", value_name = "URL")]
    pub server: Option<String>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a store governed by a procedure profile (built-in id or file).
    /// The acting person (--as) becomes the first administrator: nobody can race to be first.
    Init {
        #[arg(long, default_value = tollgate_profile::DEFAULT)]
        profile: String,
        /// Roles of the first administrator (one of them must administer people); default: the
        /// profile's first role that does.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A sandbox for rehearsals, for life: every record, checkpoint and answer says so, and
        /// its clock moves forward with `tollgate clock advance`.
        #[arg(long)]
        sandbox: bool,
    },
    /// Show, check or adopt procedure profiles.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// People and the roles they hold.
    #[command(subcommand)]
    Person(PersonCmd),
    /// Personal API tokens, for `tollgate serve`: created by an administrator, shown once.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Business blackout periods (5.1).
    #[command(subcommand)]
    Blackout(BlackoutCmd),
    /// Releases through their gates.
    #[command(subcommand)]
    Release(ReleaseCmd),
    /// Emergency releases (4.6).
    #[command(subcommand)]
    Emergency(EmergencyCmd),
    /// Defects found against a release.
    #[command(subcommand)]
    Defect(DefectCmd),
    /// Release artefacts by digest, with their signatures and provenance verified (4.1).
    #[command(subcommand)]
    Artefact(ArtefactCmd),
    /// Evidence files from CI, parsed and judged against the phase's exit criteria (4.3).
    #[command(subcommand)]
    Evidence(EvidenceCmd),
    /// Deferred emergency steps and their deadlines.
    Obligations {
        /// Only those past their due time.
        #[arg(long)]
        overdue: bool,
        #[arg(long)]
        release: Option<String>,
    },
    /// The non-conformance register (6.2).
    #[command(subcommand)]
    Nc(NcCmd),
    /// The risk register (5.1).
    #[command(subcommand)]
    Risk(RiskCmd),
    /// Evaluate the time-driven rules now: overdue deferred steps, late rollbacks.
    Tick,
    /// The store's clock: a sandbox's (`init --sandbox`) moves forward by command, so that a
    /// rehearsal reaches its deadlines without waiting for them.
    #[command(subcommand)]
    Clock(ClockCmd),
    /// Rollouts Tollgate runs itself (4.4.4, 4.5): a plan's stages, analysis against
    /// Prometheus, smoke checks and the rollback triggers acted on without approval. The
    /// executor in `tollgate serve` carries them out.
    #[command(subcommand)]
    Rollout(RolloutCmd),
    /// Analysis configurations tried on what past rollouts measured, before they are adopted.
    #[command(subcommand)]
    Analysis(AnalysisCmd),
    /// May this artefact be deployed to this environment now? For a pipeline, before it deploys:
    /// exit 0 yes, 3 no, with every reason. The release is the open one of the service whose
    /// current build has the digest. Production needs the release's pre-deployment gate open
    /// (go decision and window included); another environment of the profile takes the current
    /// build of a release in testing or deployment. Who deploys (authority, separation of
    /// duties) is checked when `release deploy` records the deployment, not here.
    Check {
        #[arg(long)]
        service: String,
        /// The artefact's digest, `sha256:` and 64 hex digits.
        #[arg(long, value_name = "DIGEST")]
        artefact: String,
        /// An environment of the profile; case and surrounding spaces do not matter.
        #[arg(long)]
        env: String,
    },
    /// Import deployments, rollbacks, changes and incidents from CDEvents (JSON lines) into the
    /// KPI store; idempotent by `context.id`. The log records the input's digest and counts.
    Import {
        /// The file, or `-` for standard input.
        #[arg(long)]
        cdevents: std::path::PathBuf,
    },
    /// The KPIs of 4.2 and DORA for deployments finishing in a window (default: production,
    /// the last 90 days), from Tollgate's own records and imported events.
    Metrics {
        #[arg(long)]
        service: Option<String>,
        /// Default: the profile's production environment.
        #[arg(long)]
        env: Option<String>,
        /// Default: 90 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// Default: now.
        #[arg(long)]
        to: Option<String>,
    },
    /// The review reports of 6.1: KPIs against targets, their trend, the items behind missed
    /// targets, emergency releases, rollbacks and open non-conformances, as one self-contained
    /// HTML (or Markdown) file. A period is the 7, 30 or 90 days ending at --to.
    Report {
        #[arg(value_enum)]
        cadence: crate::report::Cadence,
        #[arg(long)]
        service: Option<String>,
        /// Default: the profile's production environment.
        #[arg(long)]
        env: Option<String>,
        /// The end of the period. Default: now.
        #[arg(long)]
        to: Option<String>,
        /// The file to write, or `-` for standard output.
        #[arg(long, value_hint = clap::ValueHint::Other)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "html")]
        format: crate::report::Format,
    },
    /// Verify the log, list it, and print proofs and checkpoints.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Walk one release of each type through the default procedure on a temporary store.
    Demo,
    /// Serve the store over HTTP (`/api/v1/...`): every command, for authenticated people and
    /// pipelines; the acting person is the one the bearer token authenticates.
    Serve(ServeArgs),
    /// Keep a token for --server: read from standard input, checked with the server, stored in
    /// a file only you may read.
    Login,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free one (the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// OIDC issuers whose ID tokens authenticate pipelines and people, and how their claims map
    /// to people (see docs/service.md).
    #[arg(long, value_name = "FILE")]
    pub oidc: Option<PathBuf>,
    /// Act as a GitHub custom deployment protection rule (see docs/service.md): the webhook
    /// secret, the token for the review callback, and which repository is which service.
    #[arg(long, value_name = "FILE")]
    pub github: Option<PathBuf>,
    /// The largest request body accepted, in MiB (evidence is uploaded in the body).
    #[arg(long, default_value_t = 64)]
    pub max_body_mib: usize,
    /// Send each new signed checkpoint out of the store, so that a log rewritten and re-signed
    /// with the server's own key is caught by `audit verify --checkpoint` with any earlier
    /// copy: `file:DIR` (every checkpoint, and `latest.checkpoint`), `file:FILE` (the latest),
    /// `https://URL` (a webhook: POSTed as text/plain) or `witness:KEY@URL` (a C2SP
    /// tlog-witness, its cosignature kept beside the store). Repeatable; never delays a write.
    #[arg(long = "checkpoint-to", value_name = "SPEC", value_parser = crate::serve::publish::Target::parse)]
    pub checkpoint_to: Vec<crate::serve::publish::Target>,
    /// Serve with the signing key in the store's directory (refused otherwise): a copy of that
    /// directory could then be rewritten and signed anywhere.
    #[arg(long)]
    pub key_beside_store: bool,
}

#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// The profile in force, or a built-in one.
    Show {
        /// A built-in profile id or file to show instead of the one in force.
        #[arg(value_hint = clap::ValueHint::FilePath)]
        profile: Option<String>,
    },
    /// Validate a profile file without adopting it.
    Check { file: PathBuf },
    /// Propose a new version of the procedure (6.3). It takes effect when a second holder of
    /// adopt-profile approves it, and, if it loosens any rule, the executive authority too.
    Adopt {
        file: PathBuf,
        #[arg(long)]
        reason: String,
    },
    /// Approve the proposed version (`profile history` shows it and whose approval it awaits).
    Approve {
        id: String,
        version: String,
        /// What was reviewed.
        #[arg(long)]
        comment: String,
    },
    /// Reject the proposed version; the version in force stays.
    Reject {
        id: String,
        version: String,
        #[arg(long)]
        reason: String,
    },
    /// Every version adopted, oldest first.
    History,
}

#[derive(Subcommand, Debug)]
pub enum PersonCmd {
    /// Add a person with roles (the first person adds themself, holding an administrator role).
    Add {
        name: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Give someone more roles (never yourself).
    Grant {
        name: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Take roles away; approvals given in a revoked role stop counting.
    Revoke {
        name: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Everyone on record and their roles.
    List,
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// A new token for a person (an administrator): printed once; the log keeps its hash.
    Create {
        #[arg(long)]
        person: String,
        /// When it stops working: a time, or a span from now (`+90d`).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Stop a token working (an administrator, or the token's own person).
    Revoke {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Tokens on record, never their secrets.
    List {
        #[arg(long)]
        person: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum BlackoutCmd {
    /// A business-critical period no deployment window may fall in, for all services or one.
    Add {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        service: Option<String>,
    },
    /// The blackout calendar.
    List,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Outcome {
    Success,
    Failed,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TestResult {
    Pass,
    Fail,
}

#[derive(Subcommand, Debug)]
pub enum ReleaseCmd {
    /// Record the repository, tag and commit the release is built from (4.4.2); provenance is
    /// checked against them.
    Source {
        id: String,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        tag: String,
        #[arg(long)]
        commit: String,
    },
    /// Classify and create a release; planning starts now.
    Create {
        #[arg(long)]
        service: String,
        #[arg(long)]
        version: String,
        /// A release type of the profile in force (`tollgate profile show`), e.g. major, minor,
        /// patch, security-patch, infrastructure.
        #[arg(long = "type", value_name = "TYPE")]
        release_type: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        window_start: String,
        #[arg(long)]
        window_end: Option<String>,
        /// Areas the release touches (auth, crypto, data-handling, network-policy,
        /// customer-facing, ...): they widen approvals and test phases.
        #[arg(long = "touches", value_delimiter = ',')]
        touches: Vec<String>,
    },
    /// Releases in progress.
    List {
        /// Include closed releases.
        #[arg(long)]
        all: bool,
    },
    /// Everything recorded for a release.
    Show { id: String },
    /// Evaluate a gate: the current phase's by default, or any gate ahead of time. Exit 0 when
    /// it is open, 3 when it is shut.
    Gate {
        id: String,
        #[arg(long)]
        gate: Option<String>,
    },
    /// Sign off the current phase's gate and move to the next phase.
    Advance { id: String },
    /// Move the deployment window.
    Reschedule {
        id: String,
        #[arg(long)]
        window_start: String,
        #[arg(long)]
        window_end: Option<String>,
    },
    /// Add a scope item (KIND:REF) or lock the scope.
    Scope(ScopeArgs),
    /// Record the impact assessment, blast radius and rollback strategy.
    Plan {
        id: String,
        #[arg(long)]
        impact: Option<String>,
        #[arg(long)]
        blast_radius: Option<String>,
        #[arg(long)]
        rollback_strategy: Option<String>,
    },
    /// Attach release documentation; its SHA-256 is recorded.
    Doc {
        id: String,
        #[arg(long)]
        kind: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Record a test phase result.
    Evidence {
        id: String,
        #[arg(long)]
        phase: String,
        #[arg(long)]
        result: TestResult,
        #[arg(long = "ref")]
        reference: Option<String>,
    },
    /// Skip a required test phase (release manager, with justification).
    SkipTest {
        id: String,
        #[arg(long)]
        phase: String,
        #[arg(long)]
        justification: String,
    },
    /// Record a named check of the procedure as done.
    Confirm {
        id: String,
        /// A confirmation of the profile (listed by `tollgate profile show --json`), e.g.
        /// monitoring-active, smoke-tests-passed.
        check: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Submit the release package to its approvers: the approval cycle (4.2) starts here.
    Submit { id: String },
    /// Approve (or reject) the release in one of your roles.
    Approve {
        id: String,
        #[arg(long)]
        reject: bool,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Go decision (release manager); the decider can never start the deployment.
    Go { id: String },
    /// No-go decision, with the reason.
    NoGo {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Start a deployment to an environment.
    Deploy {
        id: String,
        #[arg(long)]
        env: String,
    },
    /// Record how the running deployment ended.
    Deployed {
        id: String,
        #[arg(long)]
        outcome: Outcome,
    },
    /// Start a rollback (on-call or deploying engineer; no approval needed).
    Rollback {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Previous version confirmed stable: the rollback is complete.
    RolledBack { id: String },
    /// Sign off the release record and close it.
    Close { id: String },
    /// Abandon a release before it reaches production (release manager).
    Withdraw {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Move an open release to the profile version in force (release manager).
    Regovern {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Executive written risk acceptance for an overridable criterion.
    Override {
        id: String,
        #[arg(long = "rule")]
        rule: String,
        #[arg(long)]
        justification: String,
    },
}

#[derive(Args, Debug)]
pub struct ScopeArgs {
    pub id: String,
    /// KIND:REF, like ticket:PAY-42 or pr:1234.
    #[arg(long, conflicts_with = "lock", required_unless_present = "lock")]
    pub add: Option<String>,
    /// How this change is rolled back.
    #[arg(long, requires = "add")]
    pub rollback: Option<String>,
    /// Re-assessment for an addition after lock or freeze (release manager).
    #[arg(long, requires = "add")]
    pub justification: Option<String>,
    #[arg(long)]
    pub lock: bool,
}

#[derive(Subcommand, Debug)]
pub enum EmergencyCmd {
    /// Open an emergency release (4.6): its deployment window opens now.
    Create {
        #[arg(long)]
        service: String,
        #[arg(long)]
        version: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        incident: Option<String>,
        #[arg(long = "touches", value_delimiter = ',')]
        touches: Vec<String>,
    },
}

// Parsed once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum ArtefactCmd {
    /// Record an artefact by its SHA-256 (computed from --file, or given with --digest), with
    /// any signature, Sigstore bundle and SLSA provenance verified before anything is recorded.
    /// Recording a new digest under a known name is a rebuild: earlier evidence stops counting.
    Add {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, conflicts_with = "digest", required_unless_present = "digest")]
        file: Option<std::path::PathBuf>,
        /// `sha256:HEX`, when the artefact itself is not at hand.
        #[arg(long)]
        digest: Option<String>,
        /// A detached signature (base64 DER ECDSA P-256 over SHA-256, or Ed25519), as written by
        /// `cosign sign-blob --key` or `openssl dgst -sha256 -sign`.
        #[arg(long, requires = "key")]
        signature: Option<std::path::PathBuf>,
        /// The PEM public key for --signature (and for --bundle signed with a managed key).
        #[arg(long)]
        key: Option<std::path::PathBuf>,
        /// A Sigstore bundle (v0.1-v0.3), verified offline against --trusted-root.
        #[arg(long, requires = "trusted_root")]
        bundle: Option<std::path::PathBuf>,
        /// The Sigstore trusted root (`trusted_root.json`) to verify --bundle against.
        #[arg(long)]
        trusted_root: Option<std::path::PathBuf>,
        /// SLSA v1 provenance: an in-toto statement in a DSSE envelope.
        #[arg(long, requires = "provenance_key")]
        provenance: Option<std::path::PathBuf>,
        /// The PEM public key the provenance envelope is signed with.
        #[arg(long)]
        provenance_key: Option<std::path::PathBuf>,
    },
    /// Print a public key's fingerprint, the value profiles list under `[artefacts] trusted-keys`.
    Fingerprint {
        #[arg(long)]
        key: std::path::PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum EvidenceCmd {
    /// Parse an evidence file, judge it and record it against the artefact it was produced from.
    #[command(group(clap::ArgGroup::new("file").required(true).args(["junit", "sarif", "sbom", "vulns", "tfplan", "perf"])))]
    Add {
        id: String,
        #[arg(long)]
        phase: String,
        /// JUnit XML (surefire, pytest, jest, mocha, go-junit-report, nextest, catch2, ...).
        #[arg(long)]
        junit: Option<std::path::PathBuf>,
        /// SARIF 2.1.0 from a SAST/DAST tool.
        #[arg(long)]
        sarif: Option<std::path::PathBuf>,
        /// CycloneDX 1.4-1.6 (JSON or XML) or SPDX 2.3 JSON; must describe the artefact.
        #[arg(long)]
        sbom: Option<std::path::PathBuf>,
        /// Grype, Trivy or OSV JSON, or a CycloneDX VEX.
        #[arg(long)]
        vulns: Option<std::path::PathBuf>,
        /// `terraform show -json` of a plan.
        #[arg(long)]
        tfplan: Option<std::path::PathBuf>,
        /// Performance results against their baseline (JSON or CSV, see docs/evidence-formats.md).
        #[arg(long)]
        perf: Option<std::path::PathBuf>,
        /// The artefact the evidence was produced against; default: the release's only artefact.
        #[arg(long)]
        digest: Option<String>,
        /// Why a report of this kind is recorded again for the phase and artefact: it then
        /// supersedes the earlier one in the gate (both stay in the record).
        #[arg(long)]
        rerun_reason: Option<String>,
    },
    /// Triage a finding of the current evidence: a vulnerability (security engineer), a
    /// critical drift (platform lead) or an SLO regression (SRE, QA lead), until a deadline.
    Triage {
        id: String,
        /// The vulnerability id, resource address or metric name the evidence names.
        finding: String,
        #[arg(long, conflicts_with = "remediate", required_unless_present = "remediate")]
        accept_risk: bool,
        /// Fixed under a remediation plan by --until.
        #[arg(long)]
        remediate: bool,
        #[arg(long)]
        until: String,
        #[arg(long)]
        comment: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DefectCmd {
    /// Record a defect found against a release; open Critical or untriaged High defects shut gates.
    Add {
        id: String,
        #[arg(long = "ref")]
        reference: String,
        #[arg(long)]
        severity: String,
        #[arg(long)]
        title: String,
    },
    /// Fixed and re-tested.
    Resolve {
        id: String,
        reference: String,
        #[arg(long)]
        comment: String,
    },
    /// Accept the risk of a High defect (security engineer).
    AcceptRisk {
        id: String,
        reference: String,
        #[arg(long)]
        comment: String,
    },
    /// Remove the defective item from scope (release manager): the scope item it is in
    /// (`--scope ticket:PAY-42`) leaves the release.
    Descope {
        id: String,
        reference: String,
        #[arg(long, value_name = "KIND:REF")]
        scope: String,
        #[arg(long)]
        comment: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum NcCmd {
    /// The register, with status (open, overdue, closed).
    List {
        #[arg(long)]
        open: bool,
    },
    /// Close a non-conformance with its documented corrective action.
    Close {
        nc: String,
        #[arg(long)]
        corrective_action: String,
    },
    /// Record a non-conformance found outside Tollgate.
    Raise {
        #[arg(long)]
        condition: String,
        #[arg(long)]
        detail: String,
        #[arg(long)]
        release: Option<String>,
        #[arg(long)]
        service: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RiskCmd {
    /// Add a risk and its mitigation.
    Add {
        #[arg(long)]
        category: String,
        #[arg(long)]
        risk: String,
        #[arg(long)]
        mitigation: String,
        #[arg(long)]
        owner: String,
    },
    /// The register, seeded from the procedure at init.
    List,
}

#[derive(Subcommand, Debug)]
pub enum RolloutCmd {
    /// Start the deployment of a release by a rollout plan: every rule of `release deploy`,
    /// then the executor shifts traffic stage by stage, promoting only on a passed analysis.
    Start {
        id: String,
        #[arg(long)]
        env: String,
        /// The rollout plan (TOML): strategy, stages, analysis, smoke checks, target, signals.
        #[arg(long, value_hint = clap::ValueHint::FilePath)]
        plan: PathBuf,
        /// The signed artefact rolled out (`sha256:...`); needed when the release has several.
        #[arg(long)]
        artefact: Option<String>,
    },
    /// Where the release's rollout is: stage, weight, the analysis of the stage, what comes next.
    Status { id: String },
    /// Resume a paused rollout: its stage's analysis starts again from now.
    Resume { id: String },
    /// Approve the one-way step the rollout waits at (the release manager, not the one running
    /// the rollout): its shift goes ahead, and from it on the deployment rolls forward only.
    Approve {
        id: String,
        /// The stage whose one-way step is approved, as `rollout status` names it.
        #[arg(long)]
        stage: u32,
    },
    /// Attribute an incident to the release's deployment (during its rollout or stabilisation
    /// window); one of the profile's severity (P1) triggers the rollback. `tollgate serve`
    /// takes Alertmanager's webhook at /api/v1/alertmanager for the same.
    Incident {
        id: String,
        /// The incident's reference in the incident tool (INC-42, an alert's fingerprint).
        #[arg(long)]
        reference: String,
        #[arg(long)]
        severity: String,
        #[arg(long)]
        summary: String,
        /// When it was raised (default: now).
        #[arg(long)]
        raised: Option<String>,
    },
    /// Read a plan file and say what it does, or every problem with it (field and line).
    Check {
        #[arg(value_hint = clap::ValueHint::FilePath)]
        plan: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum AnalysisCmd {
    /// Replay a plan's analysis over the measurements recorded in past rollouts, stage by
    /// stage, and report where it would have promoted, rolled back or paused otherwise than the
    /// rollout did. Only measurements taken are judged. Exit 0 whatever it finds: it is a report.
    Backtest {
        /// The candidate rollout plan (TOML), read as `rollout start` reads one.
        #[arg(value_hint = clap::ValueHint::FilePath)]
        plan: PathBuf,
        /// Only these releases (repeatable); default: every release with a recorded rollout.
        #[arg(long = "release", value_name = "ID")]
        releases: Vec<String>,
        /// Only the releases of this service.
        #[arg(long)]
        service: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClockCmd {
    /// The store's time now: a sandbox's runs ahead of the system clock by every advance.
    Show,
    /// Move a sandbox's clock forward: from then on every command on the store decides and
    /// records at the later time. Refused on a real store, whose clock is the world's.
    Advance {
        /// How far: `+3s`, `2h`, `3 days`, `1 business day` (the profile's calendar).
        #[arg(required = true, num_args = 1.., value_name = "SPAN")]
        span: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Recompute every hash, root and signature; exit 4 on any tampering.
    Verify {
        /// A checkpoint kept elsewhere; the log must be consistent with it.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The public key you trust (a note verifier key, or a file holding one); default: the
        /// one beside the store. The private key is never needed to audit.
        #[arg(long, value_hint = clap::ValueHint::FilePath)]
        key: Option<String>,
    },
    /// The facts in the log, in order.
    Log {
        #[arg(long)]
        release: Option<String>,
    },
    /// Inclusion proof for event SEQ, and/or a consistency proof between two tree sizes.
    Proof {
        seq: Option<u64>,
        /// Consistency from this earlier checkpoint size.
        #[arg(long)]
        from: Option<u64>,
        /// Tree size to prove against (default: the latest checkpoint).
        #[arg(long)]
        to: Option<u64>,
    },
    /// The latest signed checkpoint (C2SP tlog-checkpoint), to keep somewhere safe.
    Checkpoint,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
