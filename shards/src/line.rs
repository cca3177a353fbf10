//! [`Line`]: first-come, first-served waiting for room in a bounded queue.
//!
//! A mesh queue is bounded, so a call may find it full and wait. Several
//! calls can wait on the same queue, and when room appears the one that
//! waited longest must send first, and a call that arrives later must not
//! slip past the waiters. Otherwise two pipelined requests from one
//! connection could reach their partition in the wrong order. glommio's
//! channel wakes all waiters and lets any of them (or a newcomer) win, so
//! each outgoing queue has a `Line` in front of it:
//!
//! ```text
//!   new call ──> line empty? ──yes──> try_send ──ok──> sent
//!                    │                   │ full
//!                    no                  ▼
//!                    └──────────> join the line ──> at the front: send().await
//!                                 (ticket order)      then leave, waking the next
//! ```
//!
//! Only the front of the line awaits the queue. Leaving (normally, or by
//! being dropped because the caller gave up) hands the front to the next
//! ticket that is still waiting.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A FIFO of waiting senders for one queue. Lives on one shard.
#[derive(Debug, Default)]
pub(crate) struct Line {
    state: RefCell<LineState>,
}

#[derive(Debug, Default)]
struct LineState {
    /// Ticket number of `places[0]`.
    front_ticket: u64,
    /// One entry per ticket from `front_ticket` on, including places whose
    /// holder gave up (they are skipped when they reach the front).
    places: VecDeque<Place>,
}

#[derive(Debug, Default)]
struct Place {
    waker: Option<Waker>,
    abandoned: bool,
}

impl Line {
    /// No one is waiting: a new sender may try the queue directly.
    pub(crate) fn is_empty(&self) -> bool {
        self.state.borrow().places.is_empty()
    }

    /// Takes a ticket now. The returned future resolves when the ticket is
    /// at the front; the line moves on when the [`Turn`] is dropped.
    pub(crate) fn join(&self) -> Turn<'_> {
        let mut state = self.state.borrow_mut();
        let ticket = state.front_ticket + state.places.len() as u64;
        state.places.push_back(Place::default());
        Turn { line: self, ticket }
    }

    fn leave(&self, ticket: u64) {
        let next = {
            let mut state = self.state.borrow_mut();
            let index = (ticket - state.front_ticket) as usize;
            if index > 0 {
                // Gave up before reaching the front: the front is unchanged.
                state.places[index] = Place {
                    waker: None,
                    abandoned: true,
                };
                return;
            }
            state.places.pop_front();
            state.front_ticket += 1;
            while state.places.front().is_some_and(|place| place.abandoned) {
                state.places.pop_front();
                state.front_ticket += 1;
            }
            state
                .places
                .front_mut()
                .and_then(|place| place.waker.take())
        };
        // Woken outside the borrow: a waker may run code that uses the line.
        if let Some(waker) = next {
            waker.wake();
        }
    }
}

/// A place in a [`Line`]. Awaiting it waits for the front; dropping it
/// leaves the line.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    line: &'a Line,
    ticket: u64,
}

impl Future for Turn<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.line.state.borrow_mut();
        if state.front_ticket == self.ticket {
            return Poll::Ready(());
        }
        let index = (self.ticket - state.front_ticket) as usize;
        state.places[index].waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.line.leave(self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use glommio::{LocalExecutorBuilder, Placement};

    use super::*;

    fn run(body: impl Future<Output = ()>) {
        LocalExecutorBuilder::new(Placement::Unbound)
            .make()
            .unwrap()
            .run(body);
    }

    #[test]
    fn turns_come_in_ticket_order_and_skip_the_abandoned() {
        run(async {
            let line = Rc::new(Line::default());
            let order = Rc::new(RefCell::new(Vec::new()));
            assert!(line.is_empty());
            let first = line.join();
            assert!(!line.is_empty());

            let mut tasks = Vec::new();
            for i in 1..=4 {
                let (line, order) = (line.clone(), order.clone());
                tasks.push(glommio::spawn_local(async move {
                    let turn = line.join();
                    if i == 2 {
                        // Gives up while waiting behind others.
                        drop(turn);
                        return;
                    }
                    turn.await;
                    order.borrow_mut().push(i);
                    glommio::executor().yield_now().await;
                }));
            }
            glommio::executor().yield_now().await;
            // Nobody passes the front while it holds its turn.
            assert!(order.borrow().is_empty());
            first.await;
            for task in tasks {
                task.await;
            }
            assert_eq!(*order.borrow(), [1, 3, 4]);
            assert!(line.is_empty());
        });
    }

    #[test]
    fn an_abandoned_front_hands_over() {
        run(async {
            let line = Line::default();
            let front = line.join();
            let second = line.join();
            let mut third = line.join();
            drop(second);
            drop(front);
            (&mut third).await;
            assert!(!line.is_empty());
            drop(third);
            assert!(line.is_empty());
        });
    }
}
