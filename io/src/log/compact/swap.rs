//! Putting cleaned segments in place crash-safely, the cleaner's checkpoint,
//! and finishing at open what a crash interrupted.
//!
//! A cleaning replaces a group of consecutive sealed segments, bases
//! `[B, E)` (`E` the base of the next segment, which stays), by one file:
//!
//! ```text
//! 1. write  B-E.log.cleaned            O_DIRECT, cut to size, fdatasync
//! 2. rename B-E.log.cleaned -> B-E.log.swap, sync the directory   <- commit
//! 3. remove the indexes of every segment in [B, E) and the .log of every
//!    one but B, sync the directory
//! 4. rename B-E.log.swap -> B.log (replaces the old B.log), sync the directory
//! 5. write B.index and B.timeindex
//! ```
//!
//! (`B` and `E` as 20-digit numbers, like segment names.) Before step 2 the
//! old segments are the log and a `.cleaned` file is litter; from step 2 on
//! the `.swap` file is the log for `[B, E)`, and its name says which segments
//! it replaces, so opening the log finishes steps 3 and 4 from it alone
//! (a crash in the middle of step 3 leaves some old segments, which the
//! range still names). Step 5 can be lost: missing indexes of a sealed
//! segment are rebuilt on open, and step 3 removed the old ones, so an index
//! never describes the wrong file.

use std::path::{Path, PathBuf};

use crate::error::{IoError, Result};
use crate::log::segment::{self, SEGMENT_NAME_DIGITS};
use crate::storage::{read_whole, write_whole, OpenMode, Storage, StorageFile};

pub const CLEANED_SUFFIX: &str = ".log.cleaned";
pub const SWAP_SUFFIX: &str = ".log.swap";
/// `"<first dirty offset> <earliest delete horizon ms or -1>\n"`.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

fn range_path(dir: &Path, base: u64, end: u64, suffix: &str) -> PathBuf {
    dir.join(format!(
        "{base:0width$}-{end:0width$}{suffix}",
        width = SEGMENT_NAME_DIGITS
    ))
}

pub fn cleaned_path(dir: &Path, base: u64, end: u64) -> PathBuf {
    range_path(dir, base, end, CLEANED_SUFFIX)
}

pub fn swap_path(dir: &Path, base: u64, end: u64) -> PathBuf {
    range_path(dir, base, end, SWAP_SUFFIX)
}

/// `(B, E)` from a `B-E<suffix>` file name.
fn parse_range(name: &str, suffix: &str) -> Option<(u64, u64)> {
    let range = name.strip_suffix(suffix)?;
    let (base, end) = range.split_once('-')?;
    let number = |digits: &str| {
        (digits.len() == SEGMENT_NAME_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<u64>().ok())
            .flatten()
    };
    let (base, end) = (number(base)?, number(end)?);
    (base < end).then_some((base, end))
}

async fn remove_if_present<S: Storage>(storage: &S, path: &Path) -> Result<()> {
    match storage.remove_file(path).await {
        Ok(()) | Err(IoError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Step 3: `replaced` are the bases of the segments in `[base, end)`.
pub async fn remove_replaced<S: Storage>(
    storage: &S,
    dir: &Path,
    base: u64,
    end: u64,
    replaced: &[u64],
) -> Result<()> {
    for &old in replaced {
        debug_assert!((base..end).contains(&old));
        for suffix in [segment::OFFSET_INDEX_SUFFIX, segment::TIME_INDEX_SUFFIX] {
            remove_if_present(storage, &segment::segment_path(dir, old, suffix)).await?;
        }
        if old != base {
            remove_if_present(
                storage,
                &segment::segment_path(dir, old, segment::LOG_SUFFIX),
            )
            .await?;
        }
    }
    storage.sync_dir(dir).await
}

/// Step 4 without its directory sync (the caller syncs).
pub async fn rename_into_place<S: Storage>(
    storage: &S,
    dir: &Path,
    base: u64,
    end: u64,
) -> Result<()> {
    storage
        .rename(
            &swap_path(dir, base, end),
            &segment::segment_path(dir, base, segment::LOG_SUFFIX),
        )
        .await
}

/// Steps 3 and 4.
pub async fn complete_swap<S: Storage>(
    storage: &S,
    dir: &Path,
    base: u64,
    end: u64,
    replaced: &[u64],
) -> Result<()> {
    remove_replaced(storage, dir, base, end, replaced).await?;
    rename_into_place(storage, dir, base, end).await?;
    storage.sync_dir(dir).await
}

/// At open, before the segments are read: removes `.cleaned` litter and
/// finishes every committed swap. Returns true if it changed the directory.
pub async fn recover<S: Storage>(storage: &S, dir: &Path, names: &[String]) -> Result<bool> {
    let mut changed = false;
    for name in names {
        if name.ends_with(CLEANED_SUFFIX) {
            tracing::info!(dir = %dir.display(), file = %name, "removing an unfinished cleaned segment");
            remove_if_present(storage, &dir.join(name)).await?;
            changed = true;
        }
    }
    for name in names {
        let Some((base, end)) = parse_range(name, SWAP_SUFFIX) else {
            continue;
        };
        let replaced: Vec<u64> = names
            .iter()
            .filter_map(|n| segment::parse_segment_name(n))
            .filter(|b| (base..end).contains(b))
            .collect();
        tracing::info!(dir = %dir.display(), file = %name, replaced = replaced.len(), "finishing an interrupted swap of a cleaned segment");
        complete_swap(storage, dir, base, end, &replaced).await?;
        changed = true;
    }
    if changed {
        storage.sync_dir(dir).await?;
    }
    Ok(changed)
}

/// Where the cleaner stopped, and when the earliest kept tombstone may go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanerCheckpoint {
    /// Offsets below this were cleaned at least once.
    pub first_dirty: u64,
    /// The earliest delete horizon among the tombstones the cleaned part
    /// kept, if any.
    pub horizon_ms: Option<i64>,
}

pub async fn read_checkpoint<S: Storage>(
    storage: &S,
    dir: &Path,
) -> Result<Option<CleanerCheckpoint>> {
    let path = dir.join(CLEANER_CHECKPOINT_FILE);
    let file = match storage.open(&path, OpenMode::Existing).await {
        Ok(file) => file,
        Err(IoError::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    let bytes = read_whole(&file).await;
    file.close().await?;
    let bytes = bytes?;
    let parsed = bytes
        .as_slice()
        .split(|&b| b == b'\n')
        .next()
        .filter(|line| line.len() < bytes.len())
        .and_then(|line| std::str::from_utf8(line).ok())
        .and_then(|text| {
            let (offset, horizon) = text.split_once(' ')?;
            let horizon: i64 = horizon.parse().ok()?;
            Some(CleanerCheckpoint {
                first_dirty: offset.parse().ok()?,
                horizon_ms: (horizon >= 0).then_some(horizon),
            })
        });
    if parsed.is_none() {
        // Losing it costs a cleaning of everything again, nothing more.
        tracing::warn!(path = %path.display(), "ignoring an unreadable cleaner checkpoint");
    }
    Ok(parsed)
}

pub async fn write_checkpoint<S: Storage>(
    storage: &S,
    dir: &Path,
    checkpoint: CleanerCheckpoint,
) -> Result<()> {
    let text = format!(
        "{} {}\n",
        checkpoint.first_dirty,
        checkpoint.horizon_ms.unwrap_or(-1)
    );
    write_whole(storage, &dir.join(CLEANER_CHECKPOINT_FILE), text.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_names_round_trip() {
        let path = swap_path(Path::new("/d"), 12, 3400);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "00000000000000000012-00000000000000003400.log.swap");
        assert_eq!(parse_range(name, SWAP_SUFFIX), Some((12, 3400)));
        assert_eq!(parse_range(name, CLEANED_SUFFIX), None);
        assert_eq!(parse_range("00000000000000000012.log", SWAP_SUFFIX), None);
        assert_eq!(parse_range("12-3400.log.swap", SWAP_SUFFIX), None);
        assert_eq!(
            parse_range(
                "00000000000000000012-00000000000000000012.log.swap",
                SWAP_SUFFIX
            ),
            None
        );
        assert_eq!(segment::parse_segment_name(name), None);
    }
}
