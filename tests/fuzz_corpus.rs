//! Replays the fuzzers' committed inputs through the same entry points, in
//! every `cargo test`:
//! - `fuzz/corpus/request_decode/`: real client requests (captured by
//!   `fuzz/capture_corpus.py`) and one default request per advertised
//!   version (`fuzz/src/seeds.rs`): each must decode;
//! - `fuzz/corpus/batch_validate/`: batches as the broker stored them:
//!   each must validate and its records read;
//! - `fuzz/regressions/<target>/`: inputs that once broke a target (a crash
//!   found by fuzzing goes here): each must be refused without a panic.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use sluice::handlers::serves;
use sluice::protocol::request::decode_request;
use sluice_io::{batch, records};

fn inputs(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a readable corpus file");
            (path, bytes)
        })
        .collect();
    found.sort();
    found
}

#[test]
fn every_seed_request_decodes() {
    let seeds = inputs("fuzz/corpus/request_decode");
    assert!(seeds.len() > 100, "the corpus is missing");
    for (path, frame) in seeds {
        if let Err(error) = decode_request(Bytes::from(frame), serves) {
            panic!("{}: {error}", path.display());
        }
    }
}

#[test]
fn every_stored_batch_validates_and_its_records_read() {
    let batches = inputs("fuzz/corpus/batch_validate");
    assert!(!batches.is_empty(), "the corpus is missing");
    for (path, bytes) in batches {
        let header = batch::validate(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(header.total_bytes(), bytes.len(), "{}", path.display());
        let read = records::records(&bytes, 1 << 20).expect("records inflate");
        let count = read
            .iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert_eq!(count as i32, header.record_count.get());
    }
}

#[test]
fn regressions_are_refused_without_a_panic() {
    for (path, frame) in inputs("fuzz/regressions/request_decode") {
        assert!(
            decode_request(Bytes::from(frame), serves).is_err(),
            "{} decoded",
            path.display()
        );
    }
    for (_, bytes) in inputs("fuzz/regressions/batch_validate") {
        for one in batch::iter(&bytes).flatten() {
            if let Ok(read) = records::records(one.1, 1 << 20) {
                read.iter().for_each(drop);
            }
        }
    }
}
