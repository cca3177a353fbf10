//! `--apply` and `--revert`: write each finding's fixes, recording the
//! values they replace in the [`RevertState`], and write those back.

use std::path::Path;

use crate::error::TuneError;
use crate::finding::{Finding, Fix};
use crate::host::Host;
use crate::state::RevertState;

/// What an apply or revert did, write by write.
#[derive(Debug, Default)]
pub struct Outcome {
    pub written: Vec<Fix>,
    /// Writes the kernel refused (a managed NVMe interrupt, a value above a
    /// device's limit), with the error.
    pub failed: Vec<(Fix, String)>,
}

/// Writes the fixes of `findings`. The state file is saved before any write,
/// so a crash half-way still leaves every changed value revertible; writes
/// that fail are dropped from it again. Running it twice changes nothing
/// the second time: a fixed knob has no fixes left.
pub fn apply(host: &Host, findings: &[Finding], state_path: &Path) -> Result<Outcome, TuneError> {
    let mut state = RevertState::load(state_path)?;
    let fixes: Vec<&Fix> = findings.iter().flat_map(|finding| &finding.fixes).collect();
    let newly_recorded: Vec<bool> = fixes.iter().map(|fix| state.record(fix)).collect();
    if !fixes.is_empty() {
        state.save(state_path)?;
    }
    let mut outcome = Outcome::default();
    for (fix, new) in fixes.into_iter().zip(newly_recorded) {
        match host.write(&fix.path, &fix.value) {
            Ok(()) => outcome.written.push(fix.clone()),
            Err(error) => {
                if new {
                    state.changes.retain(|change| change.path != fix.path);
                }
                outcome.failed.push((fix.clone(), error.to_string()));
            }
        }
    }
    if !outcome.failed.is_empty() {
        state.save(state_path)?;
    }
    Ok(outcome)
}

/// Writes back every recorded previous value, newest first. Values that
/// could not be written stay in the state file for another try; an empty
/// state file is removed.
pub fn revert(host: &Host, state_path: &Path) -> Result<Outcome, TuneError> {
    let mut state = RevertState::load(state_path)?;
    let mut outcome = Outcome::default();
    let mut kept = Vec::new();
    for change in state.changes.drain(..).rev() {
        let restore = Fix {
            path: change.path.clone(),
            previous: change.value.clone(),
            value: change.previous.clone(),
        };
        match host.write(&restore.path, &restore.value) {
            Ok(()) => outcome.written.push(restore),
            Err(error) => {
                outcome.failed.push((restore, error.to_string()));
                kept.push(change);
            }
        }
    }
    kept.reverse();
    state.changes = kept;
    state.save(state_path)?;
    Ok(outcome)
}
