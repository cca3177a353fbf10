//! Answers to group calls that wait, delivered back by the group's shard.
//!
//! JoinGroup and SyncGroup wait for a rebalance: up to the group's
//! rebalance timeout (minutes) for a member that never comes back. Held in
//! a mesh handler, each waiting call would take one of the
//! `MESH_HANDLERS_PER_PEER_MAX` slots between two shards, and a large group
//! could stall produce and fetch traffic between them. So a waiting call
//! is *parked*: the group's shard takes it, answers the mesh call at once,
//! runs it in a task of its own, and sends the reply back to the asking
//! shard as a separate mesh call (`GroupAnswer`), which completes the
//! receiver registered here. The asking shard's handler for that answer
//! never waits, so the two directions cannot stall each other.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use futures::channel::oneshot;

use super::calls::GroupReply;

/// Receivers of parked calls made from this shard, by ticket.
#[derive(Default)]
pub struct ParkedAnswers {
    next: Cell<u64>,
    waiting: RefCell<HashMap<u64, oneshot::Sender<GroupReply>>>,
}

impl ParkedAnswers {
    /// A ticket to send with the call, and where its answer will arrive.
    pub fn register(&self) -> (u64, oneshot::Receiver<GroupReply>) {
        let ticket = self.next.get();
        self.next.set(ticket.wrapping_add(1));
        let (sender, receiver) = oneshot::channel();
        self.waiting.borrow_mut().insert(ticket, sender);
        (ticket, receiver)
    }

    /// The call never reached the group's shard: no answer will come.
    pub fn forget(&self, ticket: u64) {
        self.waiting.borrow_mut().remove(&ticket);
    }

    /// Delivers an answer; one whose asker went away (a closed
    /// connection) is dropped.
    pub fn complete(&self, ticket: u64, reply: GroupReply) {
        if let Some(sender) = self.waiting.borrow_mut().remove(&ticket) {
            let _ = sender.send(reply);
        }
    }

    pub fn len(&self) -> usize {
        self.waiting.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reach_their_ticket_once() {
        let parked = ParkedAnswers::default();
        let (first, mut first_rx) = parked.register();
        let (second, mut second_rx) = parked.register();
        assert_ne!(first, second);
        parked.complete(second, GroupReply::Heartbeat(7));
        assert!(matches!(
            second_rx.try_recv(),
            Ok(Some(GroupReply::Heartbeat(7)))
        ));
        assert!(matches!(first_rx.try_recv(), Ok(None)));
        parked.forget(first);
        parked.complete(first, GroupReply::Heartbeat(1));
        assert!(
            first_rx.try_recv().is_err(),
            "a forgotten ticket is cancelled"
        );
        assert!(parked.is_empty());
    }
}
