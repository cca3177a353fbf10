//! [`LeaderEpochs`]: which leader epoch wrote which offsets of a replica's
//! log (KIP-101), kept in the partition directory as Kafka's
//! `leader-epoch-checkpoint`:
//!
//! ```text
//! 0                 version
//! 2                 number of entries
//! 0 0               epoch 0 starts at offset 0
//! 3 1200            epoch 3 starts at offset 1200
//! ```
//!
//! A leader adds its epoch at its log end when it takes over; a follower
//! adds the epoch of each batch it copies that starts a new one. After a
//! leader change a follower asks the new leader where its own latest epoch
//! ends (OffsetsForLeaderEpoch) and truncates there, so it never keeps
//! records the new leader does not have (the divergence of KIP-101/279).
//!
//! Lifecycle: one per partition replica, on the shard that owns it; the
//! file is rewritten whole (temporary name, sync, rename) on every change,
//! which happens once per leader change, not per append.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Kafka's file name and version.
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const CHECKPOINT_VERSION: u32 = 0;
/// Entries kept: one per leader change a replica saw; a sanity bound on
/// what a corrupt file can make the broker hold.
const ENTRIES_MAX: usize = 100_000;

/// Kafka's "no epoch" (UNDEFINED_EPOCH) and "no offset".
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

#[derive(Debug)]
pub struct LeaderEpochs {
    path: PathBuf,
    /// (epoch, start offset), both increasing.
    entries: Vec<(i32, u64)>,
}

impl LeaderEpochs {
    /// Reads the partition's checkpoint (none yet: empty). A file that does
    /// not parse is an error naming it.
    pub fn load(partition_dir: &Path) -> Result<LeaderEpochs, String> {
        let path = partition_dir.join(CHECKPOINT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let entries = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(LeaderEpochs { path, entries })
    }

    /// The latest epoch and its start offset.
    pub fn latest(&self) -> Option<(i32, u64)> {
        self.entries.last().copied()
    }

    pub fn latest_epoch(&self) -> i32 {
        self.latest().map_or(UNDEFINED_EPOCH, |(epoch, _)| epoch)
    }

    /// Records that `epoch` starts at `start_offset` (a leader taking over
    /// at its log end, or a copied batch of a newer epoch). Older or equal
    /// epochs change nothing.
    pub fn assign(&mut self, epoch: i32, start_offset: u64) -> Result<(), String> {
        if epoch < 0 || self.latest_epoch() >= epoch {
            return Ok(());
        }
        // An epoch whose start is past the new one's never wrote anything
        // this replica kept.
        self.entries.retain(|(_, start)| *start < start_offset);
        self.entries.push((epoch, start_offset));
        self.save()
    }

    /// Forgets what lies at or after `offset` (the log was truncated there).
    pub fn truncate_from(&mut self, offset: u64) -> Result<(), String> {
        let before = self.entries.len();
        self.entries.retain(|(_, start)| *start < offset);
        if self.entries.len() != before {
            self.save()?;
        }
        Ok(())
    }

    /// Kafka's `endOffsetFor`: for the latest epoch, `log_end`; for an older
    /// one, the start of the first later epoch; for an epoch this replica
    /// never saw, the largest one below it and where that ends. Returns
    /// `(epoch, end offset)`, UNDEFINED for both when `requested` is older
    /// than everything known.
    pub fn end_offset_for(&self, requested: i32, log_end: u64) -> (i32, i64) {
        match self
            .entries
            .iter()
            .rposition(|(epoch, _)| *epoch <= requested)
        {
            None => (UNDEFINED_EPOCH, UNDEFINED_OFFSET),
            Some(index) => {
                let epoch = self.entries[index].0;
                let end = self
                    .entries
                    .get(index + 1)
                    .map_or(log_end, |(_, start)| *start);
                (epoch, end as i64)
            }
        }
    }

    fn save(&self) -> Result<(), String> {
        let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", self.entries.len());
        for (epoch, start) in &self.entries {
            text.push_str(&format!("{epoch} {start}\n"));
        }
        let temp = self.path.with_extension("tmp");
        let written = (|| -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        written.map_err(|e| format!("writing {}: {e}", self.path.display()))
    }
}

fn parse(text: &str) -> Result<Vec<(i32, u64)>, String> {
    let mut lines = text.lines();
    let Some(version) = lines.next() else {
        return Ok(Vec::new());
    };
    if version.trim() != CHECKPOINT_VERSION.to_string() {
        return Err(format!("unknown checkpoint version {version:?}"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("no entry count")?;
    if count > ENTRIES_MAX {
        return Err(format!("{count} entries is more than {ENTRIES_MAX}"));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let line = lines.next().ok_or("fewer entries than the count")?;
        let mut fields = line.split_whitespace();
        let epoch: i32 = fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("bad entry {line:?}"))?;
        let start: u64 = fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("bad entry {line:?}"))?;
        if entries
            .last()
            .is_some_and(|&(e, s)| e >= epoch || s > start)
        {
            return Err(format!("entries out of order at {line:?}"));
        }
        entries.push((epoch, start));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_answer_where_they_end_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut epochs = LeaderEpochs::load(dir.path()).unwrap();
        assert_eq!(
            epochs.end_offset_for(0, 10),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
        epochs.assign(0, 0).unwrap();
        epochs.assign(2, 100).unwrap();
        epochs.assign(1, 50).unwrap(); // older: ignored
        epochs.assign(5, 300).unwrap();
        assert_eq!(epochs.end_offset_for(0, 400), (0, 100));
        assert_eq!(epochs.end_offset_for(1, 400), (0, 100), "never saw 1");
        assert_eq!(epochs.end_offset_for(4, 400), (2, 300));
        assert_eq!(epochs.end_offset_for(5, 400), (5, 400));
        assert_eq!(epochs.end_offset_for(9, 400), (5, 400));
        let text = std::fs::read_to_string(dir.path().join(CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n3\n0 0\n2 100\n5 300\n");
        let mut again = LeaderEpochs::load(dir.path()).unwrap();
        assert_eq!(again.latest(), Some((5, 300)));
        again.truncate_from(150).unwrap();
        assert_eq!(again.latest(), Some((2, 100)));
        // A new epoch at an offset below older starts replaces them.
        again.assign(6, 80).unwrap();
        assert_eq!(again.entries, vec![(0, 0), (6, 80)]);
    }

    #[test]
    fn a_corrupt_checkpoint_is_an_error() {
        for text in [
            "1\n0\n",
            "0\nx\n",
            "0\n2\n0 0\n",
            "0\n2\n3 10\n2 20\n",
            "0\n999999999\n",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
