//! # sluice-tuning: the host knobs a thread-per-core io_uring broker cares about
//!
//! What an operator runs on a bare-metal Linux host before deploying Sluice:
//! each check reads one knob from `/proc` or `/sys` and reports its current
//! value, the recommended one, a [`Severity`] and why ([`Finding`]).
//! `--apply` writes the recommended values and records the old ones in a
//! [`RevertState`] file; `--revert` writes those back.
//!
//! Every check reads through a [`Host`] rooted at a directory (`/` for the
//! real machine), so tests run the same code over a fake `/proc` and `/sys`
//! tree. A knob a host lacks (no cpufreq in a VM, an older kernel) is an
//! INFO finding, never an error.
//!
//! The `sluice tune` subcommand ([`cli`]) and the `tuning/check`,
//! `tuning/apply`, `tuning/revert` scripts use this crate; `tuning/README.md`
//! explains each knob for operators.

pub mod apply;
pub mod checks;
pub mod cli;
pub mod error;
pub mod finding;
pub mod host;
pub mod parse;
pub mod report;
pub mod state;

pub use checks::check_all;
pub use error::TuneError;
pub use finding::{Finding, Fix, Severity};
pub use host::Host;
pub use report::Report;
pub use state::RevertState;
