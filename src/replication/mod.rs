//! Replication's per-partition state, held by each replica on the shard
//! that owns it: which leader epoch wrote which offsets ([`epochs`]), and a
//! leader's view of its followers, the high watermark and the ISR
//! ([`isr`]). The follower side's fetching lives with the broker's
//! per-shard work (`crate::broker::fetcher`), which copies the leader's
//! batches into the follower's replica.

pub mod epochs;
pub mod isr;
