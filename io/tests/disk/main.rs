//! The partition log on a real file system: `DmaStorage` (O_DIRECT over
//! io_uring) inside a glommio executor, in a temporary directory.
//!
//! `log_basics.rs` drives the same API on the in-memory storage; these tests
//! add what only a real disk shows: O_DIRECT alignment, files Kafka tools
//! recognise, reads served by the device, a process killed mid-append, and
//! segment files damaged behind the engine's back.
//!
//! Every test runs its body on a fresh executor thread (`support::run`).
//! The kill test re-executes this test binary as a child process that
//! appends until it is killed (`kill::child_writer`).
//!
//! Run with `cargo test -p sluice-io --test disk`. The temporary directories
//! must be on a file system with O_DIRECT (ext4, xfs; not tmpfs).

mod compaction;
mod errors;
mod kill;
mod reads;
mod reopen;
mod support;
