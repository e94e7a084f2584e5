//! The report as Markdown (CommonMark with GitHub tables): the same sections as the HTML, the
//! trend as a table. Text from records is escaped so it can neither break a table nor become
//! markup or raw HTML.

use std::fmt::Write as _;

use tollgate_metrics::kpi::{self, Kpi};

use super::{Listed, Report, day, when};

/// Backslash-escapes the ASCII punctuation that could start markup, and flattens line breaks so
/// a value stays in its table cell.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn e(text: &str) -> String {
    escape(text)
}

fn opt(text: Option<&str>) -> String {
    text.map_or_else(|| "—".to_owned(), escape)
}

fn row(m: &mut String, cells: &[String]) {
    let _ = writeln!(m, "| {} |", cells.join(" | "));
}

fn head(m: &mut String, titles: &[&str]) {
    let _ = writeln!(m, "| {} |", titles.join(" | "));
    let _ = writeln!(m, "|{}", "---|".repeat(titles.len()));
}

fn band(k: &Kpi) -> String {
    match &k.band {
        Some(b) if b.met => format!("✓ {}", e(&b.label)),
        Some(b) => format!("**✗ {}**", e(&b.label)),
        None => "not judged".to_owned(),
    }
}

pub fn render(r: &Report) -> String {
    let mut m = String::with_capacity(32 * 1024);
    let scope = r.service.as_deref().unwrap_or("all services");
    if r.sandbox {
        let _ = writeln!(m, "# SANDBOX — {}: {}\n", r.cadence.title(), e(scope));
        let _ = writeln!(m, "> **{}**\n", crate::out::BANNER);
    } else {
        let _ = writeln!(m, "# {}: {}\n", r.cadence.title(), e(scope));
    }
    let _ = writeln!(m, "- **Period:** {} to {} ({} days)", when(r.from), when(r.to), r.cadence.length() / super::DAY);
    if let Some(hint) = super::iso_week_hint(r) {
        let _ = writeln!(m, "  ({})", e(&hint));
    }
    let _ = writeln!(m, "- **Service:** {}", r.service.as_deref().map_or_else(|| "every service".to_owned(), escape));
    let _ = writeln!(m, "- **Environment:** {}", e(&r.environment));
    let _ = writeln!(
        m,
        "- **Profile:** {} {} — {} ({}), `{}`",
        e(&r.profile.id),
        e(&r.profile.version),
        e(&r.profile.title),
        e(&r.profile.document),
        r.profile.hash.get(..12).unwrap_or(&r.profile.hash).replace('`', "")
    );
    let _ = writeln!(m, "- **Generated:** {}\n", when(r.generated.timestamp()));
    match &r.review {
        Some(c) => {
            let _ = writeln!(
                m,
                "> **{}** (6.1) · {}  \n> **Reviews:** {}  \n> **Output:** {}\n",
                r.cadence.title(),
                e(&c.trigger),
                e(&c.reviews),
                e(&c.output)
            );
        }
        None => {
            let _ = writeln!(m, "> The profile sets no {} review cadence (6.1).\n", r.cadence.key());
        }
    }
    let judged = r.kpis.iter().filter(|k| k.band.is_some()).count();
    let missed: Vec<&Kpi> = r.kpis.iter().filter(|k| k.band.as_ref().is_some_and(|b| !b.met)).collect();
    let overdue = r.nonconformances.iter().filter(|n| n.overdue).count();
    let _ = writeln!(
        m,
        "**At a glance:** {} of {judged} KPIs outside target · {} emergency releases and deployments · {} rollbacks decided · {} open non-conformances ({overdue} overdue)\n",
        missed.len(),
        r.emergency_releases.len() + r.emergency_deployments.total,
        r.rollbacks.total,
        r.nonconformances.len()
    );

    m.push_str("## KPIs against targets (4.2)\n\n");
    head(&mut m, &["KPI", "Value", "Target", "Band"]);
    for k in &r.kpis {
        let mut value = match &k.value {
            Some(v) => e(&v.to_string()),
            None => format!("*no data: {}*", e(k.null_reason.as_deref().unwrap_or(""))),
        };
        for n in &k.notes {
            let _ = write!(value, "<br>{}", e(n));
        }
        row(&mut m, &[format!("**{}**", e(k.name)), value, e(&k.target), band(k)]);
    }
    m.push('\n');

    let _ = writeln!(
        m,
        "## Trends over the last {} periods\n\nEach row is one {} period; durations are medians; ✗ marks a missed target, — a period without data.\n",
        r.periods.len(),
        r.cadence.period_name()
    );
    let mut titles = vec!["Period"];
    titles.extend(r.trends.iter().map(|t| t.title));
    head(&mut m, &titles);
    for (p, &(from, to)) in r.periods.iter().enumerate() {
        let mut cells = vec![format!("{} – {}", day(from), day(to - 1))];
        for t in &r.trends {
            let v = t.values[p].map_or_else(|| "—".to_owned(), |v| e(&t.unit.format(v)));
            cells.push(if t.met[p] == Some(false) { format!("{v} ✗") } else { v });
        }
        row(&mut m, &cells);
    }
    m.push('\n');

    m.push_str("## Metrics breaching threshold\n\n");
    if missed.is_empty() {
        m.push_str("Every KPI with data is within its target.\n\n");
    }
    for k in &missed {
        let _ = writeln!(
            m,
            "### {} — {}\n\n**Value:** {} · **Target:** {} · {} counted against it\n",
            e(k.name),
            e(k.band.as_ref().map_or("", |b| b.label.as_str())),
            e(&k.value.as_ref().map(|v| v.to_string()).unwrap_or_default()),
            e(&k.target),
            super::items(k.breaches_total)
        );
        breach_table(&mut m, k);
    }
    for k in r.kpis.iter().filter(|k| k.band.is_none() && k.value.is_some() && !k.breaches.is_empty()) {
        let _ = writeln!(m, "### {} (no target)\n\n{}\n", e(k.name), e(k.definition));
        breach_table(&mut m, k);
    }

    m.push_str("## Emergency releases (4.6)\n\n");
    if r.emergency_releases.is_empty() && r.emergency_deployments.total == 0 {
        m.push_str("No emergency release or deployment in the period.\n\n");
    }
    if !r.emergency_releases.is_empty() {
        head(&mut m, &["Release", "Service", "Version", "Title", "Incident", "Created", "Deployed", "Phase"]);
        for x in &r.emergency_releases {
            row(
                &mut m,
                &[
                    e(&x.release),
                    e(&x.service),
                    e(&x.version),
                    e(&x.title),
                    opt(x.incident.as_deref()),
                    when(x.created),
                    x.deployed.map_or_else(|| "not yet".to_owned(), when),
                    e(&x.phase),
                ],
            );
        }
        m.push('\n');
    }
    if r.emergency_deployments.total > 0 {
        m.push_str("### Imported emergency deployments\n\n");
        head(&mut m, &["Finished", "Service", "Outcome", "Fixes incident", "Artefact"]);
        for x in &r.emergency_deployments.rows {
            row(
                &mut m,
                &[
                    when(x.finished),
                    e(&x.service),
                    if x.success { "succeeded" } else { "failed" }.to_owned(),
                    opt(x.fixes_incident.as_deref()),
                    opt(x.artefact.as_deref()),
                ],
            );
        }
        more(&mut m, &r.emergency_deployments);
        m.push('\n');
    }

    m.push_str("## Rollbacks (4.5)\n\n");
    if r.rollbacks.total == 0 {
        m.push_str("No rollback was decided in the period.\n\n");
    } else {
        head(&mut m, &["Decided", "Service", "Release", "Deployed", "Completed", "Took", "Artefact"]);
        for x in &r.rollbacks.rows {
            let took = match x.completed {
                Some(c) => kpi::human(c.saturating_sub(x.decided)),
                None => "still running".to_owned(),
            };
            row(
                &mut m,
                &[
                    when(x.decided),
                    e(&x.service),
                    opt(x.release.as_deref()),
                    when(x.deployed),
                    x.completed.map_or_else(|| "—".to_owned(), when),
                    if x.over_target { format!("**{took} (over target)**") } else { took },
                    opt(x.artefact.as_deref()),
                ],
            );
        }
        more(&mut m, &r.rollbacks);
        m.push('\n');
    }

    m.push_str("## Open non-conformances (6.2)\n\n");
    if r.nonconformances.is_empty() {
        let _ = writeln!(m, "No non-conformance was open at {}.\n", when(r.to));
    } else {
        head(&mut m, &["Id", "Condition", "Release", "Service", "Detail", "Raised", "Due", "Status"]);
        // Overdue first: they are what the review must act on.
        let mut ncs: Vec<_> = r.nonconformances.iter().collect();
        ncs.sort_by_key(|n| (!n.overdue, n.due, n.id));
        for n in ncs {
            row(
                &mut m,
                &[
                    format!("NC-{}", n.id),
                    e(&n.condition),
                    opt(n.release.as_deref()),
                    opt(n.service.as_deref()),
                    e(&n.detail),
                    day(n.raised),
                    when(n.due),
                    if n.overdue { "**overdue**" } else { "open" }.to_owned(),
                ],
            );
        }
        m.push('\n');
    }

    if let Some(risks) = &r.risks {
        m.push_str("## Risk register (5.1)\n\n");
        if risks.is_empty() {
            m.push_str("The register is empty.\n\n");
        } else {
            head(&mut m, &["Id", "Category", "Risk", "Mitigation", "Owner"]);
            for k in risks {
                row(&mut m, &[format!("RISK-{}", k.id), e(&k.category), e(&k.risk), e(&k.mitigation), e(&k.owner)]);
            }
            m.push('\n');
        }
    }
    if let Some(blackouts) = &r.blackouts {
        m.push_str("## Blackout calendar\n\n");
        if blackouts.is_empty() {
            m.push_str("No blackout period ends after the start of this period.\n\n");
        } else {
            head(&mut m, &["From", "To", "Service", "Reason"]);
            for b in blackouts {
                row(
                    &mut m,
                    &[
                        when(b.from.timestamp()),
                        when(b.to.timestamp()),
                        b.service.as_deref().map_or_else(|| "every service".to_owned(), escape),
                        e(&b.reason),
                    ],
                );
            }
            m.push('\n');
        }
    }
    let _ = writeln!(
        m,
        "---\n\nGenerated by tollgate {}. Each KPI's definition is in `docs/metrics.md`; percentiles are nearest-rank; a KPI without data is shown as such, never as 0.",
        env!("CARGO_PKG_VERSION")
    );
    m
}

fn breach_table(m: &mut String, k: &Kpi) {
    if k.breaches.is_empty() {
        m.push_str("The KPI names no single item (its value as a whole misses the target).\n\n");
        return;
    }
    head(m, &["When", "What", "Service", "Release", "Deployment"]);
    for b in &k.breaches {
        let deployment = match (&b.release, b.deployment) {
            (None, Some(id)) => format!("#{id}"),
            _ => "—".to_owned(),
        };
        row(m, &[when(b.at), e(&b.what), e(&b.service), opt(b.release.as_deref()), deployment]);
    }
    let more = k.breaches_total.saturating_sub(k.breaches.len() as u64);
    if more > 0 {
        let _ = writeln!(m, "\n… and {more} more (the first {} are listed).", k.breaches.len());
    }
    m.push('\n');
}

fn more<T>(m: &mut String, listed: &Listed<T>) {
    if listed.total > listed.rows.len() {
        let _ = writeln!(
            m,
            "\n… and {} more (the first {} are listed).",
            listed.total - listed.rows.len(),
            listed.rows.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn record_text_cannot_break_a_table_or_become_markup() {
        assert_eq!(escape("a|b\n<img src=x> *c* [l](u)"), r"a\|b \<img src=x\> \*c\* \[l\](u)");
    }
}
