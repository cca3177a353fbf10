//! The narrow file interface the engine runs on.
//!
//! Two implementations: [`dma::DmaStorage`] (glommio `DmaFile`, O_DIRECT on
//! io_uring; the real one) and [`memory::MemStorage`] (in memory, with fault
//! injection and a crash that drops what was not synced; for deterministic
//! crash tests). The engine never calls the file system any other way, which
//! is what makes the crash tests mean something.
//!
//! Rules every implementation keeps:
//! - `write_at` positions and lengths are multiples of [`BLOCK_BYTES`]; the
//!   whole buffer is written or an error is returned (a short write is
//!   reported as [`IoError::ShortWrite`](crate::IoError::ShortWrite)).
//! - A completed `write_at` survives the process being killed; only after
//!   `sync` does it survive power loss.
//! - `read_at` positions are multiples of [`BLOCK_BYTES`]; reads past the end of
//!   the file return fewer bytes (possibly none), never an error.
//! - A file created since the last `sync_dir` of its directory may vanish in a
//!   power loss, and a rename since then may be undone (the file back under
//!   its old name, a file it replaced back under the new one).

pub mod chunk;
pub mod dma;
pub mod memory;

use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use chunk::Chunk;

use crate::error::Result;

/// The unit of O_DIRECT I/O. 4096 suits every device we target (512-byte
/// sector devices accept it too), and it is what the partially filled tail
/// block is measured in.
pub const BLOCK_BYTES: usize = 4096;

/// Rounds `n` down to a multiple of [`BLOCK_BYTES`].
pub const fn align_down(n: u64) -> u64 {
    n & !(BLOCK_BYTES as u64 - 1)
}

/// Rounds `n` up to a multiple of [`BLOCK_BYTES`].
pub const fn align_up(n: u64) -> u64 {
    align_down(n + BLOCK_BYTES as u64 - 1)
}

const _: () = assert!(BLOCK_BYTES.is_power_of_two());

/// An aligned, owned buffer that can be handed to `write_at`.
pub trait IoBuf: AsRef<[u8]> + AsMut<[u8]> + 'static {
    /// Shortens the buffer to `len` bytes (never grows it).
    fn truncate(&mut self, len: usize);
}

/// How [`Storage::open`] treats a missing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file; a missing one is [`IoError::NotFound`](crate::IoError::NotFound).
    Existing,
    /// Open the file, creating it empty if it is missing.
    CreateIfMissing,
}

/// A directory tree of files with direct-I/O semantics.
#[allow(async_fn_in_trait)] // used on one thread (glommio); futures are never sent
pub trait Storage: Clone + 'static {
    type Buf: IoBuf;
    type File: StorageFile<Buf = Self::Buf>;

    async fn open(&self, path: &Path, mode: OpenMode) -> Result<Self::File>;
    async fn create_dir_all(&self, path: &Path) -> Result<()>;
    /// File names (not paths) in `dir`, in no particular order.
    async fn list_dir(&self, dir: &Path) -> Result<Vec<String>>;
    async fn remove_file(&self, path: &Path) -> Result<()>;
    /// Renames `from` to `to` in the same directory, replacing `to` if it
    /// exists (atomically, as POSIX `rename` does). Durable against power
    /// loss once the directory is synced.
    async fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes an empty directory.
    async fn remove_dir(&self, path: &Path) -> Result<()>;
    /// Makes creations and removals of entries in `dir` durable.
    async fn sync_dir(&self, dir: &Path) -> Result<()>;
}

/// One open file.
#[allow(async_fn_in_trait)]
pub trait StorageFile: 'static {
    type Buf: IoBuf;

    fn path(&self) -> &PathBuf;
    /// A zero-filled buffer of `len` bytes, `len` a multiple of
    /// [`BLOCK_BYTES`], suitable for this file's `write_at` (glommio hands
    /// out DMA memory per file, from the ring's registered pool when it can).
    fn alloc_buf(&self, len: usize) -> Self::Buf;
    /// Writes all of `buf` at `pos`; both block aligned. The buffer is shared
    /// so the caller can keep serving reads from it while it is in flight.
    async fn write_at(&self, buf: Rc<Self::Buf>, pos: u64) -> Result<()>;
    /// Reads up to `len` bytes at the block-aligned `pos`.
    async fn read_at(&self, pos: u64, len: usize) -> Result<Chunk>;
    /// `fdatasync`: everything written so far survives power loss.
    async fn sync(&self) -> Result<()>;
    async fn size(&self) -> Result<u64>;
    async fn truncate(&self, len: u64) -> Result<()>;
    /// Reserves blocks up to `len` without changing the file's size.
    async fn preallocate(&self, len: u64) -> Result<()>;
    async fn close(self) -> Result<()>;
}

/// Reads a whole (small) file through the storage interface.
pub async fn read_whole<F: StorageFile>(file: &F) -> Result<Chunk> {
    let size = file.size().await?;
    file.read_at(0, size as usize).await
}

/// Replaces a small file's contents durably: write, cut to the exact length,
/// sync the file and its directory (the file may be new). Written in place,
/// not renamed: a checkpoint fits in one sector, which devices write whole,
/// and a torn index file fails its checks on open and is rebuilt.
pub async fn write_whole<S: Storage>(storage: &S, path: &Path, bytes: &[u8]) -> Result<()> {
    let file = storage.open(path, OpenMode::CreateIfMissing).await?;
    let mut buf = file.alloc_buf(align_up(bytes.len() as u64).max(BLOCK_BYTES as u64) as usize);
    buf.as_mut()[..bytes.len()].copy_from_slice(bytes);
    let result = async {
        file.write_at(Rc::new(buf), 0).await?;
        file.truncate(bytes.len() as u64).await?;
        file.sync().await
    }
    .await;
    let closed = file.close().await;
    result.and(closed)?;
    match path.parent() {
        Some(dir) => storage.sync_dir(dir).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_arithmetic() {
        assert_eq!(align_down(0), 0);
        assert_eq!(align_down(4095), 0);
        assert_eq!(align_down(4096), 4096);
        assert_eq!(align_down(8191), 4096);
        assert_eq!(align_up(0), 0);
        assert_eq!(align_up(1), 4096);
        assert_eq!(align_up(4096), 4096);
        assert_eq!(align_up(4097), 8192);
        for n in [0u64, 1, 511, 512, 4095, 4096, 1 << 20, (1 << 20) + 3] {
            assert!(align_down(n) <= n && n <= align_up(n));
            assert_eq!(align_down(n) % BLOCK_BYTES as u64, 0);
            assert_eq!(align_up(n) % BLOCK_BYTES as u64, 0);
            assert!(align_up(n) - align_down(n) <= BLOCK_BYTES as u64);
        }
    }
}
