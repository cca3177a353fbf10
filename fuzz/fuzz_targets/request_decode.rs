//! Request decoding, through the entry point the connection loop uses:
//! any bytes a client can put in a frame (after the size prefix) must give
//! a request or an error, never a panic, a hang or an allocation larger than
//! the frame (libFuzzer's `-rss_limit_mb` and `-malloc_limit_mb` catch those).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice::handlers::serves;
use sluice::protocol::request::decode_request;

fuzz_target!(|frame: &[u8]| {
    let _ = decode_request(Bytes::copy_from_slice(frame), serves);
});
