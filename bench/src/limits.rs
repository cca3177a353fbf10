//! `sluice perf limits`: the ceilings of this host that bound a broker on
//! it, measured the way the broker uses the hardware:
//!
//! - sequential O_DIRECT writes to the log directory at the broker's write
//!   sizes (64 KiB to 1 MiB), with the final `fdatasync` inside the timing;
//! - `fdatasync` latency after a 4 KiB O_DIRECT write (what `acks=all` with
//!   `flush.messages=1` waits for);
//! - TCP bandwidth over loopback (or to `--peer`, a `limits --serve` on
//!   another host) with the same write sizes.
//!
//! Each measurement runs for `--seconds` (default 2) or until a byte cap.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::duration::parse_duration;
use crate::error::{BenchError, Result};
use crate::progress::Progress;
use crate::report::json::latency_summary_json;
use crate::report::{unix_ms_now, Figure, LatencyReport, RunReport};
use crate::stop::StopFlag;
use crate::windows::{latency_histogram, LatencySummary};

/// O_DIRECT needs buffers, offsets and lengths aligned to the logical block
/// size; 4 KiB covers every common device.
const DIRECT_ALIGN: usize = 4096;
/// The write sizes measured (the broker's write-outs lie in this range).
pub const WRITE_SIZES: [usize; 3] = [64 << 10, 256 << 10, 1 << 20];
/// A disk measurement stops after this many bytes even if time is left.
const DISK_BYTES_MAX: u64 = 2 << 30;
/// An fdatasync measurement stops after this many syncs.
const SYNCS_MAX: u64 = 2000;
const SYNC_WRITE_BYTES: usize = 4096;
const TCP_READ_BUFFER: usize = 1 << 20;

#[derive(Debug, Clone, clap::Args)]
pub struct LimitsArgs {
    /// The log directory to measure (a file is written there and removed).
    #[arg(long, required_unless_present = "serve")]
    pub log_dir: Option<PathBuf>,
    /// Measure TCP to this `sluice perf limits --serve` instead of loopback.
    #[arg(long)]
    pub peer: Option<String>,
    /// Run a TCP sink on HOST:PORT for another host's `--peer` (until Ctrl-C).
    #[arg(long, conflicts_with_all = ["log_dir", "peer"])]
    pub serve: Option<String>,
    /// Time per measurement ("2s").
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub seconds: Duration,
}

/// A zeroed heap buffer aligned for O_DIRECT.
struct AlignedBuffer {
    pointer: *mut u8,
    layout: Layout,
}

impl AlignedBuffer {
    #[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
    fn new(len: usize) -> Result<AlignedBuffer> {
        let layout = Layout::from_size_align(len.max(DIRECT_ALIGN), DIRECT_ALIGN)
            .map_err(|e| BenchError::Usage(format!("bad buffer size {len}: {e}")))?;
        // SAFETY: the layout has a non-zero size (at least DIRECT_ALIGN).
        let pointer = unsafe { alloc_zeroed(layout) };
        if pointer.is_null() {
            return Err(BenchError::Usage(format!("cannot allocate {len} bytes")));
        }
        Ok(AlignedBuffer { pointer, layout })
    }

    #[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `pointer` is a live allocation of `layout.size()` bytes,
        // zero-initialised, owned by self and borrowed mutably here.
        unsafe { std::slice::from_raw_parts_mut(self.pointer, self.layout.size()) }
    }
}

impl Drop for AlignedBuffer {
    #[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed only here.
        unsafe { dealloc(self.pointer, self.layout) }
    }
}

fn open_direct(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(BenchError::io(
            "cannot open with O_DIRECT (does the file system support it?)",
            path,
        ))
}

/// A scratch file removed when dropped.
struct ScratchFile(PathBuf);

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Sequential O_DIRECT writes of `size` bytes for `seconds`, then one
/// fdatasync; MB/s (10^6) over the whole span.
fn direct_write_mb_per_sec(
    dir: &Path,
    size: usize,
    seconds: Duration,
    stop: &StopFlag,
) -> Result<f64> {
    let scratch = ScratchFile(dir.join(format!("sluice-perf-limits-{}.tmp", std::process::id())));
    let file = open_direct(&scratch.0)?;
    let mut buffer = AlignedBuffer::new(size)?;
    buffer.as_mut_slice().fill(0x5a);
    let start = Instant::now();
    let mut written = 0u64;
    while start.elapsed() < seconds && written < DISK_BYTES_MAX && !stop.is_set() {
        file.write_all_at(buffer.as_mut_slice(), written)
            .map_err(BenchError::io("O_DIRECT write failed", &scratch.0))?;
        written += size as u64;
    }
    file.sync_data()
        .map_err(BenchError::io("fdatasync failed", &scratch.0))?;
    Ok(written as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// 4 KiB O_DIRECT write + fdatasync, repeated; the latency of each pair.
fn fdatasync_latency(
    dir: &Path,
    seconds: Duration,
    stop: &StopFlag,
) -> Result<Option<LatencyReport>> {
    let scratch = ScratchFile(dir.join(format!("sluice-perf-sync-{}.tmp", std::process::id())));
    let file = open_direct(&scratch.0)?;
    let mut buffer = AlignedBuffer::new(SYNC_WRITE_BYTES)?;
    let mut histogram = latency_histogram();
    let start = Instant::now();
    let mut syncs = 0u64;
    while start.elapsed() < seconds && syncs < SYNCS_MAX && !stop.is_set() {
        let began = Instant::now();
        file.write_all_at(buffer.as_mut_slice(), syncs * SYNC_WRITE_BYTES as u64)
            .map_err(BenchError::io("O_DIRECT write failed", &scratch.0))?;
        file.sync_data()
            .map_err(BenchError::io("fdatasync failed", &scratch.0))?;
        histogram.saturating_record((began.elapsed().as_micros() as u64).max(1));
        syncs += 1;
    }
    Ok(LatencyReport::of(
        "4 KiB O_DIRECT write + fdatasync",
        &histogram,
    ))
}

/// Reads and discards everything a peer sends until it closes.
fn sink(mut stream: TcpStream) -> u64 {
    let mut buffer = vec![0u8; TCP_READ_BUFFER];
    let mut total = 0u64;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n as u64,
        }
    }
}

/// Writes of `size` bytes for `seconds`; MB/s (10^6) as received (loopback)
/// or as sent and closed (peer).
fn tcp_mb_per_sec(
    peer: Option<&str>,
    size: usize,
    seconds: Duration,
    stop: &StopFlag,
) -> Result<f64> {
    let (address, receiver) = match peer {
        Some(peer) => (peer.to_string(), None),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0")
                .map_err(BenchError::io("cannot listen on loopback", "127.0.0.1:0"))?;
            let address = listener
                .local_addr()
                .map_err(BenchError::io(
                    "cannot read the listener address",
                    "127.0.0.1:0",
                ))?
                .to_string();
            let receiver =
                std::thread::spawn(move || listener.accept().map(|(s, _)| sink(s)).unwrap_or(0));
            (address, Some(receiver))
        }
    };
    let mut stream =
        TcpStream::connect(&address).map_err(BenchError::io("cannot connect", &address))?;
    stream
        .set_nodelay(true)
        .map_err(BenchError::io("cannot set TCP_NODELAY", &address))?;
    let buffer = vec![0x5au8; size];
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < seconds && !stop.is_set() {
        stream
            .write_all(&buffer)
            .map_err(BenchError::io("TCP write failed", &address))?;
        sent += size as u64;
    }
    drop(stream);
    let received = match receiver {
        Some(receiver) => receiver
            .join()
            .map_err(|_| BenchError::Usage("the loopback receiver panicked".into()))?,
        None => sent,
    };
    Ok(received as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// `--serve`: a sink for other hosts' `--peer` until Ctrl-C.
pub fn serve(address: &str, stop: &StopFlag) -> Result<()> {
    let listener = TcpListener::bind(address).map_err(BenchError::io("cannot listen", address))?;
    listener.set_nonblocking(true).map_err(BenchError::io(
        "cannot make the listener non-blocking",
        address,
    ))?;
    eprintln!("[perf limits] sink listening on {address}; Ctrl-C stops");
    while !stop.is_set() {
        match listener.accept() {
            Ok((stream, from)) => {
                let _ = stream.set_nonblocking(false);
                std::thread::spawn(move || {
                    let bytes = sink(stream);
                    eprintln!("[perf limits] {from}: {bytes} bytes");
                });
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(error) => return Err(BenchError::io("accept failed", address)(error)),
        }
    }
    Ok(())
}

fn size_label(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{}MiB", size >> 20)
    } else {
        format!("{}KiB", size >> 10)
    }
}

pub fn run(args: &LimitsArgs, stop: &StopFlag, out: &mut dyn Write) -> Result<RunReport> {
    let dir = args
        .log_dir
        .as_deref()
        .ok_or_else(|| BenchError::Usage("--log-dir is required".into()))?;
    std::fs::create_dir_all(dir).map_err(BenchError::io("cannot create the log directory", dir))?;
    let started_unix_ms = unix_ms_now();
    let start = Instant::now();
    let progress = Progress::new("limits", start);
    let tcp_name = match &args.peer {
        Some(peer) => format!("TCP to {peer}"),
        None => "TCP loopback".to_string(),
    };
    let mut figures = Vec::new();
    let mut rows = Vec::new();
    let _ = writeln!(out, "{:<36} {:>8} {:>12}", "limit", "write", "MB/s");
    for &size in &WRITE_SIZES {
        let label = size_label(size);
        progress.print(&format!("O_DIRECT writes of {label}"));
        let disk = direct_write_mb_per_sec(dir, size, args.seconds, stop)?;
        progress.print(&format!("{tcp_name} writes of {label}"));
        let tcp = tcp_mb_per_sec(args.peer.as_deref(), size, args.seconds, stop)?;
        let limit = disk.min(tcp);
        let _ = writeln!(
            out,
            "{:<36} {:>8} {:>12.1}",
            "O_DIRECT sequential write", label, disk
        );
        let _ = writeln!(out, "{:<36} {:>8} {:>12.1}", tcp_name, label, tcp);
        let _ = writeln!(
            out,
            "{:<36} {:>8} {:>12.1}",
            "limit (min of the two)", label, limit
        );
        figures.push(Figure::rate(
            &format!("direct_write_mb_per_sec_{label}"),
            "MB/s",
            disk,
        ));
        figures.push(Figure::rate(
            &format!("tcp_mb_per_sec_{label}"),
            "MB/s",
            tcp,
        ));
        figures.push(Figure::rate(
            &format!("limit_mb_per_sec_{label}"),
            "MB/s",
            limit,
        ));
        rows.push(json!({"write_bytes": size, "direct_write_mb_per_sec": disk, "tcp_mb_per_sec": tcp, "limit_mb_per_sec": limit}));
    }
    progress.print("fdatasync latency");
    let sync = fdatasync_latency(dir, args.seconds, stop)?;
    let sync_summary: Option<LatencySummary> = sync.as_ref().map(|s| s.summary.clone());
    if let Some(summary) = &sync_summary {
        let _ = writeln!(
            out,
            "{:<36} {:>8} p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} syncs)",
            "fdatasync after O_DIRECT write",
            size_label(SYNC_WRITE_BYTES),
            summary.percentile_ms("p50").unwrap_or(0.0),
            summary.percentile_ms("p99").unwrap_or(0.0),
            summary.max_ms,
            summary.count
        );
        figures.push(Figure::latency_ms(
            "fdatasync_p50_ms",
            summary.percentile_ms("p50").unwrap_or(0.0),
        ));
        figures.push(Figure::latency_ms(
            "fdatasync_p99_ms",
            summary.percentile_ms("p99").unwrap_or(0.0),
        ));
        figures.push(Figure::latency_ms("fdatasync_max_ms", summary.max_ms));
    }
    let _ = out.flush();
    Ok(RunReport {
        mode: "limits",
        target: dir.display().to_string(),
        workload: json!({
            "log_dir": dir,
            "peer": args.peer,
            "seconds_per_measurement": args.seconds.as_secs_f64(),
            "write_sizes": WRITE_SIZES,
        }),
        started_unix_ms,
        elapsed: start.elapsed(),
        figures,
        windows: Vec::new(),
        latency: sync.into_iter().collect(),
        details: json!({
            "rows": rows,
            "fdatasync": sync_summary.as_ref().map(latency_summary_json),
        }),
        interrupted: stop.is_set(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_aligned_and_at_least_one_block() {
        let mut buffer = AlignedBuffer::new(100).unwrap();
        assert_eq!(buffer.as_mut_slice().len(), DIRECT_ALIGN);
        assert_eq!(buffer.as_mut_slice().as_ptr() as usize % DIRECT_ALIGN, 0);
        let mut big = AlignedBuffer::new(1 << 20).unwrap();
        assert_eq!(big.as_mut_slice().len(), 1 << 20);
    }

    #[test]
    fn size_labels_are_readable() {
        assert_eq!(size_label(64 << 10), "64KiB");
        assert_eq!(size_label(1 << 20), "1MiB");
    }
}
