//! The report as one HTML file that needs nothing else: styles inline, charts as inline SVG, no
//! scripts, fonts, images or links to fetch. Every text from records is escaped.

use std::fmt::Write as _;

use tollgate_metrics::kpi::{self, Kpi};

use super::{Listed, Report, chart, day, tick, when};

/// Text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn e(text: &str) -> String {
    escape(text)
}

/// An artefact in a table: long ids (purls with a digest) cut to their start, whole on hover.
fn artefact(id: Option<&str>) -> String {
    const SHOWN: usize = 44;
    match id {
        None => "—".to_owned(),
        Some(id) if id.chars().count() <= SHOWN => format!("<code>{}</code>", e(id)),
        Some(id) => {
            let start: String = id.chars().take(SHOWN).collect();
            format!("<code title=\"{}\">{}…</code>", e(id), e(&start))
        }
    }
}

fn opt(text: Option<&str>) -> String {
    text.map_or_else(|| "—".to_owned(), escape)
}

const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f8fa; color: #1f2328;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 28px 36px 48px; background: #fff; min-height: 100vh; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 5px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 20px 0 6px; }
p { margin: 6px 0; }
.muted, .def { color: #57606a; }
.def { font-size: 12px; margin-top: 2px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 12px 0; }
dl.facts dt { color: #57606a; }
dl.facts dd { margin: 0; }
.review { border-left: 4px solid #0969da; background: #f1f8ff; padding: 10px 14px; border-radius: 0 6px 6px 0; margin: 14px 0; }
.review p { margin: 3px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 4px; }
.card { border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 16px; min-width: 190px; }
.card b { display: block; font-size: 24px; line-height: 1.2; }
.card.bad { border-color: #ff8182; background: #fff5f5; }
.card.bad b { color: #cf222e; }
.card.good b { color: #1a7f37; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; }
th, td { text-align: left; vertical-align: top; padding: 6px 9px; border-bottom: 1px solid #d8dee4; }
th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.when, td.nowrap { white-space: nowrap; }
table.items td.when { width: 15em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.missed > td:first-child { box-shadow: inset 4px 0 #cf222e; }
tr.missed { background: #fff8f8; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 11px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge.met { background: #dafbe1; color: #116329; }
.badge.missed { background: #ffebe9; color: #a40e26; }
.badge.none { background: #eaeef2; color: #57606a; }
.nodata { color: #57606a; font-style: italic; }
ul.notes { margin: 4px 0 0; padding-left: 18px; font-size: 12px; color: #57606a; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 14px; }
figure { margin: 0; border: 1px solid #d0d7de; border-radius: 8px; padding: 6px; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { font-size: 12px; color: #57606a; padding: 2px 6px 4px; }
.legend span { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin: 0 4px 0 12px; vertical-align: -1px; }
details { margin: 10px 0; }
details.rows { margin-top: -4px; }
summary { cursor: pointer; color: #0969da; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
footer { margin-top: 40px; font-size: 12px; color: #57606a; border-top: 1px solid #d0d7de; padding-top: 10px; }
@media (max-width: 900px) { .charts { grid-template-columns: 1fr; } main { padding: 16px; } }
@media print { body { background: #fff; } main { padding: 0; } figure, tr { break-inside: avoid; } }
.sandbox { background: #fff8c5; border: 2px solid #9a6700; color: #7d4e00; font-weight: 700; padding: 8px 14px; border-radius: 6px; margin: 0 0 14px; }
.watermark { position: fixed; inset: 0; display: flex; align-items: center; justify-content: center; pointer-events: none;
  font: 700 140px/1 system-ui, sans-serif; color: rgba(154, 103, 0, 0.10); transform: rotate(-30deg); z-index: 10; }
"#;

pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let scope = r.service.as_deref().unwrap_or("all services");
    let title = format!("{}{}: {scope}", if r.sandbox { "SANDBOX — " } else { "" }, r.cadence.title());
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"tollgate {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        e(&title)
    );
    // On every screen and printed page, over the content: a rehearsal's figures are no record.
    if r.sandbox {
        let _ = writeln!(
            h,
            "<div class=\"watermark\" aria-hidden=\"true\">SANDBOX</div>\n<p class=\"sandbox\">{}</p>",
            e(crate::out::BANNER)
        );
    }
    header(&mut h, r, &title);
    cards(&mut h, r);
    kpi_table(&mut h, r);
    trends(&mut h, r);
    breaches(&mut h, r);
    emergencies(&mut h, r);
    rollbacks(&mut h, r);
    nonconformances(&mut h, r);
    if let Some(risks) = &r.risks {
        h.push_str("<h2 id=\"risks\">Risk register (5.1)</h2>\n");
        if risks.is_empty() {
            h.push_str("<p class=\"muted\">The register is empty.</p>\n");
        }
        let rows = risks.iter().map(|k| {
            format!(
                "<tr><td class=\"nowrap\">RISK-{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                k.id,
                e(&k.category),
                e(&k.risk),
                e(&k.mitigation),
                e(&k.owner)
            )
        });
        table(&mut h, "", &["Id", "Category", "Risk", "Mitigation", "Owner"], rows.collect());
    }
    if let Some(blackouts) = &r.blackouts {
        h.push_str("<h2 id=\"blackouts\">Blackout calendar</h2>\n");
        if blackouts.is_empty() {
            h.push_str("<p class=\"muted\">No blackout period ends after the start of this period.</p>\n");
        }
        let rows = blackouts.iter().map(|b| {
            format!(
                "<tr><td class=\"when\">{}</td><td class=\"when\">{}</td><td>{}</td><td>{}</td></tr>",
                e(&when(b.from.timestamp())),
                e(&when(b.to.timestamp())),
                b.service.as_deref().map_or_else(|| "every service".to_owned(), escape),
                e(&b.reason)
            )
        });
        table(&mut h, "", &["From", "To", "Service", "Reason"], rows.collect());
    }
    let _ = write!(
        h,
        "<footer>Generated by tollgate {} at {}. Each KPI's definition is stated beside it and in <code>docs/metrics.md</code>; \
         percentiles are nearest-rank; a KPI without data is shown as such, never as 0. Deployments count in the period \
         they finish in; rollbacks and incidents count against the deployment they belong to.</footer>\n</main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        e(&when(r.generated.timestamp()))
    );
    h
}

fn header(h: &mut String, r: &Report, title: &str) {
    let _ = writeln!(h, "<header>\n<h1>{}</h1>", e(title));
    let _ = writeln!(
        h,
        "<dl class=\"facts\">\n<dt>Period</dt><dd>{} to {} ({} days){}</dd>\n\
         <dt>Service</dt><dd>{}</dd>\n<dt>Environment</dt><dd>{}</dd>\n\
         <dt>Profile</dt><dd>{} {} — {} ({}), <code>{}</code></dd>\n<dt>Generated</dt><dd>{}</dd>\n</dl>",
        e(&when(r.from)),
        e(&when(r.to)),
        r.cadence.length() / super::DAY,
        super::iso_week_hint(r).map_or_else(String::new, |h| format!("<div class=\"def\">{}</div>", e(&h))),
        r.service.as_deref().map_or_else(|| "every service".to_owned(), escape),
        e(&r.environment),
        e(&r.profile.id),
        e(&r.profile.version),
        e(&r.profile.title),
        e(&r.profile.document),
        e(r.profile.hash.get(..12).unwrap_or(&r.profile.hash)),
        e(&when(r.generated.timestamp()))
    );
    match &r.review {
        Some(c) => {
            let _ = writeln!(
                h,
                "<div class=\"review\"><p><b>{}</b> (6.1) · {}</p><p><b>Reviews:</b> {}</p><p><b>Output:</b> {}</p></div>",
                e(r.cadence.title()),
                e(&c.trigger),
                e(&c.reviews),
                e(&c.output)
            );
        }
        None => {
            let _ = writeln!(
                h,
                "<div class=\"review\"><p>The profile sets no {} review cadence (6.1).</p></div>",
                r.cadence.key()
            );
        }
    }
    h.push_str("</header>\n");
}

fn cards(h: &mut String, r: &Report) {
    let judged = r.kpis.iter().filter(|k| k.band.is_some()).count();
    let missed = r.kpis.iter().filter(|k| k.band.as_ref().is_some_and(|b| !b.met)).count();
    let emergencies = r.emergency_releases.len() + r.emergency_deployments.total;
    let overdue = r.nonconformances.iter().filter(|n| n.overdue).count();
    let card = |h: &mut String, bad: bool, value: String, what: &str| {
        let _ = writeln!(h, "<div class=\"card {}\"><b>{value}</b>{}</div>", if bad { "bad" } else { "good" }, e(what));
    };
    h.push_str("<section class=\"cards\" aria-label=\"At a glance\">\n");
    card(h, missed > 0, format!("{missed} of {judged}"), "KPIs outside target");
    card(h, emergencies > 0, emergencies.to_string(), "emergency releases and deployments");
    card(h, r.rollbacks.total > 0, r.rollbacks.total.to_string(), "rollbacks decided");
    card(
        h,
        !r.nonconformances.is_empty(),
        r.nonconformances.len().to_string(),
        &format!("open non-conformances ({overdue} overdue)"),
    );
    h.push_str("</section>\n");
}

fn band(k: &Kpi) -> String {
    match &k.band {
        Some(b) if b.met => format!("<span class=\"badge met\">✓ {}</span>", e(&b.label)),
        Some(b) => format!("<span class=\"badge missed\">✗ {}</span>", e(&b.label)),
        None => "<span class=\"badge none\">not judged</span>".to_owned(),
    }
}

fn kpi_table(h: &mut String, r: &Report) {
    h.push_str(
        "<h2 id=\"kpis\">KPIs against targets (4.2)</h2>\n<table class=\"kpis\">\n\
         <thead><tr><th>KPI</th><th>Value</th><th>Target</th><th>Band</th></tr></thead>\n<tbody>\n",
    );
    for k in &r.kpis {
        let missed = k.band.as_ref().is_some_and(|b| !b.met);
        let value = match &k.value {
            Some(v) => e(&v.to_string()),
            None => format!("<span class=\"nodata\">no data: {}</span>", e(k.null_reason.as_deref().unwrap_or(""))),
        };
        let notes = if k.notes.is_empty() {
            String::new()
        } else {
            let items: String = k.notes.iter().map(|n| format!("<li>{}</li>", e(n))).collect();
            format!("<ul class=\"notes\">{items}</ul>")
        };
        let _ = writeln!(
            h,
            "<tr id=\"kpi-{}\" class=\"{}\"><td><b>{}</b><div class=\"def\">{}</div></td><td>{value}{notes}</td><td>{}</td><td>{}</td></tr>",
            k.key,
            if missed { "missed" } else { "ok" },
            e(k.name),
            e(k.definition),
            e(&k.target),
            band(k)
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

fn trends(h: &mut String, r: &Report) {
    let ticks: Vec<String> = r.periods.iter().map(|&(_, to)| tick(r.cadence, to)).collect();
    let _ = writeln!(
        h,
        "<h2 id=\"trends\">Trends over the last {} periods</h2>\n<p class=\"muted\">Each point is one {} period, labelled by its last day; \
         the last point is this report's period. Durations are medians. \
         <span class=\"legend\"><span style=\"background:#1a7f37\"></span>target met<span style=\"background:#cf222e\"></span>target missed\
         <span style=\"background:#6e7781\"></span>not judged</span>; a gap is a period without data.</p>\n<div class=\"charts\">",
        r.periods.len(),
        r.cadence.period_name()
    );
    for t in &r.trends {
        match chart::svg(t, &ticks) {
            Ok(svg) => {
                let _ = writeln!(h, "<figure id=\"trend-{}\">{svg}</figure>", t.key);
            }
            Err(why) => {
                let _ = writeln!(
                    h,
                    "<figure id=\"trend-{}\"><figcaption>{}: the chart could not be drawn ({})</figcaption></figure>",
                    t.key,
                    e(t.title),
                    e(&why)
                );
            }
        }
    }
    h.push_str("</div>\n<details><summary>The trend as a table</summary>\n<table>\n<thead><tr><th>Period</th>");
    for t in &r.trends {
        let _ = write!(h, "<th>{}</th>", e(t.title));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (p, &(from, to)) in r.periods.iter().enumerate() {
        let _ = write!(h, "<tr><td>{} – {}</td>", day(from), day(to - 1));
        for t in &r.trends {
            let cell = t.values[p].map_or_else(|| "—".to_owned(), |v| e(&t.unit.format(v)));
            let class = if t.met[p] == Some(false) { " style=\"color:#cf222e\"" } else { "" };
            let _ = write!(h, "<td class=\"num\"{class}>{cell}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</details>\n");
}

/// Rows shown before the rest of a long table folds away.
const SHOWN: usize = 10;

/// A table of pre-rendered `<tr>` rows; past [`SHOWN`] rows the rest sit in a `<details>` a
/// reader opens (no script needed), so a long list does not bury the sections after it.
fn table(h: &mut String, class: &str, headers: &[&str], rows: Vec<String>) {
    if rows.is_empty() {
        return;
    }
    let head: String = headers.iter().map(|t| format!("<th>{}</th>", e(t))).collect();
    let open = format!("<table class=\"{class}\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n");
    h.push_str(&open);
    for row in rows.iter().take(SHOWN) {
        h.push_str(row);
        h.push('\n');
    }
    h.push_str("</tbody>\n</table>\n");
    if rows.len() > SHOWN {
        let _ = writeln!(h, "<details class=\"rows\"><summary>Show {} more rows</summary>", rows.len() - SHOWN);
        h.push_str(&open);
        for row in &rows[SHOWN..] {
            h.push_str(row);
            h.push('\n');
        }
        h.push_str("</tbody>\n</table>\n</details>\n");
    }
}

/// "… and 3 more (the first 200 are listed)" when a list was cut.
fn cut(h: &mut String, listed: usize, total: u64) {
    let more = total.saturating_sub(listed as u64);
    if more > 0 {
        let _ = writeln!(h, "<p class=\"muted\">… and {more} more, not listed (the first {listed} are).</p>");
    }
}

fn breach_table(h: &mut String, k: &Kpi) {
    let rows = k.breaches.iter().map(|b| {
        // An own deployment is named by its release; an imported one by its row in the KPI store.
        let deployment = match (&b.release, b.deployment) {
            (None, Some(id)) => format!("#{id}"),
            _ => "—".to_owned(),
        };
        format!(
            "<tr><td class=\"when\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{deployment}</td></tr>",
            e(&when(b.at)),
            e(&b.what),
            e(&b.service),
            opt(b.release.as_deref())
        )
    });
    table(h, "items", &["When", "What", "Service", "Release", "Deployment"], rows.collect());
    cut(h, k.breaches.len(), k.breaches_total);
}

fn breaches(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"breaches\">Metrics breaching threshold</h2>\n");
    let missed: Vec<&Kpi> = r.kpis.iter().filter(|k| k.band.as_ref().is_some_and(|b| !b.met)).collect();
    if missed.is_empty() {
        h.push_str("<p>Every KPI with data is within its target.</p>\n");
    }
    for k in missed {
        let value = k.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(
            h,
            "<h3>{} <span class=\"badge missed\">✗ {}</span></h3>\n<p><b>Value:</b> {} · <b>Target:</b> {} · {} counted against it</p>",
            e(k.name),
            e(k.band.as_ref().map_or("", |b| b.label.as_str())),
            e(&value),
            e(&k.target),
            super::items(k.breaches_total)
        );
        if k.breaches.is_empty() {
            h.push_str(
                "<p class=\"muted\">The KPI names no single item (its value as a whole misses the target).</p>\n",
            );
        }
        breach_table(h, k);
    }
    // Not a target, but gaps in the records every KPI above is computed from.
    for k in r.kpis.iter().filter(|k| k.band.is_none() && k.value.is_some() && !k.breaches.is_empty()) {
        let _ = writeln!(
            h,
            "<h3>{} <span class=\"badge none\">no target</span></h3>\n<p class=\"muted\">{} {}</p>",
            e(k.name),
            e(k.definition),
            e(&k.target)
        );
        breach_table(h, k);
    }
}

fn more<T>(h: &mut String, listed: &Listed<T>) {
    cut(h, listed.rows.len(), listed.total as u64);
}

fn emergencies(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"emergencies\">Emergency releases (4.6)</h2>\n");
    if r.emergency_releases.is_empty() && r.emergency_deployments.total == 0 {
        h.push_str("<p>No emergency release or deployment in the period.</p>\n");
        return;
    }
    let rows = r.emergency_releases.iter().map(|x| {
        format!(
            "<tr><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"when\">{}</td><td class=\"when\">{}</td><td>{}</td></tr>",
            e(&x.release),
            e(&x.service),
            e(&x.version),
            e(&x.title),
            opt(x.incident.as_deref()),
            e(&when(x.created)),
            x.deployed.map_or_else(|| "not yet".to_owned(), |t| e(&when(t))),
            e(&x.phase)
        )
    });
    table(
        h,
        "",
        &["Release", "Service", "Version", "Title", "Incident", "Created", "Deployed", "Phase"],
        rows.collect(),
    );
    if r.emergency_deployments.total > 0 {
        h.push_str("<h3>Imported emergency deployments</h3>\n");
        let rows = r.emergency_deployments.rows.iter().map(|x| {
            format!(
                "<tr><td class=\"when\">{}</td><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&when(x.finished)),
                e(&x.service),
                if x.success { "succeeded" } else { "failed" },
                opt(x.fixes_incident.as_deref()),
                artefact(x.artefact.as_deref())
            )
        });
        table(h, "items", &["Finished", "Service", "Outcome", "Fixes incident", "Artefact"], rows.collect());
        more(h, &r.emergency_deployments);
    }
}

fn rollbacks(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"rollbacks\">Rollbacks (4.5)</h2>\n");
    if r.rollbacks.total == 0 {
        h.push_str("<p>No rollback was decided in the period.</p>\n");
        return;
    }
    let rows = r.rollbacks.rows.iter().map(|x| {
        let took = match x.completed {
            Some(c) => kpi::human(c.saturating_sub(x.decided)),
            None => "still running".to_owned(),
        };
        format!(
            "<tr class=\"{}\"><td class=\"when\">{}</td><td>{}</td><td>{}</td><td class=\"when\">{}</td><td class=\"when\">{}</td><td class=\"num\">{}{}</td><td>{}</td></tr>",
            if x.over_target { "missed" } else { "ok" },
            e(&when(x.decided)),
            e(&x.service),
            opt(x.release.as_deref()),
            e(&when(x.deployed)),
            x.completed.map_or_else(|| "—".to_owned(), |t| e(&when(t))),
            e(&took),
            if x.over_target { " <span class=\"badge missed\">over target</span>" } else { "" },
            artefact(x.artefact.as_deref())
        )
    });
    table(h, "items", &["Decided", "Service", "Release", "Deployed", "Completed", "Took", "Artefact"], rows.collect());
    more(h, &r.rollbacks);
}

fn nonconformances(h: &mut String, r: &Report) {
    let _ = writeln!(h, "<h2 id=\"nonconformances\">Open non-conformances (6.2)</h2>");
    if r.nonconformances.is_empty() {
        let _ = writeln!(h, "<p>No non-conformance was open at {}.</p>", e(&when(r.to)));
        return;
    }
    let _ = writeln!(h, "<p class=\"muted\">Open at {}, with their corrective-action due dates.</p>", e(&when(r.to)));
    // Overdue first: they are what the review must act on.
    let mut ncs: Vec<_> = r.nonconformances.iter().collect();
    ncs.sort_by_key(|n| (!n.overdue, n.due, n.id));
    let rows = ncs.iter().map(|n| {
        format!(
            "<tr class=\"{}\"><td class=\"nowrap\">NC-{}</td><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td><td>{}</td></tr>",
            if n.overdue { "missed" } else { "ok" },
            n.id,
            e(&n.condition),
            opt(n.release.as_deref()),
            opt(n.service.as_deref()),
            e(&n.detail),
            e(&day(n.raised)),
            e(&when(n.due)),
            if n.overdue {
                "<span class=\"badge missed\">overdue</span>"
            } else {
                "<span class=\"badge none\">open</span>"
            }
        )
    });
    table(h, "", &["Id", "Condition", "Release", "Service", "Detail", "Raised", "Due", "Status"], rows.collect());
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_records_is_text() {
        assert_eq!(
            escape(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
