//! Idempotent producers: per-partition sequence tracking.
//!
//! For each producer id the partition remembers the epoch and the last
//! [`BATCHES_PER_PRODUCER_MAX`] batches (sequence range and offsets), as Kafka
//! does: a retried batch that matches one of them is a duplicate and is
//! acknowledged with its original offset, not appended again; a batch that
//! does not continue the sequence is `OUT_OF_ORDER_SEQUENCE_NUMBER`.
//!
//! The state is rebuilt on open from the batch headers in the log (producer
//! id, epoch and base sequence live there), so it survives restarts.

use std::collections::{HashMap, VecDeque};

use kafka_protocol::ResponseError;

/// Kafka keeps the last 5 batches per producer (max.in.flight is at most 5
/// for idempotent producers).
pub const BATCHES_PER_PRODUCER_MAX: usize = 5;
/// Producers tracked per partition before the least recently used is
/// forgotten (Kafka expires them by time instead).
pub const PRODUCERS_PER_PARTITION_MAX: usize = 10_000;

/// A batch's producer fields, from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl ProducerBatch {
    pub fn last_sequence(&self) -> i32 {
        wrapping_add(self.base_sequence, self.record_count - 1)
    }
}

fn wrapping_add(sequence: i32, delta: i32) -> i32 {
    // Kafka sequences wrap from i32::MAX to 0.
    ((sequence as i64 + delta as i64) % (i32::MAX as i64 + 1)) as i32
}

#[derive(Clone, Copy, Debug)]
struct Appended {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: u64,
}

#[derive(Debug, Default)]
struct Producer {
    epoch: i16,
    batches: VecDeque<Appended>,
    last_used: u64,
}

/// What to do with an incoming batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// Already appended at this base offset.
    Duplicate {
        base_offset: u64,
    },
    Reject(ResponseError),
}

#[derive(Debug, Default)]
pub struct ProducerState {
    producers: HashMap<i64, Producer>,
    clock: u64,
}

impl ProducerState {
    pub fn check(&self, batch: &ProducerBatch) -> SequenceCheck {
        if batch.producer_id < 0 {
            return SequenceCheck::Append; // not idempotent
        }
        let Some(producer) = self.producers.get(&batch.producer_id) else {
            return if batch.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber)
            };
        };
        if batch.epoch < producer.epoch {
            return SequenceCheck::Reject(ResponseError::InvalidProducerEpoch);
        }
        if batch.epoch > producer.epoch {
            return if batch.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber)
            };
        }
        let last_sequence = batch.last_sequence();
        if let Some(seen) = producer
            .batches
            .iter()
            .find(|b| b.first_sequence == batch.base_sequence && b.last_sequence == last_sequence)
        {
            return SequenceCheck::Duplicate {
                base_offset: seen.base_offset,
            };
        }
        match producer.batches.back() {
            Some(last) if wrapping_add(last.last_sequence, 1) == batch.base_sequence => {
                SequenceCheck::Append
            }
            None if batch.base_sequence == 0 => SequenceCheck::Append,
            _ => SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber),
        }
    }

    /// Records an appended (or, on rebuild, found) batch.
    pub fn record(&mut self, batch: &ProducerBatch, base_offset: u64) {
        if batch.producer_id < 0 {
            return;
        }
        self.clock += 1;
        if !self.producers.contains_key(&batch.producer_id)
            && self.producers.len() >= PRODUCERS_PER_PARTITION_MAX
        {
            if let Some((&oldest, _)) = self.producers.iter().min_by_key(|(_, p)| p.last_used) {
                self.producers.remove(&oldest);
            }
        }
        let producer = self.producers.entry(batch.producer_id).or_default();
        if batch.epoch != producer.epoch {
            producer.epoch = batch.epoch;
            producer.batches.clear();
        }
        producer.last_used = self.clock;
        producer.batches.push_back(Appended {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(),
            base_offset,
        });
        while producer.batches.len() > BATCHES_PER_PRODUCER_MAX {
            producer.batches.pop_front();
        }
    }

    /// Forgets batches at or past `offset` (the log was truncated).
    pub fn truncate(&mut self, offset: u64) {
        for producer in self.producers.values_mut() {
            producer.batches.retain(|b| b.base_offset < offset);
        }
        self.producers.retain(|_, p| !p.batches.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(producer_id: i64, epoch: i16, base_sequence: i32, record_count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id,
            epoch,
            base_sequence,
            record_count,
        }
    }

    #[test]
    fn sequences_duplicates_and_gaps() {
        let mut state = ProducerState::default();
        let first = batch(7, 0, 0, 10);
        assert_eq!(state.check(&first), SequenceCheck::Append);
        state.record(&first, 100);
        assert_eq!(
            state.check(&first),
            SequenceCheck::Duplicate { base_offset: 100 }
        );
        let next = batch(7, 0, 10, 5);
        assert_eq!(state.check(&next), SequenceCheck::Append);
        state.record(&next, 110);
        assert_eq!(
            state.check(&batch(7, 0, 20, 1)),
            SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            state.check(&batch(7, 0, 10, 5)),
            SequenceCheck::Duplicate { base_offset: 110 }
        );
        assert_eq!(
            state.check(&batch(8, 0, 3, 1)),
            SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber)
        );
        assert_eq!(state.check(&batch(-1, -1, -1, 3)), SequenceCheck::Append);
    }

    #[test]
    fn epochs_fence_and_reset() {
        let mut state = ProducerState::default();
        state.record(&batch(1, 3, 0, 1), 0);
        assert_eq!(
            state.check(&batch(1, 2, 1, 1)),
            SequenceCheck::Reject(ResponseError::InvalidProducerEpoch)
        );
        assert_eq!(state.check(&batch(1, 4, 0, 1)), SequenceCheck::Append);
        assert_eq!(
            state.check(&batch(1, 4, 5, 1)),
            SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut state = ProducerState::default();
        for i in 0..7 {
            state.record(&batch(1, 0, i, 1), i as u64);
        }
        assert_eq!(
            state.check(&batch(1, 0, 6, 1)),
            SequenceCheck::Duplicate { base_offset: 6 }
        );
        assert_eq!(
            state.check(&batch(1, 0, 0, 1)),
            SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn sequences_wrap() {
        let near_max = batch(1, 0, i32::MAX - 1, 2);
        assert_eq!(near_max.last_sequence(), i32::MAX);
        let mut state = ProducerState::default();
        state.record(&batch(1, 0, 0, 10), 0);
        state.record(&batch(1, 0, 10, i32::MAX - 9), 10);
        assert_eq!(state.check(&batch(1, 0, 0, 5)), SequenceCheck::Append);
    }
}
