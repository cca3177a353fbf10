//! The C allocator's settings for a broker process.
//!
//! Reads from disk land in DMA buffers of 256 KiB to a few MiB (a Fetch's
//! partition read, a read-ahead), allocated through the global allocator
//! whenever glommio's small registered arena is taken, and freed once the
//! answer is written. With glibc's defaults such sizes are served by `mmap`
//! and given back by `munmap` or heap trimming each time, so every read
//! paid for page faults, zeroing and TLB shootdowns: a third of the
//! broker's CPU while a consumer read old data (perf, 2026-12-03). Raising
//! the thresholds keeps those buffers in the heap to be reused.

/// Allocations from this size on get their own mapping (glibc's maximum
/// for the setting, 32 MiB on 64-bit; the default starts at 128 KiB).
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD_BYTES: libc::c_int = 32 << 20;
/// Free memory at the top of a heap beyond this is returned to the kernel.
/// Bounds what the process keeps after a burst of reads.
#[cfg(target_env = "gnu")]
const TRIM_THRESHOLD_BYTES: libc::c_int = 128 << 20;

#[cfg(target_env = "gnu")]
const _: () = assert!(MMAP_THRESHOLD_BYTES < TRIM_THRESHOLD_BYTES);

/// Applies the settings above; call before the shard threads start. A
/// setting glibc refuses is logged and the default kept (slower, correct).
#[cfg(target_env = "gnu")]
#[allow(unsafe_code)] // the unsafe block says why (SAFETY:)
pub(super) fn keep_large_buffers() {
    for (name, param, value) in [
        (
            "M_MMAP_THRESHOLD",
            libc::M_MMAP_THRESHOLD,
            MMAP_THRESHOLD_BYTES,
        ),
        (
            "M_TRIM_THRESHOLD",
            libc::M_TRIM_THRESHOLD,
            TRIM_THRESHOLD_BYTES,
        ),
    ] {
        // SAFETY: mallopt only changes parameters of glibc's allocator,
        // takes its own locks, and is given parameters it documents.
        let ok = unsafe { libc::mallopt(param, value) };
        if ok != 1 {
            tracing::warn!(setting = name, value, "glibc refused a malloc setting");
        }
    }
}

/// Other C libraries keep their own defaults.
#[cfg(not(target_env = "gnu"))]
pub(super) fn keep_large_buffers() {}
