//! Opening a partition log: find the segments, check them, cut a torn tail.
//!
//! - Sealed segments (all but the last) were synced, cut to size and indexed
//!   before the next segment was created. Their index files are loaded and
//!   sanity-checked; missing or inconsistent ones are rebuilt by scanning the
//!   segment, and a batch that fails validation there is
//!   [`IoError::CorruptSegment`] naming the file: an operator's problem, not
//!   something to skip.
//! - The tail segment is verified batch by batch (length, CRC-32C, offsets
//!   increasing). Whatever follows the last valid batch is cut: zeros are the
//!   padding of a partly written block; anything else is a torn or corrupt
//!   write and is logged with its size and position.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::lock::Mutex;

use super::cache::WriteCache;
use super::segment::{self, Segment};
use super::write_buffer::WriteState;
use super::{LogState, LogStats, PartitionLog};
use crate::batch::{self, BATCH_LENGTH_PREFIX_BYTES};
use crate::config::LogConfig;
use crate::error::{IoError, Result};
use crate::index::{OffsetIndex, TimeIndex};
use crate::storage::{align_down, read_whole, write_whole, OpenMode, Storage, StorageFile};

/// What scanning a segment found.
struct Scan {
    valid_bytes: u64,
    /// Why the scan stopped before the end of the file, if it did.
    stopped: Option<(u64, String)>,
    file_bytes: u64,
}

impl<S: Storage> PartitionLog<S> {
    /// Opens (creating if needed) the partition directory `dir` and recovers
    /// it. See the module doc of `recovery` for what is checked.
    pub async fn open(storage: S, dir: impl Into<PathBuf>, config: LogConfig) -> Result<Self> {
        let dir = dir.into();
        config.validate().map_err(|detail| IoError::Limit {
            what: "invalid log config",
            detail,
        })?;
        storage.create_dir_all(&dir).await?;
        let mut names = storage.list_dir(&dir).await?;
        // A cleaning a crash interrupted is finished or undone first.
        if super::compact::swap::recover(&storage, &dir, &names).await? {
            names = storage.list_dir(&dir).await?;
        }
        let mut bases: Vec<u64> = names
            .iter()
            .filter_map(|n| segment::parse_segment_name(n))
            .collect();
        bases.sort_unstable();
        let checkpoint = read_log_start_checkpoint(&storage, &dir).await?;
        let cleaner_checkpoint = super::compact::swap::read_checkpoint(&storage, &dir)
            .await?
            .unwrap_or_default();

        // Segments wholly below the checkpointed start were being deleted
        // when the process stopped: finish the job.
        if let Some(start) = checkpoint {
            while bases.len() > 1 && bases[1] <= start {
                let base = bases.remove(0);
                remove_segment_files(&storage, &dir, base).await?;
            }
        }

        let mut segments = BTreeMap::new();
        for (i, &base) in bases.iter().enumerate() {
            let segment = match bases.get(i + 1) {
                Some(&next_base) => load_sealed(&storage, &dir, base, next_base, &config).await?,
                None => recover_tail(&storage, &dir, base, &config).await?.0,
            };
            segments.insert(base, segment);
        }
        let mut tail_from_disk = None;
        if let Some((&base, _)) = segments.iter().next_back() {
            // Re-read the partly filled tail block for the next write buffer.
            let segment: &Segment<S::File> = &segments[&base];
            tail_from_disk = read_tail_block(&*segment.file, segment.size_bytes).await?;
        } else {
            let base = checkpoint.unwrap_or(0);
            let path = segment::segment_path(&dir, base, segment::LOG_SUFFIX);
            let file = storage.open(&path, OpenMode::CreateIfMissing).await?;
            storage.sync_dir(&dir).await?;
            segments.insert(base, Segment::new(base, file, path));
        }
        // Directory entries of files a killed process created, likewise.
        storage.sync_dir(&dir).await?;
        let first_base = *segments.keys().next().expect("inserted above");
        let (active_size, active_end) = {
            let active = segments.values().next_back().expect("inserted above");
            (active.size_bytes, active.next_offset)
        };
        let log_start_offset = checkpoint
            .unwrap_or(first_base)
            .max(first_base)
            .min(active_end);
        if checkpoint.is_some_and(|c| c > log_start_offset) {
            // The start had moved past offsets a crash then lost; the log now
            // starts where it ends, and the checkpoint must say so before
            // those offsets are appended again.
            write_log_start_checkpoint(&storage, &dir, log_start_offset).await?;
        }
        Ok(PartitionLog {
            storage,
            dir,
            segment_bytes: std::cell::Cell::new(config.segment_bytes),
            segment_ms: std::cell::Cell::new(config.segment_ms),
            config,
            state: RefCell::new(LogState {
                segments,
                log_start_offset,
                write: WriteState::new(active_size, active_end),
                cache: WriteCache::default(),
                tail_from_disk,
                cleaner: super::compact::CleanerState {
                    checkpoint: cleaner_checkpoint,
                },
                messages_appended: 0,
                messages_synced: 0,
                last_sync_at: Instant::now(),
                failed: false,
                closed: false,
            }),
            append_lock: Mutex::new(()),
            write_lock: super::WriteGate::new(),
            segments_lock: Mutex::new(()),
            stats: Cell::new(LogStats::default()),
            leader_epoch_stamp: Cell::new(None),
        })
    }

    /// Makes the segment at `base` the tail again after truncation: rescans
    /// it and resets the write state. Caller holds both locks.
    pub(super) async fn reopen_tail(&self, base: u64) -> Result<()> {
        let (segment, _) = recover_tail(&self.storage, &self.dir, base, &self.config).await?;
        let tail = read_tail_block(&*segment.file, segment.size_bytes).await?;
        let mut state = self.state.borrow_mut();
        let (size, end) = (segment.size_bytes, segment.next_offset);
        state.segments.insert(base, segment);
        state.write.reset(size, end);
        state.tail_from_disk = tail;
        state.cache.truncate(base, size);
        Ok(())
    }
}

/// The bytes of the partly filled last block, if the size is not aligned.
async fn read_tail_block<F: StorageFile>(file: &F, size_bytes: u64) -> Result<Option<Vec<u8>>> {
    let block_start = align_down(size_bytes);
    let tail_len = (size_bytes - block_start) as usize;
    if tail_len == 0 {
        return Ok(None);
    }
    let chunk = file.read_at(block_start, tail_len).await?;
    if chunk.len() < tail_len {
        return Err(IoError::CorruptSegment {
            path: file.path().clone(),
            position: block_start,
            detail: "tail block shorter than recovered".into(),
        });
    }
    Ok(Some(chunk.as_slice()[..tail_len].to_vec()))
}

async fn read_log_start_checkpoint<S: Storage>(storage: &S, dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(segment::LOG_START_OFFSET_FILE);
    let file = match storage.open(&path, OpenMode::Existing).await {
        Ok(file) => file,
        Err(IoError::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    let bytes = read_whole(&file).await;
    // A killed process may have left it unsynced; it is acted on now.
    let synced = file.sync().await;
    file.close().await?;
    let bytes = bytes?;
    synced?;
    // The checkpoint is "<offset>\n"; a torn rewrite can leave zeros after
    // the newline, so read up to it and insist on it.
    let text = bytes
        .as_slice()
        .split(|&b| b == b'\n')
        .next()
        .filter(|line| line.len() < bytes.len())
        .and_then(|line| std::str::from_utf8(line).ok());
    match text.and_then(|t| t.parse::<u64>().ok()) {
        Some(offset) => Ok(Some(offset)),
        None => {
            tracing::warn!(path = %path.display(), "ignoring unreadable log start offset checkpoint");
            Ok(None)
        }
    }
}

pub(super) async fn write_log_start_checkpoint<S: Storage>(
    storage: &S,
    dir: &Path,
    offset: u64,
) -> Result<()> {
    let path = dir.join(segment::LOG_START_OFFSET_FILE);
    write_whole(storage, &path, format!("{offset}\n").as_bytes()).await
}

pub(super) async fn remove_segment_files<S: Storage>(
    storage: &S,
    dir: &Path,
    base: u64,
) -> Result<()> {
    for suffix in [
        segment::OFFSET_INDEX_SUFFIX,
        segment::TIME_INDEX_SUFFIX,
        segment::LOG_SUFFIX,
    ] {
        match storage
            .remove_file(&segment::segment_path(dir, base, suffix))
            .await
        {
            Ok(()) | Err(IoError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    storage.sync_dir(dir).await
}

async fn load_sealed<S: Storage>(
    storage: &S,
    dir: &Path,
    base: u64,
    next_base: u64,
    config: &LogConfig,
) -> Result<Segment<S::File>> {
    let path = segment::segment_path(dir, base, segment::LOG_SUFFIX);
    let file = storage.open(&path, OpenMode::Existing).await?;
    let size = file.size().await?;
    let indexes = load_indexes(storage, dir, base, size, next_base).await;
    let mut segment = Segment::new(base, file, path.clone());
    match indexes {
        Some((offset_index, time_index)) if !time_index.is_empty() || size == 0 => {
            segment.size_bytes = size;
            segment.next_offset = next_base;
            segment.max_timestamp_ms = time_index.last().map_or(-1, |e| e.timestamp_ms);
            segment.offset_index = offset_index;
            segment.time_index = time_index;
        }
        _ => {
            // Small segments have no index entries; others lost theirs.
            let scan = scan_segment(&mut segment, config).await?;
            if let Some((position, detail)) = scan.stopped {
                return Err(IoError::CorruptSegment {
                    path,
                    position,
                    detail,
                });
            }
            if segment.next_offset > next_base {
                return Err(IoError::CorruptSegment {
                    path,
                    position: scan.valid_bytes,
                    detail: format!(
                        "offsets run to {} past the next segment's base {next_base}",
                        segment.next_offset
                    ),
                });
            }
            segment.next_offset = next_base;
            segment
                .time_index
                .maybe_push(segment.max_timestamp_ms, segment.max_timestamp_offset);
            let offset_path = segment::segment_path(dir, base, segment::OFFSET_INDEX_SUFFIX);
            write_whole(storage, &offset_path, &segment.offset_index.encode()).await?;
            let time_path = segment::segment_path(dir, base, segment::TIME_INDEX_SUFFIX);
            write_whole(storage, &time_path, &segment.time_index.encode()).await?;
        }
    }
    Ok(segment)
}

/// Loads and checks both index files; `None` if either is missing or fails
/// the checks (the caller rebuilds them).
async fn load_indexes<S: Storage>(
    storage: &S,
    dir: &Path,
    base: u64,
    segment_bytes: u64,
    next_base: u64,
) -> Option<(OffsetIndex, TimeIndex)> {
    let offset_bytes = read_file(
        storage,
        &segment::segment_path(dir, base, segment::OFFSET_INDEX_SUFFIX),
    )
    .await?;
    let time_bytes = read_file(
        storage,
        &segment::segment_path(dir, base, segment::TIME_INDEX_SUFFIX),
    )
    .await?;
    let offset_index = OffsetIndex::decode(base, &offset_bytes, segment_bytes.max(1), next_base)
        .map_err(
            |e| tracing::warn!(dir = %dir.display(), base, error = %e, "rebuilding offset index"),
        )
        .ok()?;
    let time_index = TimeIndex::decode(base, &time_bytes, next_base)
        .map_err(
            |e| tracing::warn!(dir = %dir.display(), base, error = %e, "rebuilding time index"),
        )
        .ok()?;
    Some((offset_index, time_index))
}

async fn read_file<S: Storage>(storage: &S, path: &Path) -> Option<Vec<u8>> {
    let file = storage.open(path, OpenMode::Existing).await.ok()?;
    let bytes = read_whole(&file).await.ok();
    let _ = file.close().await;
    bytes.map(|c| c.as_slice().to_vec())
}

/// Verifies the tail segment and cuts what follows its last valid batch.
async fn recover_tail<S: Storage>(
    storage: &S,
    dir: &Path,
    base: u64,
    config: &LogConfig,
) -> Result<(Segment<S::File>, Scan)> {
    let path = segment::segment_path(dir, base, segment::LOG_SUFFIX);
    let file = storage.open(&path, OpenMode::Existing).await?;
    let mut segment = Segment::new(base, file, path.clone());
    let scan = scan_segment(&mut segment, config).await?;
    if scan.file_bytes > scan.valid_bytes {
        let rest = segment
            .file
            .read_at(
                align_down(scan.valid_bytes),
                (scan.file_bytes - align_down(scan.valid_bytes)) as usize,
            )
            .await?;
        let skip = (scan.valid_bytes - align_down(scan.valid_bytes)) as usize;
        let garbage = rest
            .as_slice()
            .get(skip..)
            .is_some_and(|b| b.iter().any(|&x| x != 0));
        if garbage {
            let reason = scan.stopped.as_ref().map_or("unknown", |(_, r)| r.as_str());
            tracing::warn!(
                path = %path.display(),
                position = scan.valid_bytes,
                cut_bytes = scan.file_bytes - scan.valid_bytes,
                reason,
                "truncating torn or corrupt tail of segment"
            );
        }
        segment.file.truncate(scan.valid_bytes).await?;
    }
    // What a killed process wrote may not be synced yet; from here on it is
    // reported durable, so make it so.
    segment.file.sync().await?;
    Ok((segment, scan))
}

/// Walks every batch of `segment`'s file, validating it and rebuilding the
/// segment's indexes, size and offsets. Stops at the first bad batch.
async fn scan_segment<F: StorageFile>(
    segment: &mut Segment<F>,
    config: &LogConfig,
) -> Result<Scan> {
    let file_bytes = segment.file.size().await?;
    segment.offset_index = OffsetIndex::new(segment.base_offset);
    segment.time_index = TimeIndex::new(segment.base_offset);
    segment.bytes_since_index_entry = 0;
    segment.next_offset = segment.base_offset;
    segment.max_timestamp_ms = -1;
    segment.max_timestamp_offset = segment.base_offset;
    let window_bytes = config.read_window_bytes.max(1 << 20) as u64;
    let mut position = 0u64;
    let mut window_start = 0u64;
    let mut window = crate::storage::Chunk::empty();
    let stopped = loop {
        if position + BATCH_LENGTH_PREFIX_BYTES as u64 > file_bytes {
            if position < file_bytes {
                break Some((position, "partial batch header at the end".to_string()));
            }
            break None;
        }
        // Make sure the window holds the length prefix, then the whole batch.
        let mut need = BATCH_LENGTH_PREFIX_BYTES as u64;
        let total = loop {
            if position < window_start || position + need > window_start + window.len() as u64 {
                window_start = align_down(position);
                let len = (need + (position - window_start)).max(window_bytes);
                let len = crate::storage::align_up(len.min(file_bytes - window_start)) as usize;
                window = segment.file.read_at(window_start, len).await?;
            }
            let here = window
                .as_slice()
                .get((position - window_start) as usize..)
                .unwrap_or(&[]);
            let Some(total) = batch::total_bytes_from_prefix(here) else {
                break None;
            };
            if need >= total as u64 || position + total as u64 > file_bytes {
                break Some(total);
            }
            need = total as u64;
        };
        let Some(total) = total else {
            break Some((position, "batch length field is not a batch".to_string()));
        };
        if position + total as u64 > file_bytes {
            break Some((
                position,
                format!("batch of {total} bytes runs past the end of the file"),
            ));
        }
        let here = window
            .as_slice()
            .get((position - window_start) as usize..)
            .unwrap_or(&[]);
        let header = match batch::validate(here.get(..total).unwrap_or(here)) {
            Ok(header) => header,
            Err(error) => break Some((position, error.to_string())),
        };
        let base = header.base_offset();
        if base < 0 || (base as u64) < segment.next_offset {
            break Some((
                position,
                format!("offset {base} does not follow {}", segment.next_offset),
            ));
        }
        let last_offset = header.last_offset() as u64;
        if last_offset - segment.base_offset > crate::config::limits::RELATIVE_OFFSET_MAX {
            break Some((
                position,
                format!("offset {last_offset} too far from segment base"),
            ));
        }
        segment.index_batch(
            position,
            total as u64,
            last_offset,
            header.max_timestamp(),
            config.index_interval_bytes,
        );
        position += total as u64;
    };
    segment.size_bytes = position;
    Ok(Scan {
        valid_bytes: position,
        stopped,
        file_bytes,
    })
}
