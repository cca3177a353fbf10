//! A partition as one replica of a replicated log: its role (leader,
//! follower, or the single copy of the embedded node and of RF=1 topics),
//! its high watermark, its leader epochs, and the two ways data arrive: a
//! producer's append on the leader, a copy of the leader's batches on a
//! follower.
//!
//! | role | high watermark | reads by consumers | appends |
//! |---|---|---|---|
//! | solo | everything written | up to the log end | producers |
//! | leader | the smallest LEO of the ISR ([`LeaderState`]) | up to the high watermark | producers; batches stamped with the leader epoch |
//! | follower | the leader's, as its fetch answers say, at most the own LEO | none (NOT_LEADER_OR_FOLLOWER) | the leader's batches, offsets and bytes unchanged |
//!
//! Everything here runs on the shard that owns the partition.

use std::time::Duration;

use kafka_protocol::ResponseError;
use sluice_io::batch;
use sluice_io::IoError;

use super::validation::producer_batch;
use super::{Partition, ProduceOutcome};
use crate::replication::epochs::LeaderEpochs;
use crate::replication::isr::{LeaderState, Term};

/// What this replica is in its partition.
#[derive(Debug)]
pub enum Role {
    /// The only copy (embedded node): the high watermark is the log end.
    Solo,
    Leader(LeaderState),
    Follower {
        leader: i32,
        epoch: i32,
    },
}

impl Partition {
    /// The high watermark consumers read up to and `ListOffsets latest`
    /// answers.
    pub fn high_watermark(&self) -> u64 {
        match &*self.role.borrow() {
            Role::Solo => self.log.written_offset(),
            Role::Leader(leader) => leader.high_watermark(),
            Role::Follower { .. } => self.follower_hw.get().min(self.log.written_offset()),
        }
    }

    /// The leader epoch this replica leads in, if it leads.
    pub fn leader_epoch(&self) -> Option<i32> {
        match &*self.role.borrow() {
            Role::Leader(leader) => Some(leader.epoch),
            _ => None,
        }
    }

    /// The partition's latest leader epoch as this replica knows it.
    pub fn latest_epoch(&self) -> i32 {
        match &*self.role.borrow() {
            Role::Leader(leader) => leader.epoch,
            Role::Follower { epoch, .. } => *epoch,
            Role::Solo => self.epochs.borrow().latest_epoch(),
        }
    }

    /// The latest leader epoch of this replica's own log (its epoch
    /// checkpoint): what a follower asks the leader about after a change.
    pub fn own_latest_epoch(&self) -> i32 {
        self.epochs.borrow().latest_epoch()
    }

    /// Becomes (or stays) the leader of `term`. Taking over stamps the
    /// epoch on appends and records where it starts; staying just takes the
    /// view's ISR.
    pub fn lead(&self, broker_id: i32, term: &Term, now_ms: i64) -> Result<(), String> {
        let log_end = self.log.log_end_offset();
        {
            let mut role = self.role.borrow_mut();
            if let Role::Leader(leader) = &mut *role {
                if leader.epoch == term.epoch {
                    leader.update_from_view(term, now_ms);
                    let advanced = leader.advance_high_watermark(self.log.written_offset());
                    drop(role);
                    if advanced {
                        self.replicated.notify();
                        self.arrivals.notify();
                    }
                    return Ok(());
                }
            }
            let high_watermark = match &*role {
                Role::Follower { .. } => self.follower_hw.get(),
                Role::Leader(leader) => leader.high_watermark(),
                Role::Solo => self.log.written_offset(),
            };
            let mut state = LeaderState::new(broker_id, term, log_end, high_watermark, now_ms);
            state.advance_high_watermark(self.log.written_offset());
            *role = Role::Leader(state);
        }
        self.log.set_leader_epoch_stamp(Some(term.epoch));
        tracing::info!(topic = %self.topic, partition = self.index, epoch = term.epoch, log_end, "leading");
        self.epochs.borrow_mut().assign(term.epoch, log_end)?;
        self.replicated.notify();
        Ok(())
    }

    /// Becomes a follower of `leader` in `epoch`: producers waiting for
    /// replication are answered NOT_LEADER_OR_FOLLOWER, appends keep the
    /// leader's epochs.
    pub fn follow(&self, leader: i32, epoch: i32) {
        let mut role = self.role.borrow_mut();
        if matches!(&*role, Role::Follower { leader: l, epoch: e } if *l == leader && *e == epoch) {
            return;
        }
        if let Role::Leader(state) = &*role {
            self.follower_hw.set(state.high_watermark());
        }
        *role = Role::Follower { leader, epoch };
        drop(role);
        self.log.set_leader_epoch_stamp(None);
        self.replicated.notify();
        tracing::info!(topic = %self.topic, partition = self.index, leader, epoch, "following");
    }

    /// The replica is the only copy again (the embedded node).
    pub fn solo(&self) {
        *self.role.borrow_mut() = Role::Solo;
        self.log.set_leader_epoch_stamp(None);
    }

    /// The current ISR size (`min.insync.replicas` is checked against it),
    /// and the replicas `acks=all` waits for; None unless leading.
    pub fn isr_size(&self) -> Option<usize> {
        match &*self.role.borrow() {
            Role::Leader(leader) => Some(leader.isr_size()),
            Role::Solo => Some(1),
            Role::Follower { .. } => None,
        }
    }

    /// A follower fetched at `fetch_offset`: its LEO. Returns an ISR to
    /// propose if it has just caught up.
    pub fn follower_fetched(
        &self,
        replica: i32,
        fetch_offset: u64,
        now_ms: i64,
    ) -> Option<Vec<i32>> {
        let leo = self.log.written_offset();
        let (proposal, advanced) = match &mut *self.role.borrow_mut() {
            Role::Leader(leader) => {
                let before = leader.high_watermark();
                let proposal = leader.follower_fetched(replica, fetch_offset, leo, now_ms);
                (proposal, leader.high_watermark() > before)
            }
            _ => (None, false),
        };
        if advanced {
            self.replicated.notify();
            self.arrivals.notify();
        }
        if let Some(isr) = &proposal {
            self.propose_isr(isr.clone());
        }
        proposal
    }

    /// An ISR without followers that lag more than `lag_max_ms`, to
    /// propose; None when every member keeps up (or a proposal is pending).
    pub fn lagging_isr(&self, now_ms: i64, lag_max_ms: i64) -> Option<Vec<i32>> {
        let proposal = match &*self.role.borrow() {
            Role::Leader(leader) => leader.lagging(now_ms, lag_max_ms),
            _ => None,
        };
        if let Some(isr) = &proposal {
            self.propose_isr(isr.clone());
        }
        proposal
    }

    fn propose_isr(&self, isr: Vec<i32>) {
        if let Role::Leader(leader) = &mut *self.role.borrow_mut() {
            leader.pending_isr = Some(isr);
        }
    }

    /// The state version and epoch an ISR proposal is conditional on.
    pub fn leader_term(&self) -> Option<(i32, i32)> {
        match &*self.role.borrow() {
            Role::Leader(leader) => Some((leader.epoch, leader.state_version)),
            _ => None,
        }
    }

    /// A proposal that failed (a stale state version): forgotten, the next
    /// view decides again.
    pub fn forget_isr_proposal(&self) {
        if let Role::Leader(leader) = &mut *self.role.borrow_mut() {
            leader.pending_isr = None;
        }
    }

    /// The leader's LEO moved (a write reached the device): the high
    /// watermark may follow.
    pub(super) fn leader_leo_moved(&self) {
        let leo = self.log.written_offset();
        let advanced = match &mut *self.role.borrow_mut() {
            Role::Leader(leader) => leader.advance_high_watermark(leo),
            _ => false,
        };
        if advanced {
            self.replicated.notify();
        }
    }

    /// `acks=all`: waits until every ISR member has offsets below `end`, or
    /// `timeout`. Errors are Kafka's: NOT_LEADER_OR_FOLLOWER if this replica
    /// stopped leading, REQUEST_TIMED_OUT, and
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
    /// `min_insync` meanwhile.
    pub(super) async fn wait_replicated(
        &self,
        end: u64,
        min_insync: usize,
        timeout: Duration,
    ) -> Result<(), (ResponseError, String)> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let seen = self.replicated.version();
            match self.isr_size() {
                None => {
                    return Err((
                        ResponseError::NotLeaderOrFollower,
                        "this broker stopped leading the partition".into(),
                    ))
                }
                Some(size) if self.high_watermark() >= end => {
                    if size < min_insync {
                        return Err((
                            ResponseError::NotEnoughReplicasAfterAppend,
                            format!("the in-sync replicas ({size}) fell below min.insync.replicas ({min_insync}) after the append"),
                        ));
                    }
                    return Ok(());
                }
                Some(_) => {}
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err((
                    ResponseError::RequestTimedOut,
                    "the in-sync replicas did not all copy the batch in time".into(),
                ));
            }
            futures::future::select(
                Box::pin(self.replicated.changed_since(seen)),
                Box::pin(glommio::timer::sleep(deadline - now)),
            )
            .await;
        }
    }

    /// Appends batches copied from the leader, whose high watermark was
    /// `leader_high_watermark`, and waits until they are on the device (the
    /// next fetch reports them as this replica's LEO). Producer state and
    /// leader epochs follow the copied batches.
    pub async fn append_replicated(
        &self,
        records: &[u8],
        leader_high_watermark: u64,
        leader_log_start_offset: u64,
        now_ms: i64,
    ) -> Result<(), IoError> {
        if !records.is_empty() {
            // An empty log restarted at the leader's log start, which falls
            // inside a batch (DeleteRecords cut it): the leader sends that
            // whole batch, so the log restarts at its base (Kafka's
            // follower does the same on UnexpectedAppendOffsetException).
            let first = batch::iter(records)
                .next()
                .and_then(|item| item.ok())
                .and_then(|(_, bytes)| batch::header(bytes).ok())
                .map(|header| (header.base_offset(), header.last_offset()));
            let log_end = self.log.log_end_offset();
            if let Some((base, last)) = first {
                let empty = log_end == self.log.log_start_offset();
                if empty && base >= 0 && (base as u64) < log_end && last as u64 >= log_end {
                    self.restart_at(base as u64).await?;
                }
            }
            let info = self.log.append_replicated(records, now_ms).await?;
            for item in batch::iter(records) {
                let Ok((_, bytes)) = item else { break };
                let header = batch::header(bytes).expect("validated by iter");
                let producer = producer_batch(header);
                let base = header.base_offset() as u64;
                if producer.producer_id >= 0 {
                    self.producers.borrow_mut().record(&producer, base);
                }
                let epoch = header.partition_leader_epoch.get();
                if let Err(error) = self.epochs.borrow_mut().assign(epoch, base) {
                    tracing::warn!(topic = %self.topic, partition = self.index, %error, "leader epoch checkpoint");
                }
            }
            self.log.wait_durable(info.last_offset + 1).await?;
        }
        let log_end = self.log.log_end_offset();
        self.follower_hw.set(
            self.follower_hw
                .get()
                .max(leader_high_watermark)
                .min(log_end),
        );
        // The leader's log start moves this replica's (DeleteRecords,
        // retention), as Kafka's followers follow it, never past the high
        // watermark (Kafka's `maybeIncrementLogStartOffset`).
        let start = leader_log_start_offset.min(self.follower_hw.get());
        if start > self.log.log_start_offset() {
            self.log.advance_log_start_offset(start).await?;
        }
        Ok(())
    }

    /// Restarts a follower's log, empty, at `offset` (the leader's log
    /// start, above this replica's log end: what lies between is gone on
    /// the leader), with no epochs; the next fetch copies from there.
    pub async fn restart_at(&self, offset: u64) -> Result<(), IoError> {
        tracing::info!(topic = %self.topic, partition = self.index, from = self.log.log_end_offset(), to = offset, "restarting below the leader's log start");
        self.log.restart_at(offset).await?;
        if let Err(error) = self.epochs.borrow_mut().truncate_from(0) {
            tracing::warn!(topic = %self.topic, partition = self.index, %error, "leader epoch checkpoint");
        }
        self.follower_hw.set(offset);
        Ok(())
    }

    /// Truncates a follower's log to `offset` (where the leader says its
    /// latest epoch ends), and its epochs with it.
    pub async fn truncate_to(&self, offset: u64) -> Result<(), IoError> {
        if offset >= self.log.log_end_offset() {
            return Ok(());
        }
        tracing::info!(topic = %self.topic, partition = self.index, from = self.log.log_end_offset(), to = offset, "truncating to the leader's log");
        self.log.truncate_to(offset).await?;
        if let Err(error) = self.epochs.borrow_mut().truncate_from(offset) {
            tracing::warn!(topic = %self.topic, partition = self.index, %error, "leader epoch checkpoint");
        }
        self.follower_hw.set(self.follower_hw.get().min(offset));
        Ok(())
    }

    /// The leader epoch clients are checked against: a leader's own; the
    /// embedded node's latest (0 until a cluster ever led it, as its
    /// Metadata says); None on a follower.
    pub fn serving_epoch(&self) -> Option<i32> {
        match &*self.role.borrow() {
            Role::Leader(leader) => Some(leader.epoch),
            Role::Solo => Some(self.epochs.borrow().latest_epoch().max(0)),
            Role::Follower { .. } => None,
        }
    }

    /// Kafka's OffsetsForLeaderEpoch for this replica. The embedded node
    /// that never recorded an epoch has had epoch 0 all along: it ends at
    /// the log end.
    pub fn end_offset_for(&self, epoch: i32) -> (i32, i64) {
        let epochs = self.epochs.borrow();
        let solo = matches!(&*self.role.borrow(), Role::Solo);
        if solo && epochs.latest_epoch() < 0 {
            // Epoch 0 ends at the log end; a later one was never seen.
            return match epoch {
                0 => (0, self.log.log_end_offset() as i64),
                _ => (-1, -1),
            };
        }
        epochs.end_offset_for(epoch, self.log.log_end_offset())
    }

    /// Why a produce is refused before appending: not leading, or fewer
    /// in-sync replicas than `min_insync` for `acks=all`.
    pub(super) fn check_can_append(
        &self,
        acks: i16,
        min_insync: usize,
    ) -> Result<(), ProduceOutcome> {
        match self.isr_size() {
            None => Err(ProduceOutcome::failed(
                ResponseError::NotLeaderOrFollower,
                "this broker does not lead the partition",
            )),
            Some(size) if acks == -1 && size < min_insync => Err(ProduceOutcome::failed(
                ResponseError::NotEnoughReplicas,
                format!("the in-sync replicas ({size}) are fewer than min.insync.replicas ({min_insync})"),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Loads the epochs of `dir` for a partition being opened.
    pub(super) fn load_epochs(dir: &std::path::Path) -> Result<LeaderEpochs, IoError> {
        LeaderEpochs::load(dir).map_err(|detail| IoError::CorruptSegment {
            path: dir.to_path_buf(),
            position: 0,
            detail,
        })
    }

    /// Records an acknowledged leader append's LEO move and wakes readers.
    pub(super) fn appended(&self) {
        self.leader_leo_moved();
        self.arrivals.notify();
    }
}
