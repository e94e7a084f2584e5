//! The `tollgate-gen` binary: CDEvents JSON lines on stdout, a summary on stderr. See the
//! library's documentation for what is generated.

use std::io::{ErrorKind, Write};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use tollgate_gen::{Config, GenError, generate};

/// Generate a large, realistic release history as CDEvents 0.5 JSON lines (stdout), in
/// timestamp order. The same arguments always give the same output.
#[derive(Debug, Parser)]
#[command(name = "tollgate-gen", version)]
struct Cli {
    /// Start from the test preset: 5 services, 30 days, ~1,500 deployments, ~120 incidents.
    /// Other flags override it.
    #[arg(long)]
    small: bool,
    /// Number of services [default: 1000].
    #[arg(long, value_name = "N")]
    services: Option<u32>,
    /// Length of the history in years (fractions allowed) [default: 3].
    #[arg(long, value_name = "Y", conflicts_with = "days")]
    years: Option<f64>,
    /// Length of the history in days.
    #[arg(long, value_name = "D")]
    days: Option<f64>,
    /// Successful production deployments to aim for [default: 10000000].
    #[arg(long, value_name = "N")]
    deployments: Option<u64>,
    /// Incidents to aim for [default: 500000].
    #[arg(long, value_name = "N")]
    incidents: Option<u64>,
    /// Seed of every random choice [default: 1].
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// End of the history: RFC 3339 (2026-11-01T00:00:00Z) or a date (midnight UTC)
    /// [default: 2026-11-01T00:00:00Z].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    end: Option<i64>,
    /// Print no summary.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => Ok(d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()),
        Err(_) => Err(format!("expected RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01), not {s:?}")),
    }
}

impl Cli {
    fn config(&self) -> Config {
        let mut cfg = if self.small { Config::small() } else { Config::full() };
        if let Some(n) = self.services {
            cfg.services = n;
        }
        if let Some(y) = self.years {
            cfg.days = y * 365.25;
        }
        if let Some(d) = self.days {
            cfg.days = d;
        }
        if let Some(n) = self.deployments {
            cfg.deployments = n;
        }
        if let Some(n) = self.incidents {
            cfg.incidents = n;
        }
        if let Some(s) = self.seed {
            cfg.seed = s;
        }
        if let Some(e) = self.end {
            cfg.end = e;
        }
        cfg
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = cli.config();
    let started = Instant::now();
    let stdout = std::io::stdout().lock();
    match generate(&cfg, stdout) {
        Ok(summary) => {
            if !cli.quiet {
                let secs = started.elapsed().as_secs_f64();
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{summary}");
                let _ = writeln!(
                    err,
                    "time {secs:.1} s: {:.0} lines/s, {:.0} MB/s",
                    summary.lines as f64 / secs,
                    summary.bytes as f64 / secs / 1e6
                );
            }
            ExitCode::SUCCESS
        }
        // A reader that stops early (`| head`) is not an error.
        Err(GenError::Io(e)) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e @ GenError::Config(_)) => {
            eprintln!("tollgate-gen: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("tollgate-gen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_the_preset() {
        let cli = Cli::parse_from(["tollgate-gen", "--small", "--services", "9", "--end", "2025-01-01", "--seed", "3"]);
        let cfg = cli.config();
        assert_eq!((cfg.services, cfg.days, cfg.seed, cfg.end), (9, 30.0, 3, 1_735_689_600));
        let cli = Cli::parse_from(["tollgate-gen", "--years", "0.5", "--end", "2025-01-01T02:00:00+02:00"]);
        let cfg = cli.config();
        assert_eq!((cfg.services, cfg.days, cfg.end), (1_000, 182.625, 1_735_689_600));
        assert!(parse_time("yesterday").is_err());
    }
}
