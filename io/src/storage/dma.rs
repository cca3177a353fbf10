//! [`DmaStorage`]: the real storage, glommio `DmaFile`s (O_DIRECT over
//! io_uring). Must be used from inside a glommio executor.

use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{DmaBuffer, DmaFile, OpenOptions, ReadResult};
use glommio::GlommioError;

use super::{Chunk, IoBuf, OpenMode, Storage, StorageFile, BLOCK_BYTES};
use crate::error::{IoError, Result};

/// Files opened with O_DIRECT through glommio. Removing, renaming and
/// syncing directory entries are plain syscalls run on glommio's blocking
/// thread pool: a directory `fsync` waits for a journal commit, which can
/// take tens of milliseconds on a busy disk, and must not stall the shard's
/// produce and fetch (the log cleaner does several per cleaned segment).
/// Listing and creating directories happen at open only and run inline.
#[derive(Clone, Copy, Debug, Default)]
pub struct DmaStorage;

/// glommio's `DmaBuffer` is memory aligned for O_DIRECT; it is the buffer
/// type as is, so the cache and the write share it without a copy.
impl IoBuf for DmaBuffer {
    fn truncate(&mut self, len: usize) {
        self.trim_to_size(len);
    }
}

/// Wraps `ReadResult` so a read's buffer can back a [`Chunk`] without a copy.
struct ReadOwner(ReadResult);

impl AsRef<[u8]> for ReadOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn to_io_error<T>(error: GlommioError<T>) -> io::Error {
    match error {
        // glommio's Into<io::Error> rebuilds this one from its kind, which
        // loses the errno (ENOSPC vs EIO); keep the original.
        GlommioError::EnhancedIoError { source, .. } => source,
        other => other.into(),
    }
}

fn os_error<'a, T>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(GlommioError<T>) -> IoError + 'a {
    move |error| IoError::from_os(op, path, to_io_error(error))
}

pub struct DmaStorageFile {
    file: DmaFile,
    path: PathBuf,
}

impl Storage for DmaStorage {
    type Buf = DmaBuffer;
    type File = DmaStorageFile;

    async fn open(&self, path: &Path, mode: OpenMode) -> Result<DmaStorageFile> {
        iopoll_probe::prime(path).await;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(mode == OpenMode::CreateIfMissing)
            .dma_open(path)
            .await
            .map_err(os_error("opening", path))?;
        Ok(DmaStorageFile {
            file,
            path: path.to_path_buf(),
        })
    }

    async fn create_dir_all(&self, path: &Path) -> Result<()> {
        std::fs::create_dir_all(path).map_err(|e| IoError::from_os("creating directory", path, e))
    }

    async fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| IoError::from_os("listing directory", dir, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| IoError::from_os("listing directory", dir, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    async fn remove_file(&self, path: &Path) -> Result<()> {
        let owned = path.to_path_buf();
        off_thread(move || std::fs::remove_file(owned))
            .await
            .map_err(|e| IoError::from_os("removing", path, e))
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let (source, target) = (from.to_path_buf(), to.to_path_buf());
        off_thread(move || std::fs::rename(source, target))
            .await
            .map_err(|e| IoError::from_os("renaming", from, e))
    }

    async fn remove_dir(&self, path: &Path) -> Result<()> {
        std::fs::remove_dir(path).map_err(|e| IoError::from_os("removing directory", path, e))
    }

    async fn sync_dir(&self, dir: &Path) -> Result<()> {
        let owned = dir.to_path_buf();
        off_thread(move || std::fs::File::open(owned)?.sync_all())
            .await
            .map_err(|e| IoError::from_os("syncing directory", dir, e))
    }
}

impl StorageFile for DmaStorageFile {
    type Buf = DmaBuffer;

    fn path(&self) -> &PathBuf {
        &self.path
    }

    fn alloc_buf(&self, len: usize) -> DmaBuffer {
        assert_eq!(len % BLOCK_BYTES, 0, "DMA buffers are whole blocks");
        // glommio's allocator aligns to 4096 and does not zero; padding past
        // the data must be zeros, because recovery reads zeros as the end.
        let mut buffer = self.file.alloc_dma_buffer(len);
        buffer.as_bytes_mut().fill(0);
        buffer
    }

    async fn write_at(&self, buf: Rc<DmaBuffer>, pos: u64) -> Result<()> {
        debug_assert_eq!(pos % BLOCK_BYTES as u64, 0);
        let expected = (*buf).as_ref().len();
        debug_assert_eq!(expected % BLOCK_BYTES, 0);
        let written = self.file.write_rc_at(buf, pos).await;
        let written = written.map_err(os_error("writing", &self.path))?;
        check_written(&self.path, written, expected)
    }

    async fn read_at(&self, pos: u64, len: usize) -> Result<Chunk> {
        debug_assert_eq!(pos % BLOCK_BYTES as u64, 0);
        if len == 0 {
            return Ok(Chunk::empty());
        }
        // O_DIRECT wants the length aligned too; read whole blocks and hand
        // back the bytes asked for (fewer at the end of the file).
        let read = self
            .file
            .read_at_aligned(pos, super::align_up(len as u64) as usize)
            .await
            .map_err(os_error("reading", &self.path))?;
        let got = read.len().min(len);
        Ok(Chunk::new(Rc::new(ReadOwner(read))).slice(0..got))
    }

    async fn sync(&self) -> Result<()> {
        self.file
            .fdatasync()
            .await
            .map_err(os_error("syncing", &self.path))
    }

    async fn size(&self) -> Result<u64> {
        self.file
            .file_size()
            .await
            .map_err(os_error("sizing", &self.path))
    }

    async fn truncate(&self, len: u64) -> Result<()> {
        self.file
            .truncate(len)
            .await
            .map_err(os_error("truncating", &self.path))
    }

    async fn preallocate(&self, len: u64) -> Result<()> {
        self.file
            .pre_allocate(len, true)
            .await
            .map_err(os_error("preallocating", &self.path))
    }

    async fn close(self) -> Result<()> {
        self.file
            .close()
            .await
            .map_err(os_error("closing", &self.path))
    }
}

/// glommio decides once per thread and device whether the device supports
/// io_uring polled I/O (IOPOLL), by reading the first block of the first
/// `DmaFile` opened there. If that file is empty the read succeeds without
/// touching the device, glommio concludes "yes", and on devices without poll
/// queues (virtio disks, most SSDs without `poll_queues`) every later DMA
/// read on the thread fails with EOPNOTSUPP. A new partition's empty segment
/// is often the first file a shard opens, so before the first open on each
/// device we let glommio probe a file that has a block of data.
mod iopoll_probe {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use glommio::io::DmaFile;

    thread_local! {
        static PROBED_DEVICES: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
    }

    const PROBE_FILE_NAME: &str = ".sluice-iopoll-probe";

    pub(super) async fn prime(path: &Path) {
        let Some(dir) = path.parent() else { return };
        let Ok(device) = std::fs::metadata(dir).map(|m| m.dev()) else {
            return; // the open that follows reports the missing directory
        };
        if PROBED_DEVICES.with(|p| p.borrow().contains(&device)) {
            return;
        }
        PROBED_DEVICES.with(|p| p.borrow_mut().insert(device));
        let probe = dir.join(PROBE_FILE_NAME);
        // Best effort: if the probe cannot be made, glommio probes the next
        // file itself, as it would have without us.
        if std::fs::write(&probe, [0x5au8; super::BLOCK_BYTES]).is_ok() {
            if let Ok(file) = DmaFile::open(&probe).await {
                let _ = file.close().await;
            }
        }
        let _ = std::fs::remove_file(&probe);
    }
}

/// Runs a blocking syscall on the executor's blocking thread pool.
async fn off_thread<R: Send + 'static>(
    call: impl FnOnce() -> io::Result<R> + Send + 'static,
) -> io::Result<R> {
    glommio::executor().spawn_blocking(call).await
}

fn check_written(path: &Path, written: usize, expected: usize) -> Result<()> {
    if written == expected {
        Ok(())
    } else {
        Err(IoError::ShortWrite {
            op: "writing",
            path: path.to_path_buf(),
            written,
            expected,
        })
    }
}
