//! `tollgate serve`: the store as a shared, authenticated service. One process keeps the
//! application open (the log replayed once, then only new entries applied) and runs each
//! request's command through the same code as the embedded CLI, as the person its bearer token
//! authenticates. The HTTP API is described in [`api`]; identity in [`auth`].

mod api;
mod auth;
mod commit;
mod github;
mod metrics;
pub mod openapi;
mod snapshot;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::ServeArgs;
use crate::run::{Failure, SharedApp, error};
use tollgate_app::App;

/// What every request handler shares.
pub(crate) struct Server {
    pub(crate) db: std::path::PathBuf,
    pub(crate) app: SharedApp,
    /// What reads are answered from.
    snapshots: snapshot::Snapshots,
    /// Writers waiting for their facts to be durable.
    commits: commit::GroupCommit,
    identity: auth::Identity,
    github: Option<github::GitHub>,
    pub(crate) metrics: metrics::Metrics,
}

/// How long a request may take before the client is told so (408); a write already decided
/// still lands, as an append is atomic.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(db: &Path, args: ServeArgs) -> Result<(), Failure> {
    init_tracing();
    let identity = auth::Identity::load(args.oidc.as_deref())?;
    let app = App::open(db).map_err(|e| error(format!("{}: {e}", db.display())))?;
    // Whoever runs the server sees it serves a rehearsal; each answer says so too.
    let sandbox = app.state().is_sandbox();
    if sandbox {
        crate::out::banner();
    }
    let app = Arc::new(std::sync::Mutex::new(app));
    let server = Arc::new(Server {
        db: db.to_owned(),
        snapshots: snapshot::Snapshots::new(db, &app),
        commits: commit::GroupCommit::default(),
        app,
        identity,
        github: args.github.as_deref().map(github::GitHub::load).transpose()?,
        metrics: metrics::Metrics::install()?,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| error(format!("starting the server's runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| error(format!("--listen {}: {e}", args.listen)))?;
        let addr = listener.local_addr().map_err(|e| error(e.to_string()))?;
        // The first line of output: a test or a supervisor reads the port from it.
        crate::outln!("tollgate serving {} on http://{addr}", db.display());
        tracing::info!(%addr, store = %db.display(), sandbox, "listening");
        let router = api::router(server, args.max_body_mib << 20, REQUEST_TIMEOUT);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| error(format!("serving: {e}")))?;
        tracing::info!("stopped; in-flight requests finished");
        Ok(())
    })
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Structured lines on stderr; stdout carries only the listening line.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).json().try_init();
}

/// Ctrl-C or SIGTERM: stop accepting, let in-flight requests (and their writes) finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
