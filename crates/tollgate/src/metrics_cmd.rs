//! `tollgate import` and `tollgate metrics`: external events into the KPI store beside the log,
//! and the KPIs of 4.2 computed from it and from Tollgate's own records.

use std::io::{IsTerminal, Read};
use std::path::Path;

use serde_json::json;
use tollgate_domain::Command;
use tollgate_domain::event::{ExternalDeployment, ImportRecord};
use tollgate_domain::evidence::Digest;
use tollgate_ledger::SqliteLedger;
use tollgate_metrics::history::History;
use tollgate_metrics::import::{Importer, Summary};
use tollgate_metrics::kpi::{self, Procedure, Query};
use tollgate_metrics::store::{self, Store};

use crate::event_stream::{self, MAX_LINE, ReadError};
use crate::run::{Ctx, Failure, error};
use crate::view::View;
use tollgate_app::app::App;

pub(crate) fn import(ctx: &Ctx, app: &mut App<SqliteLedger>, file: &Path) -> Result<(), Failure> {
    let actor = ctx.actor()?.to_owned();
    let policy = app.state().policy().ok_or_else(|| error("no profile adopted"))?.clone();
    let production = policy.production().unwrap_or("production").to_owned();
    // Authority first: a refused import must not touch the KPI store either.
    let probe = Command::RecordImport {
        record: record(file, Digest::from_sha256([0; 32]), &Summary::default()),
        deployments: Vec::new(),
    };
    tollgate_domain::decide(app.state(), &actor, ctx.now(), &probe).map_err(|e| match e {
        tollgate_domain::Rejection::Refused(r) => Failure::Refused(r),
        tollgate_domain::Rejection::Invalid(r) => error(r.join("\n")),
    })?;

    let input: Box<dyn Read + Send> = crate::files::open(file)?;
    let size = crate::files::size(file);
    let kpi_path = store::path_beside(&ctx.db);
    let mut kpi = Store::open(&kpi_path).map_err(|e| error(e.to_string()))?;
    let enforced = tollgate_domain::nonconformance::enforcement_start(app.state(), &policy).map(|t| t.timestamp());
    // CDEvents lines run to hundreds of bytes: a low estimate of the count, grown as needed.
    let expected_lines = size.map_or(0, |s| (s / 1_000).min(100_000_000) as usize);
    let mut importer = Importer::new(&mut kpi, &production, enforced, expected_lines)
        .map_err(|e| error(format!("{}: {e}", kpi_path.display())))?;
    let progress = Progress::new(size);
    let store_error = |e: &dyn std::fmt::Display| error(format!("{}: {e}", kpi_path.display()));
    let read = event_stream::read(input, |batch| {
        importer.parsed(&batch.lines).map_err(|e| store_error(&e))?;
        progress.update(batch.bytes_read, importer.summary.lines);
        Ok::<_, Failure>(())
    })?;
    progress.finish();
    // Nothing is committed unless the whole input was read: the importer's transaction is
    // dropped (rolled back) with it.
    let digest = read.map_err(|e| match e {
        ReadError::Io(e) => error(format!("{}: {e}; nothing was imported", file.display())),
        ReadError::LineTooLong(n) => {
            error(format!("{}: line {n} is longer than {MAX_LINE} bytes; nothing was imported", file.display()))
        }
    })?;
    // The KPI store commits only after the log has recorded the import: a failed append
    // leaves the store as it was (the prepared transaction rolls back), and a rerun imports.
    let prepared = importer.prepare().map_err(|e| store_error(&e))?;
    let digest = Digest::from_sha256(digest);
    let deployments = prepared
        .summary
        .to_check
        .iter()
        .filter_map(|(service, artefact, at)| {
            let at = chrono::DateTime::from_timestamp(*at, 0)?;
            Some(ExternalDeployment { service: service.clone(), artefact: artefact.clone(), at })
        })
        .collect();
    let command = Command::RecordImport { record: record(file, digest.clone(), &prepared.summary), deployments };
    let recorded = ctx.execute(app, command).map_err(|f| match f {
        Failure::Error(e) | Failure::Conflict(e) => {
            error(format!("{}: the log did not record the import ({e}); nothing was imported", file.display()))
        }
        other => other,
    })?;
    let summary = prepared.commit().map_err(|e| {
        error(format!(
            "{}: {e}; the log records the import of {} but the KPI store does not hold it: run the import again",
            kpi_path.display(),
            file.display()
        ))
    })?;
    let raised = recorded.facts.iter().filter(|f| matches!(f.event, tollgate_domain::Event::NcRaised(_))).count();
    let rejections: Vec<_> =
        summary.rejections.iter().map(|(line, why)| json!({"line": line, "reason": why})).collect();
    let mut text = format!(
        "imported {} of {} lines from {} (sha256 {}): {} deployments, {} failed, {} rollbacks, {} incidents ({} unattributed), {} changes reached production; {} duplicates, {} skipped, {} rejected{}",
        summary.imported,
        summary.lines,
        file.display(),
        &digest.hex()[..12],
        summary.deployments,
        summary.failed_deployments,
        summary.rollbacks,
        summary.incidents,
        summary.unattributed_incidents,
        summary.changes_shipped,
        summary.duplicates,
        summary.skipped,
        summary.rejected,
        match summary.earlier_incidents_attributed {
            0 => String::new(),
            n => format!("; {n} incidents of earlier imports attributed to its deployments"),
        }
    );
    let mut reasons: Vec<_> = summary.skip_reasons.iter().collect();
    reasons.sort();
    for (why, n) in &reasons {
        text.push_str(&format!("\n  skipped {n}: {why}"));
    }
    if raised > 0 {
        text.push_str(&format!(
            "\n  {raised} production deployments without an approved release record raised as non-conformances"
        ));
    }
    for (line, why) in &summary.rejections {
        text.push_str(&format!("\n  rejected line {line}: {why}"));
    }
    if summary.rejected > summary.rejections.len() as u64 {
        text.push_str(&format!(
            "\n  ... and {} more rejected lines",
            summary.rejected - summary.rejections.len() as u64
        ));
    }
    if !ctx.json {
        ctx.done(&recorded, text);
    } else {
        ctx.print(View {
            json: json!({
                "source": file.display().to_string(), "sha256": digest.to_string(), "lines": summary.lines,
                "imported": summary.imported, "duplicates": summary.duplicates, "skipped": summary.skipped,
                "rejected": summary.rejected, "rejections": rejections, "deployments": summary.deployments,
                "failed_deployments": summary.failed_deployments, "rollbacks": summary.rollbacks,
                "incidents": summary.incidents, "unattributed_incidents": summary.unattributed_incidents,
                "earlier_incidents_attributed": summary.earlier_incidents_attributed,
                "changes_shipped": summary.changes_shipped, "log_seq": recorded.first_seq,
            }),
            text,
        });
    }
    Ok(())
}

fn record(file: &Path, digest: Digest, s: &Summary) -> ImportRecord {
    ImportRecord {
        format: "cdevents".into(),
        source: file.display().to_string(),
        digest,
        lines: s.lines,
        imported: s.imported,
        duplicates: s.duplicates,
        skipped: s.skipped,
        rejected: s.rejected,
    }
}

/// A progress line on a terminal; nothing when stderr is not one.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(size: Option<u64>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = match size {
            Some(n) if n > 0 => indicatif::ProgressBar::new(n),
            _ => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {bar:30} {msg} ({elapsed}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress { bar: Some(bar) }
    }

    fn update(&self, bytes: u64, lines: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!("{lines} lines"));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// What the governing profile says about KPIs: the ones its document names, with its targets
/// (none where it sets none), and its emergency frequency rule, shared with the register.
pub fn procedure(policy: &tollgate_domain::policy::Policy) -> Procedure {
    Procedure {
        document: policy.document.clone(),
        kpis: Some(policy.kpis.iter().map(|k| (kpi::key_of(&k.id), k.target.clone())).collect()),
        emergency: tollgate_domain::nonconformance::EmergencyRule::of(policy),
    }
}

/// Imported facts (if anything was imported) and Tollgate's own, for one query.
pub fn history(
    db: &Path,
    state: &tollgate_domain::State,
    service: Option<&str>,
    environment: &str,
    from: i64,
    to: i64,
) -> Result<History, Failure> {
    // Rolling 30-day emergency counts look back before the window.
    const LOOKBACK: i64 = 30 * 86_400;
    let kpi_path = store::path_beside(db);
    let mut h = if kpi_path.exists() {
        let kpi = Store::open(&kpi_path).map_err(|e| error(e.to_string()))?;
        kpi.history(service, environment, from, to, LOOKBACK)
            .map_err(|e| error(format!("{}: {e}", kpi_path.display())))?
    } else {
        History::default()
    };
    let own = crate::own_history::history(state, environment, service);
    h.deployments.extend(own.deployments);
    h.approvals.extend(own.approvals);
    h.releases.extend(own.releases);
    Ok(h)
}

pub(crate) fn metrics(
    ctx: &Ctx,
    app: &App<SqliteLedger>,
    service: Option<&str>,
    env: Option<&str>,
    from: tollgate_domain::Timestamp,
    to: tollgate_domain::Timestamp,
) -> Result<View, Failure> {
    let policy = app.state().policy().ok_or_else(|| error("no profile adopted"))?;
    let environment = env.or(policy.production()).unwrap_or("production").to_owned();
    let h = history(&ctx.db, app.state(), service, &environment, from.timestamp(), to.timestamp())?;
    let query = Query {
        service: service.map(str::to_owned),
        environment: environment.clone(),
        from: from.timestamp(),
        to: to.timestamp(),
    };
    let kpis = kpi::compute_for(&h, &query, &procedure(policy));
    // The command ends after printing: the OS takes a million deployments' memory back at
    // once, where freeing their strings one by one takes a quarter of the command's time.
    std::mem::forget(h);
    let mut json = kpi::to_json(&kpis);
    if let Some(o) = json.as_object_mut() {
        o.insert("query".into(), json!({"service": service, "environment": environment, "from": tollgate_app::codec::time(from), "to": tollgate_app::codec::time(to)}));
    }
    let mut table = String::new();
    for k in &kpis {
        let value = match &k.value {
            Some(v) => v.to_string(),
            None => format!("no data: {}", k.null_reason.as_deref().unwrap_or("")),
        };
        let band = k
            .band
            .as_ref()
            .map_or("-".to_owned(), |b| format!("{}{}", b.label, if b.met { "" } else { " (target missed)" }));
        table.push_str(&format!("  {:<42} {band}\n    {value}\n    target: {}\n", k.name, k.target));
    }
    let text = format!(
        "KPIs for {} in {}, deployments finishing {} to {}\n{table}\n",
        service.unwrap_or("every service"),
        environment,
        tollgate_domain::gate::when(from),
        tollgate_domain::gate::when(to)
    );
    Ok(View { json, text })
}
