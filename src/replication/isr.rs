//! [`LeaderState`]: what a partition's leader knows of its followers, and
//! the rules that come from it: the high watermark and the in-sync replica
//! set, as Kafka's `Partition` keeps them.
//!
//! - A follower's log end offset (LEO) is the fetch offset of its latest
//!   Fetch: it asks for what it does not have yet.
//! - Caught up: a follower's fetch reaches the leader's LEO, or the LEO the
//!   leader had at that follower's previous fetch (so a follower that keeps
//!   pace with a busy leader counts, as in Kafka: `lastCaughtUpTimeMs`).
//! - High watermark = the smallest LEO in the ISR (the leader's included),
//!   never moving back. Only records below it are read by consumers and
//!   acknowledged to `acks=all` producers.
//! - The ISR shrinks by a follower not caught up for
//!   `replica.lag.time.max.ms`, and grows by a follower whose LEO has
//!   reached the high watermark and the start of the leader's epoch. A
//!   change is proposed to ZooKeeper (the partition's state znode, as
//!   Kafka's leaders wrote it before AlterPartition); until the new state
//!   comes back in the cluster view, the high watermark counts the union of
//!   the old and new sets, so it never gets ahead of a member either way.
//!
//! Pure and synchronous: the partition calls it with the clock and its LEO.

use std::collections::BTreeMap;

/// One follower, as its fetches show it.
#[derive(Clone, Copy, Debug, Default)]
struct Follower {
    /// Its LEO, once it has fetched in this leader's term.
    leo: Option<u64>,
    /// When it last caught up (see the module doc); 0 = never.
    caught_up_ms: i64,
    /// When it fetched last, and the leader's LEO then.
    last_fetch_ms: i64,
    leader_leo_at_last_fetch: u64,
}

/// A leader's term as the cluster view states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The state znode's version.
    pub state_version: i32,
}

#[derive(Clone, Debug)]
pub struct LeaderState {
    pub broker_id: i32,
    pub epoch: i32,
    /// Where this leader's epoch starts in the log.
    pub epoch_start_offset: u64,
    /// The ISR as the cluster view has it (this leader included).
    pub isr: Vec<i32>,
    /// The state znode's version that ISR came from.
    pub state_version: i32,
    /// An ISR this leader proposed and has not seen in the view yet.
    pub pending_isr: Option<Vec<i32>>,
    followers: BTreeMap<i32, Follower>,
    high_watermark: u64,
}

impl LeaderState {
    /// A leader taking over at `log_end` with the view's ISR; `now_ms`
    /// starts every follower's lag clock (Kafka gives each follower the
    /// full lag time to fetch from a new leader).
    pub fn new(
        broker_id: i32,
        term: &Term,
        log_end: u64,
        high_watermark: u64,
        now_ms: i64,
    ) -> LeaderState {
        let followers = term
            .replicas
            .iter()
            .filter(|r| **r != broker_id)
            .map(|r| {
                (
                    *r,
                    Follower {
                        caught_up_ms: now_ms,
                        ..Follower::default()
                    },
                )
            })
            .collect();
        LeaderState {
            broker_id,
            epoch: term.epoch,
            epoch_start_offset: log_end,
            isr: term.isr.clone(),
            state_version: term.state_version,
            pending_isr: None,
            followers,
            high_watermark: high_watermark.min(log_end),
        }
    }

    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// The replicas counted for the high watermark and `acks=all`.
    pub fn effective_isr(&self) -> Vec<i32> {
        let mut isr = self.isr.clone();
        if let Some(pending) = &self.pending_isr {
            for replica in pending {
                if !isr.contains(replica) {
                    isr.push(*replica);
                }
            }
        }
        isr
    }

    /// The ISR size `min.insync.replicas` is checked against: the smaller
    /// of the committed and the proposed set.
    pub fn isr_size(&self) -> usize {
        match &self.pending_isr {
            Some(pending) => pending.len().min(self.isr.len()),
            None => self.isr.len(),
        }
    }

    /// A new cluster view's state for this leader's own term: the ISR it
    /// names is now the committed one.
    pub fn update_from_view(&mut self, term: &Term, now_ms: i64) {
        if self.pending_isr.as_ref() == Some(&term.isr) || term.state_version != self.state_version
        {
            self.pending_isr = None;
        }
        self.isr = term.isr.clone();
        self.state_version = term.state_version;
        let replicas = &term.replicas;
        for replica in replicas.iter().filter(|r| **r != self.broker_id) {
            self.followers.entry(*replica).or_insert(Follower {
                caught_up_ms: now_ms,
                ..Follower::default()
            });
        }
        self.followers.retain(|r, _| replicas.contains(r));
    }

    /// A Fetch from follower `replica` at `fetch_offset`. Returns an ISR to
    /// propose when the follower has just become in sync.
    pub fn follower_fetched(
        &mut self,
        replica: i32,
        fetch_offset: u64,
        leader_leo: u64,
        now_ms: i64,
    ) -> Option<Vec<i32>> {
        let follower = self.followers.get_mut(&replica)?;
        if fetch_offset >= leader_leo {
            follower.caught_up_ms = now_ms;
        } else if fetch_offset >= follower.leader_leo_at_last_fetch && follower.last_fetch_ms > 0 {
            follower.caught_up_ms = follower.caught_up_ms.max(follower.last_fetch_ms);
        }
        follower.leo = Some(fetch_offset);
        follower.last_fetch_ms = now_ms;
        follower.leader_leo_at_last_fetch = leader_leo;
        self.advance_high_watermark(leader_leo);
        let joins = !self.effective_isr().contains(&replica)
            && fetch_offset >= self.high_watermark
            && fetch_offset >= self.epoch_start_offset;
        joins.then(|| {
            let mut isr = self.isr.clone();
            isr.push(replica);
            isr
        })
    }

    /// The ISR without the followers that have not caught up for
    /// `lag_max_ms`, if any of them is in it.
    pub fn lagging(&self, now_ms: i64, lag_max_ms: i64) -> Option<Vec<i32>> {
        let isr = self.effective_isr();
        let kept: Vec<i32> = isr
            .iter()
            .copied()
            .filter(|r| {
                *r == self.broker_id
                    || self
                        .followers
                        .get(r)
                        .is_some_and(|f| now_ms - f.caught_up_ms <= lag_max_ms)
            })
            .collect();
        (kept.len() < isr.len() && self.pending_isr.is_none()).then(|| {
            self.isr
                .iter()
                .copied()
                .filter(|r| kept.contains(r))
                .collect()
        })
    }

    /// Recomputes the high watermark (the leader's LEO moved, or the ISR
    /// changed); true if it advanced.
    pub fn advance_high_watermark(&mut self, leader_leo: u64) -> bool {
        let mut low = leader_leo;
        for replica in self.effective_isr() {
            if replica == self.broker_id {
                continue;
            }
            let leo = self
                .followers
                .get(&replica)
                .and_then(|f| f.leo)
                .unwrap_or(self.high_watermark);
            low = low.min(leo);
        }
        if low > self.high_watermark {
            self.high_watermark = low;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(isr: &[i32], state_version: i32) -> Term {
        Term {
            epoch: 5,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            state_version,
        }
    }

    fn leader() -> LeaderState {
        LeaderState::new(1, &term(&[1, 2, 3], 0), 100, 100, 1_000)
    }

    #[test]
    fn the_high_watermark_is_the_smallest_isr_leo() {
        let mut state = leader();
        assert_eq!(state.high_watermark(), 100);
        assert!(
            !state.advance_high_watermark(150),
            "followers have not fetched"
        );
        assert_eq!(state.follower_fetched(2, 150, 150, 1_010), None);
        assert_eq!(state.high_watermark(), 100, "3 is unknown");
        state.follower_fetched(3, 120, 150, 1_020);
        assert_eq!(state.high_watermark(), 120);
        state.follower_fetched(3, 150, 150, 1_030);
        assert_eq!(state.high_watermark(), 150);
    }

    #[test]
    fn a_lagging_follower_leaves_and_a_caught_up_one_returns() {
        let mut state = leader();
        state.follower_fetched(2, 100, 100, 1_000);
        state.follower_fetched(3, 100, 100, 1_000);
        // Follower 3 keeps pace with a busy leader: each fetch reaches the
        // leader's LEO at its previous fetch.
        state.follower_fetched(3, 200, 300, 20_000);
        state.follower_fetched(3, 300, 400, 30_000);
        // Follower 2 stops fetching.
        assert_eq!(state.lagging(31_000, 30_000), None);
        assert_eq!(state.lagging(31_001, 30_000), Some(vec![1, 3]));
        state.pending_isr = Some(vec![1, 3]);
        assert_eq!(state.isr_size(), 2);
        state.update_from_view(&term(&[1, 3], 1), 31_002);
        assert_eq!(state.pending_isr, None);
        assert!(state.advance_high_watermark(400));
        assert_eq!(state.high_watermark(), 300);
        // 2 comes back and catches up to the high watermark: it rejoins.
        assert_eq!(state.follower_fetched(2, 250, 400, 32_000), None);
        assert_eq!(
            state.follower_fetched(2, 300, 400, 32_100),
            Some(vec![1, 3, 2])
        );
    }
}
