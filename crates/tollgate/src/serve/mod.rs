//! `tollgate serve`: the store as a shared, authenticated service. One process keeps the
//! application open (the log replayed once, then only new entries applied) and runs each
//! request's command through the same code as the embedded CLI, as the person its bearer token
//! authenticates. The HTTP API is described in `api`; identity in `auth`. The server signs
//! with a key kept away from the store (`signing_key`) and sends each new checkpoint out of
//! it ([`publish`]).

mod alertmanager;
mod answers;
mod api;
mod auth;
mod cache;
mod commit;
pub mod decode;
mod executor;
mod github;
mod metrics;
pub mod openapi;
pub mod publish;
mod snapshot;
mod witness;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::ServeArgs;
use crate::run::{Failure, SharedApp, error, store_error};
use tollgate_app::App;
use tollgate_ledger::{KeyFile, Ledger, SqliteLedger, SqliteOptions};

/// What every request handler shares.
pub(crate) struct Server {
    pub(crate) db: std::path::PathBuf,
    pub(crate) app: SharedApp,
    /// What reads are answered from.
    snapshots: snapshot::Snapshots,
    /// Answers to reads of the state, kept within one state and one second.
    answers: answers::Answers,
    /// Reads computing an answer at once: a few per core, taken in arrival order, so that
    /// a burst queues fairly instead of sharing the cores among as many threads as requests.
    computing: tokio::sync::Semaphore,
    /// Writers waiting for their facts to be durable.
    commits: commit::GroupCommit,
    identity: auth::Identity,
    github: Option<github::GitHub>,
    pub(crate) metrics: metrics::Metrics,
}

/// How long a request may take before the client is told so (408); a write already decided
/// still lands, as an append is atomic.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(db: &Path, key: Option<&Path>, args: ServeArgs) -> Result<(), Failure> {
    init_tracing();
    let identity = auth::Identity::load(args.oidc.as_deref())?;
    let key = signing_key(db, key, args.key_beside_store)?;
    // The state snapshot is written off the writers' thread, with its own handle on the key.
    let cache_signer = KeyFile::load(key.path()).map_err(store_error)?;
    let mut ledger = SqliteLedger::open_signed(db, Box::new(key), SqliteOptions::default()).map_err(store_error)?;
    let metrics = metrics::Metrics::install()?;
    let mut publishing = None;
    if !args.checkpoint_to.is_empty() {
        let publisher =
            Arc::new(publish::Publisher::start(db, ledger.verifier(), args.checkpoint_to, metrics.publishing())?);
        publishing = Some(Arc::clone(&publisher));
        // What was written while no server ran (an embedded CLI) leaves the store now, not at
        // the next write.
        if let Some(latest) = ledger.latest_checkpoint().map_err(store_error)? {
            publisher.publish(&latest.note);
        }
        ledger.on_commit(move |appended| publisher.publish(&appended.checkpoint));
    }
    let started_at = std::time::Instant::now();
    let (mut app, started) = App::from_ledger_cached(ledger, tollgate_app::snapshot::path_for(db))
        .map_err(|e| error(format!("{}: {e}", db.display())))?;
    log_start(&app, &started, started_at.elapsed());
    let state_cache = Arc::new(cache::StateCache::new(cache_signer));
    state_cache.started(&mut app);
    // Whoever runs the server sees it serves a rehearsal; each answer says so too.
    let sandbox = app.state().is_sandbox();
    if sandbox {
        crate::out::banner();
    }
    let app = Arc::new(std::sync::Mutex::new(app));
    let shared = Arc::clone(&app);
    let server = Arc::new(Server {
        db: db.to_owned(),
        snapshots: snapshot::Snapshots::new(db, &app, Arc::clone(&state_cache)),
        commits: commit::GroupCommit::default(),
        answers: answers::Answers::default(),
        computing: tokio::sync::Semaphore::new(
            4 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
        ),
        app,
        identity,
        github: args.github.as_deref().map(github::GitHub::load).transpose()?,
        metrics,
    });
    // Rollouts run on their own thread, from the log: one the server was running when it
    // stopped (or was killed) resumes here from its last recorded step.
    let executor = executor::Executor::start(Arc::clone(&server), Arc::new(tollgate_app::SystemClock));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| error(format!("starting the server's runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| error(format!("--listen {}: {e}", args.listen)))?;
        let addr = listener.local_addr().map_err(|e| error(e.to_string()))?;
        let stop = shutdown_signal()?;
        // The first line of output: a test or a supervisor reads the port from it.
        crate::outln!("tollgate serving {} on http://{addr}", db.display());
        tracing::info!(%addr, store = %db.display(), sandbox, "listening");
        let router = api::router(server, args.max_body_mib << 20, REQUEST_TIMEOUT);
        axum::serve(listener, router).with_graceful_shutdown(stop).await.map_err(|e| error(format!("serving: {e}")))?;
        tracing::info!("stopped; in-flight requests finished");
        executor.stop();
        state_cache.stopped(&mut shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if let Some(publisher) = publishing {
            publisher.finish();
        }
        Ok(())
    })
}

/// What the state was built from, for whoever watches the start.
fn log_start(app: &App<SqliteLedger>, started: &tollgate_app::app::Started, took: Duration) {
    let (size, ms) = (app.applied(), took.as_millis());
    match (started.from_snapshot, &started.replayed_because) {
        (Some(at), _) => tracing::info!(size, snapshot = at, replayed = size - at, ms, "state from the snapshot"),
        (None, why) => tracing::info!(size, ms, why = why.as_deref().unwrap_or(""), "state replayed from the log"),
    }
}

/// The server's signing key: `--signing-key FILE`, or the one beside the store. Refused when
/// its group or others may read it, and when it is in the store's directory (unless
/// `--key-beside-store`): a copy of the store taken with its key can be rewritten and signed.
fn signing_key(db: &Path, given: Option<&Path>, beside_accepted: bool) -> Result<KeyFile, Failure> {
    let path = given.map_or_else(|| tollgate_ledger::sqlite::key_path(db), Path::to_owned);
    let key = KeyFile::load(&path).map_err(|e| match e {
        tollgate_ledger::LedgerError::Io { source, .. }
            if given.is_none() && source.kind() == std::io::ErrorKind::NotFound && db.exists() =>
        {
            error(format!(
                "no signing key beside the store ({}): give the file that holds it with --signing-key FILE (or TOLLGATE_SIGNING_KEY)",
                path.display()
            ))
        }
        other => store_error(other),
    })?;
    key.check_private().map_err(|e| error(e.to_string()))?;
    if publish::beside(db, &path) {
        if !beside_accepted {
            return Err(error(format!(
                "the signing key {key} is in the store's directory: a copy of that directory can be rewritten and re-signed anywhere. Move it where only the service's user can read it (`mv {key} /etc/tollgate/signing.key`, mode 600) and serve with --signing-key /etc/tollgate/signing.key (or TOLLGATE_SIGNING_KEY), or accept the risk with --key-beside-store",
                key = path.display()
            )));
        }
        tracing::warn!(
            key = %path.display(),
            "the signing key is in the store's directory (--key-beside-store): a copy of that directory can be rewritten and re-signed"
        );
    }
    Ok(key)
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Structured lines on stderr; stdout carries only the listening line.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).json().try_init();
}

/// Ctrl-C or SIGTERM: stop accepting, let in-flight requests (and their writes) finish. The
/// handlers are installed here, before the server says it listens, so that a stop sent right
/// after the start is as graceful as any other.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handler = |kind: SignalKind| signal(kind).map_err(|e| error(format!("handling signals: {e}")));
        let (mut terminate, mut interrupt) = (handler(SignalKind::terminate())?, handler(SignalKind::interrupt())?);
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
