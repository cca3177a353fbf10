//! # sluice-io: Sluice's storage engine
//!
//! Segmented, append-only partition logs on Linux, written with O_DIRECT
//! through glommio's `DmaFile` (io_uring). The engine knows Kafka only as far
//! as the v2 record batch header ([`batch`]); everything else about the
//! protocol lives in the broker.
//!
//! ## On-disk layout
//!
//! The layout Kafka operators know, one directory per partition:
//!
//! ```text
//! <log.dir>/<topic>-<partition>/
//!     00000000000000000000.log        v2 record batches, back to back
//!     00000000000000000000.index      (relative offset u32, position u32) BE
//!     00000000000000000000.timeindex  (timestamp i64, relative offset u32) BE
//!     00000000000000052817.log        the next segment, named by base offset
//!     ...
//!     log-start-offset                "<offset>\n", once the start has moved
//!     cleaner-offset-checkpoint       "<first dirty offset> <horizon ms>\n" (compacted)
//!     00000000000000000000-00000000000000052817.log.cleaned   a cleaning in progress
//!     00000000000000000000-00000000000000052817.log.swap      a committed one, finished on open
//! ```
//!
//! Indexes are sparse (an entry every `index.interval.bytes` of log) and drawn
//! in [`index`]. A sealed segment's indexes are written when it rolls; the
//! active segment's live in memory and are rebuilt on open.
//!
//! ## Write path
//!
//! An append is validated (length, magic, CRC-32C), copied once into the
//! partition's aligned write buffer, and given offsets by rewriting each
//! batch's base offset there. Device writes are whole blocks: the partly
//! filled last block stays in memory and is rewritten, whole, by the next
//! write ([`log`]'s `write_buffer.rs` draws it). Segment files are reserved ahead
//! (`fallocate`, size kept) so writes do not allocate blocks one at a time.
//! One write-out runs at a time per partition and takes every buffer sealed
//! before it, so appends that wait together share one device write and one
//! `fdatasync` (group commit).
//!
//! ## Durability contract
//!
//! [`PartitionLog::wait_durable`] returns when an append is as durable as the
//! [`FlushPolicy`] promises:
//!
//! | policy | reported durable when | process kill | power loss |
//! |---|---|---|---|
//! | `Interval { messages, ms }` (Kafka's default: both unlimited) | written to the device (O_DIRECT) | survives | survives only if an `fdatasync` covered it: after `messages` appends or `ms` milliseconds, at roll, at close |
//! | `EveryWrite` | written and `fdatasync`ed | survives | survives |
//!
//! Recovery ([`PartitionLog::open`]) verifies the last segment batch by batch,
//! cuts a torn tail (logging what it cut unless it was zero padding), and syncs
//! what it keeps. A damaged sealed segment is an error naming the file. The
//! log start offset is checkpointed before segments are deleted. After an I/O
//! error a partition refuses appends ([`IoError::Fenced`]) until reopened.
//!
//! ## Keeping device writes large
//!
//! A shard may own hundreds of partitions that each receive small batches.
//! Small O_DIRECT writes scattered over many files cost throughput and, on
//! SSDs, tail latency over hours. Each partition's write buffer therefore
//! grows towards what the partition really writes (up to
//! `write_buffer_bytes_max`, 1 MiB), and `write_linger` holds a write back
//! until `write_min_bytes` (64 KiB) are pending or the oldest waiting append
//! has lingered that long. Group commit does the rest for hot partitions.
//! The figures that chose the defaults are in `io/benches/append.rs`'s
//! header and the README.
//!
//! ## Reads
//!
//! Reads see what is on the device. Recent bytes come from the partition's
//! cache of written buffers, older ones from DMA reads; either way
//! [`LogRead::chunks`] share those buffers ([`storage::Chunk`]): no batch byte
//! is copied on the read path, and consecutive batches in one buffer are one
//! chunk, ready for a vectored socket write.
//!
//! ## Compaction
//!
//! [`log::compact`] keeps the latest record per key of a compacted log:
//! an offset map of the dirty part, then a rewrite of the sealed segments
//! below it into O_DIRECT files swapped in crash-safely (its module doc and
//! `swap.rs` draw the protocol). Offsets never change; reads step over gaps.
//!
//! ## Threading
//!
//! A [`PartitionLog`] lives on the shard that owns the partition and is used
//! from that shard's glommio executor only. [`storage::memory::MemStorage`]
//! runs the same code without an executor, with injected faults and
//! simulated crashes, for the crash tests.

pub mod batch;
pub mod batch_builder;
pub mod compression;
pub mod config;
pub mod error;
pub mod index;
pub mod legacy;
pub mod log;
pub mod notify;
pub mod records;
pub mod storage;
pub mod validate;
pub mod varint;

pub use config::{FlushPolicy, LogConfig};
pub use error::{IoError, Result};
pub use log::retention::Retention;
pub use log::{AppendInfo, AppendTime, LogRead, LogStats, PartitionLog};
