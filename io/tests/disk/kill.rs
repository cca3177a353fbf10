//! A writer process killed with SIGKILL mid-append loses nothing it
//! acknowledged and leaves a log that opens as a clean prefix.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sluice_io::batch;
use sluice_io::storage::dma::DmaStorage;
use sluice_io::{AppendTime, FlushPolicy, LogConfig, PartitionLog};

use crate::support::*;

/// Where `child_writer` finds its directory; unset, it does nothing.
const CHILD_DIR_VAR: &str = "SLUICE_DISK_TEST_CHILD_DIR";
/// The child stops on its own after this many batches (it is killed long
/// before, unless the machine is very slow).
const CHILD_BATCHES_MAX: u64 = 1_000_000;

fn crash_config() -> LogConfig {
    config(128 << 10, FlushPolicy::KAFKA_DEFAULT)
}

/// Batch `i` of the child: its bytes are a function of `i` alone, so the
/// parent can check what it finds after the kill.
fn child_batch(i: u64) -> Vec<u8> {
    let total_bytes = 100 + (i as usize * 7_919) % 20_000;
    seeded_batch(i, 1 + (i % 4) as i32, total_bytes, 1_000 + i as i64)
}

/// Not a test: the process that `killed_writer_leaves_a_clean_prefix` runs
/// and kills. Appends `child_batch(0)`, `child_batch(1)`, ... one at a time
/// and prints `ack <i> <base offset> <last offset>` once each is durable
/// (written to the device: the default flush policy).
#[test]
#[ignore = "child process of killed_writer_leaves_a_clean_prefix"]
fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
        return;
    };
    run(move || async move {
        let log = PartitionLog::open(DmaStorage, PathBuf::from(dir), crash_config())
            .await
            .unwrap();
        let mut stdout = std::io::stdout();
        for i in 0..CHILD_BATCHES_MAX {
            let info = log
                .append(&child_batch(i), 0, AppendTime::Create)
                .await
                .unwrap();
            log.wait_durable(info.last_offset + 1).await.unwrap();
            writeln!(
                stdout,
                "\nack {i} {} {}",
                info.base_offset, info.last_offset
            )
            .unwrap();
            stdout.flush().unwrap();
        }
    });
}

/// Runs `child_writer` on `dir`, kills it with SIGKILL `delay` after its
/// first acknowledgement, and returns the acknowledged
/// `(i, base offset, last offset)` lines.
fn write_until_killed(dir: &Path, delay: Duration) -> Vec<(u64, u64, u64)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "kill::child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        // Only whole lines count: a line cut by the kill was never acked.
        while stdout.read_line(&mut line).unwrap() > 0 && line.ends_with('\n') {
            if let Some(ack) = line.trim().strip_prefix("ack ") {
                let fields: Vec<u64> = ack.split(' ').map(|f| f.parse().unwrap()).collect();
                if sender.send((fields[0], fields[1], fields[2])).is_err() {
                    break;
                }
            }
            line.clear();
        }
    });
    let first = match receiver.recv_timeout(Duration::from_secs(20)) {
        Ok(ack) => ack,
        Err(error) => {
            let _ = child.kill();
            panic!(
                "the child acknowledged no append: {error}; its exit: {:?}",
                child.wait()
            );
        }
    };
    std::thread::sleep(delay);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "child was still appending: {status}"
    );
    reader.join().unwrap();
    let mut acks = vec![first];
    acks.extend(receiver.try_iter());
    acks
}

#[test]
fn killed_writer_leaves_a_clean_prefix() {
    for delay_ms in [20, 150, 400] {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("topic-0");
        let acks = write_until_killed(&dir, Duration::from_millis(delay_ms));
        for (n, &(i, ..)) in acks.iter().enumerate() {
            assert_eq!(i, n as u64, "acks arrive in order");
        }
        run(move || async move {
            let log = PartitionLog::open(DmaStorage, &dir, crash_config())
                .await
                .unwrap();
            let end = log.log_end_offset();
            let (bytes, _) = read_to_end(&log, 0, 1 << 20).await;
            // Every batch found is the child's next one, at the next offset.
            let mut found = Vec::new();
            let mut next = 0;
            for (i, item) in batch::iter(&bytes).enumerate() {
                let (_, got) = item.unwrap_or_else(|(p, e)| panic!("invalid batch at {p}: {e}"));
                let want = child_batch(i as u64);
                let header = batch::header(got).unwrap();
                assert_eq!(
                    header.base_offset() as u64,
                    next,
                    "batch {i}: offsets are consecutive"
                );
                assert!(
                    got[8..] == want[8..],
                    "batch {i}: bytes differ from the child's"
                );
                found.push((i as u64, next, header.last_offset() as u64));
                next = header.last_offset() as u64 + 1;
            }
            assert_eq!(next, end, "the log end offset follows the last batch");
            // The child appends one batch at a time: at most the one in
            // flight when it died is there without an ack.
            assert!(
                (acks.len()..=acks.len() + 1).contains(&found.len()),
                "acked {} batches, found {}",
                acks.len(),
                found.len()
            );
            assert_eq!(
                found[..acks.len()],
                acks[..],
                "acked offsets are where the child saw them"
            );
            println!(
                "killed after {delay_ms} ms: {} acked, {} recovered",
                acks.len(),
                found.len()
            );

            let more = append_durable(&log, seeded_batch(7, 2, 500, 5), end).await;
            assert_batches(&log.read(end, 1, true).await.unwrap().to_vec(), &[more]);
            log.close().await.unwrap();
        });
    }
}
