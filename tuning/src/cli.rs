//! `sluice tune`: the command-line front of the checks, shared by the
//! `sluice` binary and the `tuning/check|apply|revert` scripts.
//!
//! Exit codes: 0 nothing FATAL (after `--apply`: and every write succeeded),
//! 2 something FATAL, 1 an error (a write the kernel refused, not root, an
//! unreadable state file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ArgGroup;

use crate::apply::{self, Outcome};
use crate::checks::check_all;
use crate::error::TuneError;
use crate::finding::Severity;
use crate::host::Host;
use crate::report::Report;
use crate::state::DEFAULT_STATE_PATH;

/// Exit code when a knob is FATAL: the broker will not run on this host as is.
pub const EXIT_FATAL: u8 = 2;
/// Exit code for an error of the tool itself.
pub const EXIT_ERROR: u8 = 1;

#[derive(clap::Args, Debug)]
#[command(group(ArgGroup::new("mode").required(true).args(["check", "apply", "revert"])))]
pub struct TuneArgs {
    /// Read every knob and print current, recommended, severity and why
    /// (read-only). Exit code 0, or 2 when something is FATAL.
    #[arg(long)]
    pub check: bool,
    /// Write the recommended values (root), recording the old ones in the
    /// state file; running it again changes nothing.
    #[arg(long)]
    pub apply: bool,
    /// Restore the values the last --apply runs replaced (root).
    #[arg(long)]
    pub revert: bool,
    /// The broker's log directory: its disk's scheduler and queue are checked.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Print the findings as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Where --apply records previous values and --revert reads them.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_STATE_PATH)]
    pub state: PathBuf,
    /// Read /proc and /sys under this directory instead of / (for tests and
    /// for inspecting a captured tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

pub fn run(args: TuneArgs) -> ExitCode {
    let host = Host::new(&args.root);
    let result = if args.apply {
        run_apply(&host, &args)
    } else if args.revert {
        run_revert(&host, &args)
    } else {
        Ok(print_check(&host, &args))
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn print_check(host: &Host, args: &TuneArgs) -> ExitCode {
    let report = Report::new(check_all(host, args.log_dir.as_deref()));
    if args.json {
        out(&(report.to_json() + "\n"));
    } else {
        out(&report.to_table());
    }
    if report.worst == Severity::Fatal {
        ExitCode::from(EXIT_FATAL)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_apply(host: &Host, args: &TuneArgs) -> Result<ExitCode, TuneError> {
    require_root(host, "--apply")?;
    let findings = check_all(host, args.log_dir.as_deref());
    let outcome = apply::apply(host, &findings, &args.state)?;
    // With --json, stdout carries only the report.
    let log = if args.json { note } else { out };
    print_outcome("set", &outcome, &args.state, log);
    log("\n");
    let after = print_check(host, args);
    Ok(if outcome.failed.is_empty() {
        after
    } else {
        ExitCode::from(EXIT_ERROR)
    })
}

fn run_revert(host: &Host, args: &TuneArgs) -> Result<ExitCode, TuneError> {
    require_root(host, "--revert")?;
    let outcome = apply::revert(host, &args.state)?;
    if outcome.written.is_empty() && outcome.failed.is_empty() {
        out(&format!(
            "nothing to revert ({} has no changes)\n",
            args.state.display()
        ));
    }
    print_outcome("restored", &outcome, &args.state, out);
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERROR)
    })
}

fn print_outcome(verb: &str, outcome: &Outcome, state: &Path, out: fn(&str)) {
    for fix in &outcome.written {
        out(&format!(
            "{verb} {} = {} (was {})\n",
            fix.path, fix.value, fix.previous
        ));
    }
    for (fix, error) in &outcome.failed {
        out(&format!("FAILED {} = {}: {error}\n", fix.path, fix.value));
    }
    if !outcome.written.is_empty() {
        out(&format!("previous values: {}\n", state.display()));
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly
/// instead of panicking the way `print!` does.
fn out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Writes to stderr, for what would mix into `--json` output.
fn note(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Writing the real /proc and /sys needs root; a fake root (tests) does not.
#[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
fn require_root(host: &Host, what: &str) -> Result<(), TuneError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if host.root() == Path::new("/") && euid != 0 {
        return Err(TuneError::NotRoot(format!(
            "{what} writes /proc and /sys: run it as root (sudo)"
        )));
    }
    Ok(())
}
