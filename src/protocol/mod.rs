//! Glue over the `kafka-protocol` crate: request framing, the request
//! prefix, Kafka error codes, and the hand-written Fetch response framing
//! that keeps record bytes out of any copy.

pub mod errors;
pub mod fetch_encoding;
pub mod frame;
pub mod request;

pub use frame::{read_frame, FrameError, RequestPrefix};
