//! [`MemStorage`]: an in-memory [`Storage`] with fault injection and a seeded
//! power loss, so crash behaviour is tested deterministically by seed.
//!
//! What it models:
//! - **Process kill** ([`MemStorage::kill`]): nothing is lost. A completed
//!   `write_at` is in the page cache (here: `data`) and outlives the process.
//! - **Power loss** ([`MemStorage::crash`]): each file falls back to its last
//!   synced image, then every write since that sync is, independently and in
//!   order, dropped, applied whole, or torn: only a prefix of its 512-byte
//!   sectors lands. Sectors are the unit a device writes atomically, so a torn
//!   write never mixes old and new bytes inside one sector.
//! - **Directory entries**: a file created since the last `sync_dir` of its
//!   directory vanishes in a power loss, even if its own data was synced. A
//!   rename since then is undone: the file is back under its old name (or
//!   gone, if that name was not durable either) and a file it replaced is
//!   back under the new name.
//!
//! Simplifications, each safe because of how the engine uses storage:
//! - `truncate` is durable at once (the engine syncs right after truncating).
//! - Removing a file or directory is durable at once, and creating a directory
//!   is too (directories are created once, at startup, and synced there).
//!   A file removed after being renamed in, before a `sync_dir`, takes the
//!   file it replaced with it (the engine syncs the directory after renames).
//! - Renames stay inside one directory (the engine never moves files between
//!   directories); across directories they fail with EXDEV.
//! - `preallocate` only records the reservation; it never fails.
//!
//! File handles name a file by path and by an identity that a removal or a
//! crash ends: a handle whose file was removed, or that was opened before a
//! crash, gets [`IoError::NotFound`] for every operation (a reboot leaves no
//! open handles behind). Single-threaded: the state is an `Rc<RefCell<..>>`
//! and a clone of [`MemStorage`] shares it. Every async fn completes on its
//! first poll, so `futures::executor::block_on` drives it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{Chunk, IoBuf, OpenMode, Storage, StorageFile, BLOCK_BYTES};
use crate::error::{IoError, Result};

/// The unit a device writes atomically; a torn write lands a prefix of these.
pub const SECTOR_BYTES: usize = 512;

const _: () = assert!(BLOCK_BYTES % SECTOR_BYTES == 0);

/// A `Vec<u8>` write buffer; memory storage needs no alignment in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemBuf(Vec<u8>);

impl AsRef<[u8]> for MemBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for MemBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl IoBuf for MemBuf {
    fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }
}

/// Counters since the storage was created. A write that failed without
/// changing anything is not counted; a short write counts what it wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemStats {
    pub writes: u64,
    pub bytes_written: u64,
    pub syncs: u64,
    pub reads: u64,
    pub bytes_read: u64,
}

/// One file. `data` is what reads see; `synced` is what survives power loss
/// before the `unsynced` writes are replayed at random.
#[derive(Default)]
struct MemFileState {
    id: u64,
    data: Vec<u8>,
    synced: Vec<u8>,
    /// Writes since the last sync, in order: (position, bytes).
    unsynced: Vec<(usize, Vec<u8>)>,
    /// False from creation (or a rename) until a `sync_dir` of the parent.
    entry_durable: bool,
    /// Set by a rename not yet made durable: how a power loss undoes it.
    undo_rename: Option<RenameUndo>,
    reserved_bytes: u64,
}

/// What a power loss restores for a file renamed since the last `sync_dir`.
struct RenameUndo {
    /// The name the file had at the last `sync_dir` (the first of several
    /// renames since then).
    source: PathBuf,
    /// Whether that name was durable; if not, the file vanishes.
    source_was_durable: bool,
    /// Files the renames replaced, with the names they had.
    replaced: Vec<(PathBuf, MemFileState)>,
}

#[derive(Default)]
struct Faults {
    /// Write calls that still succeed before every later one fails with EIO.
    writes_left: Option<u64>,
    short_write_next: bool,
    /// Directory operations (rename, remove, sync_dir) that still succeed
    /// before every later one fails with EIO.
    dir_ops_left: Option<u64>,
    /// Limit on `MemStats::bytes_written`; a write that would pass it fails.
    bytes_written_max: Option<u64>,
    fail_syncs: bool,
}

#[derive(Default)]
struct Inner {
    /// Ordered maps so a crash visits files in the same order for a seed.
    files: BTreeMap<PathBuf, MemFileState>,
    dirs: BTreeSet<PathBuf>,
    id_next: u64,
    faults: Faults,
    stats: MemStats,
}

impl Inner {
    fn dir_exists(&self, path: &Path) -> bool {
        // The root ("/" or "") has no parent and always exists.
        path.parent().is_none() || self.dirs.contains(path)
    }

    /// Files and directories directly inside `dir`.
    fn children<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a PathBuf> + 'a {
        let all = self.files.keys().chain(self.dirs.iter());
        all.filter(move |child| child.parent() == Some(dir))
    }

    /// Counts a directory operation against an injected fault.
    fn dir_op(&mut self, op: &'static str, path: &Path) -> Result<()> {
        if let Some(left) = self.faults.dir_ops_left.as_mut() {
            if *left == 0 {
                return Err(os_error(op, path, libc::EIO));
            }
            *left -= 1;
        }
        Ok(())
    }

    fn take_id(&mut self) -> u64 {
        self.id_next += 1;
        self.id_next
    }
}

fn os_error(op: &'static str, path: &Path, errno: i32) -> IoError {
    IoError::from_os(op, path, io::Error::from_raw_os_error(errno))
}

/// An in-memory directory tree; see the module doc. `Clone` shares it.
#[derive(Clone, Default)]
pub struct MemStorage {
    inner: Rc<RefCell<Inner>>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// A process kill. Completed writes already outlive the process, so there
    /// is nothing to do; it exists so tests say which failure they model.
    pub fn kill(&self) {}

    /// A power loss followed by a reboot, decided by `rng_seed` (see the
    /// module doc). Afterwards every surviving file reads as its new durable
    /// image, and handles opened before the crash report `NotFound`.
    pub fn crash(&self, rng_seed: u64) {
        let mut rng = SplitMix64(rng_seed);
        let mut inner = self.inner.borrow_mut();
        let undurable: Vec<PathBuf> = inner
            .files
            .iter()
            .filter(|(_, file)| !file.entry_durable)
            .map(|(path, _)| path.clone())
            .collect();
        for path in undurable {
            let mut file = inner.files.remove(&path).expect("listed above");
            if let Some(undo) = file.undo_rename.take() {
                for (name, replaced) in undo.replaced {
                    if replaced.entry_durable {
                        inner.files.insert(name, replaced);
                    }
                }
                if undo.source_was_durable {
                    file.entry_durable = true;
                    inner.files.insert(undo.source, file);
                }
            }
        }
        let paths: Vec<PathBuf> = inner.files.keys().cloned().collect();
        for path in paths {
            let id = inner.take_id();
            let file = inner.files.get_mut(&path).expect("listed above");
            let mut image = std::mem::take(&mut file.synced);
            for (pos, bytes) in file.unsynced.drain(..) {
                let sectors = bytes.len().div_ceil(SECTOR_BYTES) as u64;
                let landed = match rng.below(3) {
                    0 => 0,
                    1 => bytes.len(),
                    _ => (rng.below(sectors.max(1)) as usize * SECTOR_BYTES).min(bytes.len()),
                };
                if landed > 0 {
                    apply(&mut image, pos, &bytes[..landed]);
                }
            }
            file.data = image.clone();
            file.synced = image;
            file.id = id;
        }
    }

    /// The next `n` write calls succeed; every later one fails with EIO
    /// (`IoError::Os`) and changes nothing.
    pub fn fail_writes_after(&self, n: u64) {
        self.inner.borrow_mut().faults.writes_left = Some(n);
    }

    /// The next write lands only the first half of its sectors and returns
    /// `IoError::ShortWrite`.
    pub fn short_write_next(&self) {
        self.inner.borrow_mut().faults.short_write_next = true;
    }

    /// A write that would take [`MemStats::bytes_written`] (all bytes ever
    /// written) over `total_bytes` fails with ENOSPC (`IoError::DiskFull`) and
    /// writes nothing.
    pub fn disk_full_after_bytes(&self, total_bytes: u64) {
        self.inner.borrow_mut().faults.bytes_written_max = Some(total_bytes);
    }

    /// While set, `sync` fails with EIO (`IoError::Os`) and makes nothing durable.
    pub fn fail_syncs(&self, fail: bool) {
        self.inner.borrow_mut().faults.fail_syncs = fail;
    }

    /// The next `n` directory operations (rename, remove_file, sync_dir)
    /// succeed; every later one fails with EIO and changes nothing.
    pub fn fail_dir_ops_after(&self, n: u64) {
        self.inner.borrow_mut().faults.dir_ops_left = Some(n);
    }

    pub fn clear_faults(&self) {
        self.inner.borrow_mut().faults = Faults::default();
    }

    pub fn stats(&self) -> MemStats {
        self.inner.borrow().stats
    }

    /// What a read of the whole file would see now.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        self.inner.borrow().files.get(path).map(|f| f.data.clone())
    }

    /// The bytes reserved by `preallocate` (the largest length asked for).
    pub fn reserved_bytes(&self, path: &Path) -> Option<u64> {
        self.inner
            .borrow()
            .files
            .get(path)
            .map(|f| f.reserved_bytes)
    }

    /// Every file's path, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.inner.borrow().files.keys().cloned().collect()
    }
}

/// Copies `bytes` into `image` at `pos`, growing it with zeros as needed.
fn apply(image: &mut Vec<u8>, pos: usize, bytes: &[u8]) {
    let end = pos + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[pos..end].copy_from_slice(bytes);
}

impl Storage for MemStorage {
    type Buf = MemBuf;
    type File = MemFile;

    async fn open(&self, path: &Path, mode: OpenMode) -> Result<MemFile> {
        const OP: &str = "opening";
        let mut inner = self.inner.borrow_mut();
        if inner.dirs.contains(path) {
            return Err(os_error(OP, path, libc::EISDIR));
        }
        let id = match inner.files.get(path) {
            Some(file) => file.id,
            None if mode == OpenMode::Existing => return Err(os_error(OP, path, libc::ENOENT)),
            None => {
                if !inner.dir_exists(path.parent().unwrap_or(Path::new(""))) {
                    return Err(os_error(OP, path, libc::ENOENT));
                }
                let id = inner.take_id();
                let file = MemFileState {
                    id,
                    ..MemFileState::default()
                };
                inner.files.insert(path.to_path_buf(), file);
                id
            }
        };
        Ok(MemFile {
            path: path.to_path_buf(),
            id,
            inner: self.inner.clone(),
        })
    }

    async fn create_dir_all(&self, path: &Path) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        for dir in path.ancestors().filter(|dir| dir.parent().is_some()) {
            if inner.files.contains_key(dir) {
                return Err(os_error("creating directory", dir, libc::ENOTDIR));
            }
            inner.dirs.insert(dir.to_path_buf());
        }
        Ok(())
    }

    async fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        let inner = self.inner.borrow();
        if !inner.dir_exists(dir) {
            return Err(os_error("listing", dir, libc::ENOENT));
        }
        let names = inner
            .children(dir)
            .filter_map(|child| child.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        Ok(names)
    }

    async fn remove_file(&self, path: &Path) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        if inner.dirs.contains(path) {
            return Err(os_error("removing", path, libc::EISDIR));
        }
        inner.dir_op("removing", path)?;
        match inner.files.remove(path) {
            Some(_) => Ok(()),
            None => Err(os_error("removing", path, libc::ENOENT)),
        }
    }

    async fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        const OP: &str = "renaming";
        let mut inner = self.inner.borrow_mut();
        if inner.dirs.contains(from) || inner.dirs.contains(to) {
            return Err(os_error(OP, from, libc::EISDIR));
        }
        if !inner.files.contains_key(from) {
            return Err(os_error(OP, from, libc::ENOENT));
        }
        if from.parent() != to.parent() {
            return Err(os_error(OP, from, libc::EXDEV));
        }
        inner.dir_op(OP, from)?;
        if from == to {
            return Ok(());
        }
        let mut file = inner.files.remove(from).expect("checked");
        let replaced = inner.files.remove(to);
        let mut undo = file.undo_rename.take().unwrap_or_else(|| RenameUndo {
            source: from.to_path_buf(),
            source_was_durable: file.entry_durable,
            replaced: Vec::new(),
        });
        if let Some(replaced) = replaced {
            undo.replaced.push((to.to_path_buf(), replaced));
        }
        file.undo_rename = Some(undo);
        file.entry_durable = false;
        inner.files.insert(to.to_path_buf(), file);
        Ok(())
    }

    async fn remove_dir(&self, path: &Path) -> Result<()> {
        const OP: &str = "removing directory";
        let mut inner = self.inner.borrow_mut();
        if !inner.dirs.contains(path) {
            return Err(os_error(OP, path, libc::ENOENT));
        }
        if inner.children(path).next().is_some() {
            return Err(os_error(OP, path, libc::ENOTEMPTY));
        }
        inner.dirs.remove(path);
        Ok(())
    }

    async fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        if !inner.dir_exists(dir) {
            return Err(os_error("syncing directory", dir, libc::ENOENT));
        }
        inner.dir_op("syncing directory", dir)?;
        for (path, file) in inner.files.iter_mut() {
            if path.parent() == Some(dir) {
                file.entry_durable = true;
                file.undo_rename = None;
            }
        }
        Ok(())
    }
}

/// An open file of a [`MemStorage`]: its path and identity plus the shared
/// state. Opening one path twice gives two handles on the same bytes.
pub struct MemFile {
    path: PathBuf,
    id: u64,
    inner: Rc<RefCell<Inner>>,
}

impl MemFile {
    /// Runs `f` on this handle's file, or fails with `NotFound` when the file
    /// was removed or a crash came between the open and now.
    fn with_file<R>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut MemFileState, &mut Faults, &mut MemStats) -> Result<R>,
    ) -> Result<R> {
        let inner = &mut *self.inner.borrow_mut();
        match inner.files.get_mut(&self.path) {
            Some(file) if file.id == self.id => f(file, &mut inner.faults, &mut inner.stats),
            _ => Err(os_error(op, &self.path, libc::ENOENT)),
        }
    }
}

impl StorageFile for MemFile {
    type Buf = MemBuf;

    fn path(&self) -> &PathBuf {
        &self.path
    }

    fn alloc_buf(&self, len: usize) -> MemBuf {
        assert_eq!(len % BLOCK_BYTES, 0, "unaligned buffer length");
        MemBuf(vec![0; len])
    }

    async fn write_at(&self, buf: Rc<MemBuf>, pos: u64) -> Result<()> {
        const OP: &str = "writing";
        let bytes = (*buf).as_ref();
        assert_eq!(pos % BLOCK_BYTES as u64, 0, "unaligned write position");
        assert_eq!(bytes.len() % BLOCK_BYTES, 0, "unaligned write length");
        self.with_file(OP, |file, faults, stats| {
            if let Some(left) = faults.writes_left.as_mut() {
                if *left == 0 {
                    return Err(os_error(OP, &self.path, libc::EIO));
                }
                *left -= 1;
            }
            if let Some(max) = faults.bytes_written_max {
                if stats.bytes_written + bytes.len() as u64 > max {
                    return Err(os_error(OP, &self.path, libc::ENOSPC));
                }
            }
            let short = std::mem::take(&mut faults.short_write_next);
            // Half of a block-aligned length is still whole sectors.
            let written = if short { bytes.len() / 2 } else { bytes.len() };
            apply(&mut file.data, pos as usize, &bytes[..written]);
            file.unsynced
                .push((pos as usize, bytes[..written].to_vec()));
            stats.writes += 1;
            stats.bytes_written += written as u64;
            if short {
                return Err(IoError::ShortWrite {
                    op: OP,
                    path: self.path.clone(),
                    written,
                    expected: bytes.len(),
                });
            }
            Ok(())
        })
    }

    async fn read_at(&self, pos: u64, len: usize) -> Result<Chunk> {
        assert_eq!(pos % BLOCK_BYTES as u64, 0, "unaligned read position");
        self.with_file("reading", |file, _, stats| {
            let start = (pos as usize).min(file.data.len());
            let end = start.saturating_add(len).min(file.data.len());
            stats.reads += 1;
            stats.bytes_read += (end - start) as u64;
            Ok(Chunk::new(Rc::new(file.data[start..end].to_vec())))
        })
    }

    async fn sync(&self) -> Result<()> {
        self.with_file("syncing", |file, faults, stats| {
            if faults.fail_syncs {
                return Err(os_error("syncing", &self.path, libc::EIO));
            }
            file.synced.clone_from(&file.data);
            file.unsynced.clear();
            stats.syncs += 1;
            Ok(())
        })
    }

    async fn size(&self) -> Result<u64> {
        self.with_file("getting the size of", |f, _, _| Ok(f.data.len() as u64))
    }

    async fn truncate(&self, len: u64) -> Result<()> {
        let len = len as usize;
        self.with_file("truncating", |file, _, _| {
            file.data.truncate(len);
            file.synced.truncate(len);
            // Unsynced bytes past the cut are gone from the durable picture too.
            file.unsynced.retain_mut(|(pos, bytes)| {
                bytes.truncate(len.saturating_sub(*pos));
                !bytes.is_empty()
            });
            Ok(())
        })
    }

    async fn preallocate(&self, len: u64) -> Result<()> {
        self.with_file("preallocating", |file, _, _| {
            file.reserved_bytes = file.reserved_bytes.max(len);
            Ok(())
        })
    }

    async fn close(self) -> Result<()> {
        Ok(())
    }
}

/// SplitMix64: a tiny seeded generator, so crashes need no `rand` at runtime
/// and a seed means the same crash on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; the modulo bias is irrelevant for fault choices.
    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next() % n
    }
}

#[cfg(test)]
mod tests {
    use super::super::read_whole;
    use super::*;
    use futures::executor::block_on;

    const BLOCK: u64 = BLOCK_BYTES as u64;

    fn open(storage: &MemStorage, path: &str) -> Result<MemFile> {
        block_on(storage.open(Path::new(path), OpenMode::CreateIfMissing))
    }

    /// Writes `blocks` blocks of `byte` at block `at`.
    fn write(file: &MemFile, at: u64, blocks: usize, byte: u8) -> Result<()> {
        let mut buf = file.alloc_buf(blocks * BLOCK_BYTES);
        buf.as_mut().fill(byte);
        block_on(file.write_at(Rc::new(buf), at * BLOCK))
    }

    fn bytes(storage: &MemStorage) -> Vec<u8> {
        storage.file_bytes(Path::new("/d/f")).unwrap()
    }

    fn not_found<T>(result: Result<T>) -> bool {
        matches!(result, Err(IoError::NotFound { .. }))
    }

    /// A storage with "/d" created and synced, and "/d/f" open in it.
    fn setup() -> (MemStorage, MemFile) {
        let storage = MemStorage::new();
        block_on(storage.create_dir_all(Path::new("/d"))).unwrap();
        let file = open(&storage, "/d/f").unwrap();
        block_on(storage.sync_dir(Path::new("/d"))).unwrap();
        (storage, file)
    }

    #[test]
    fn write_read_round_trip_and_short_read_past_eof() {
        let (storage, file) = setup();
        write(&file, 0, 2, 7).unwrap();
        write(&file, 4, 1, 9).unwrap();
        assert_eq!(block_on(file.size()).unwrap(), 5 * BLOCK);
        let chunk = block_on(file.read_at(0, 2 * BLOCK_BYTES)).unwrap();
        assert!(chunk.len() == 2 * BLOCK_BYTES && chunk.as_slice().iter().all(|&b| b == 7));
        // The gap reads as zeros; reads past the end are short.
        let tail = block_on(file.read_at(2 * BLOCK, 10 * BLOCK_BYTES)).unwrap();
        assert_eq!(tail.len(), 3 * BLOCK_BYTES);
        assert!(tail.as_slice()[..2 * BLOCK_BYTES].iter().all(|&b| b == 0));
        assert!(block_on(file.read_at(8 * BLOCK, 100)).unwrap().is_empty());
        // A second handle sees the same bytes.
        let again = block_on(storage.open(Path::new("/d/f"), OpenMode::Existing)).unwrap();
        assert_eq!(block_on(read_whole(&again)).unwrap().len(), 5 * BLOCK_BYTES);
        let stats = storage.stats();
        assert_eq!((stats.writes, stats.reads), (2, 4));
        assert_eq!(stats.bytes_written, 3 * BLOCK);
    }

    #[test]
    fn crash_keeps_synced_bytes_and_each_sector_is_old_or_new() {
        let sectors_per_write = 2 * BLOCK_BYTES / SECTOR_BYTES;
        let mut outcomes = BTreeSet::new();
        for seed in 0..200 {
            let (storage, file) = setup();
            write(&file, 0, 2, 0xAA).unwrap();
            block_on(file.sync()).unwrap();
            // Overwrite block 1 and append block 2, unsynced.
            write(&file, 1, 2, 0xBB).unwrap();
            storage.kill();
            assert_eq!(bytes(&storage).len(), 3 * BLOCK_BYTES);
            storage.crash(seed);
            let bytes = bytes(&storage);
            assert!(bytes.len() >= 2 * BLOCK_BYTES && bytes.len() % SECTOR_BYTES == 0);
            assert!(
                bytes[..BLOCK_BYTES].iter().all(|&b| b == 0xAA),
                "seed {seed}"
            );
            // The write lands as a prefix of whole sectors; past the old end
            // there is nothing but new bytes.
            let mut landed = 0;
            for (i, sector) in bytes[BLOCK_BYTES..].chunks(SECTOR_BYTES).enumerate() {
                assert!(
                    sector.iter().all(|&b| b == sector[0]),
                    "seed {seed}: mixed sector"
                );
                if sector[0] == 0xBB {
                    assert_eq!(landed, i, "seed {seed}: landed sectors are not a prefix");
                    landed += 1;
                } else {
                    assert!(
                        sector[0] == 0xAA && i < sectors_per_write / 2,
                        "seed {seed}"
                    );
                }
            }
            outcomes.insert(landed);
            // After the reboot the storage works and the old handle is stale.
            assert!(not_found(block_on(file.size())));
            let reopened = open(&storage, "/d/f").unwrap();
            write(&reopened, 0, 1, 1).unwrap();
        }
        // Dropped, whole and torn writes all happened.
        assert!(outcomes.contains(&0) && outcomes.contains(&sectors_per_write));
        assert!(outcomes.iter().any(|&n| n > 0 && n < sectors_per_write));
    }

    #[test]
    fn same_seed_same_crash() {
        let run = |seed| {
            let (storage, file) = setup();
            for i in 0..8u8 {
                write(&file, u64::from(i), 1, i + 1).unwrap();
            }
            storage.crash(seed);
            bytes(&storage)
        };
        assert_eq!(run(42), run(42));
    }

    #[test]
    fn unsynced_directory_entry_vanishes() {
        let (storage, _file) = setup();
        let new = open(&storage, "/d/new").unwrap();
        write(&new, 0, 1, 3).unwrap();
        block_on(new.sync()).unwrap();
        storage.crash(1);
        assert_eq!(storage.paths(), [PathBuf::from("/d/f")]);
        let new = open(&storage, "/d/new").unwrap();
        block_on(new.sync()).unwrap();
        block_on(storage.sync_dir(Path::new("/d"))).unwrap();
        storage.crash(2);
        assert_eq!(storage.paths().len(), 2);
    }

    #[test]
    fn renames_replace_and_a_power_loss_undoes_unsynced_ones() {
        let (storage, file) = setup();
        write(&file, 0, 1, 1).unwrap();
        block_on(file.sync()).unwrap();
        let new = open(&storage, "/d/new").unwrap();
        write(&new, 0, 1, 2).unwrap();
        block_on(new.sync()).unwrap();
        block_on(storage.sync_dir(Path::new("/d"))).unwrap();
        let rename =
            |from: &str, to: &str| block_on(storage.rename(Path::new(from), Path::new(to)));
        // Replacing: "/d/f" now holds the new file's bytes.
        rename("/d/new", "/d/f").unwrap();
        assert_eq!(bytes(&storage)[0], 2);
        assert_eq!(storage.paths(), [PathBuf::from("/d/f")]);
        assert!(
            not_found(block_on(file.size())),
            "the replaced file's handle"
        );
        storage.crash(3);
        // Not synced: both names are back as they were.
        assert_eq!(storage.paths().len(), 2);
        assert_eq!(bytes(&storage)[0], 1);
        assert_eq!(storage.file_bytes(Path::new("/d/new")).unwrap()[0], 2);
        // Synced: it stays.
        rename("/d/new", "/d/f").unwrap();
        block_on(storage.sync_dir(Path::new("/d"))).unwrap();
        storage.crash(4);
        assert_eq!(storage.paths(), [PathBuf::from("/d/f")]);
        assert_eq!(bytes(&storage)[0], 2);
        // A file created and renamed without a sync vanishes.
        let temp = open(&storage, "/d/temp").unwrap();
        write(&temp, 0, 1, 3).unwrap();
        rename("/d/temp", "/d/other").unwrap();
        storage.crash(5);
        assert_eq!(storage.paths(), [PathBuf::from("/d/f")]);
        assert!(not_found(rename("/d/missing", "/d/x")));
        block_on(storage.create_dir_all(Path::new("/e"))).unwrap();
        assert!(rename("/d/f", "/e/f").is_err());
        // Directory operations can be made to fail.
        storage.fail_dir_ops_after(1);
        block_on(storage.sync_dir(Path::new("/d"))).unwrap();
        assert!(block_on(storage.sync_dir(Path::new("/d"))).is_err());
        assert!(rename("/d/f", "/d/g").is_err());
        assert_eq!(storage.paths(), [PathBuf::from("/d/f")]);
    }

    #[test]
    fn faults_return_their_error_and_leave_data_unchanged() {
        let (storage, file) = setup();
        write(&file, 0, 2, 1).unwrap();
        let before = bytes(&storage);

        storage.fail_writes_after(1);
        write(&file, 0, 1, 2).unwrap();
        let after_one = bytes(&storage);
        let err = write(&file, 0, 1, 3).unwrap_err();
        assert!(matches!(err, IoError::Os { .. }), "{err}");
        assert_eq!(bytes(&storage), after_one);
        storage.clear_faults();

        write(&file, 0, 2, 1).unwrap();
        storage.disk_full_after_bytes(storage.stats().bytes_written + BLOCK);
        let err = write(&file, 0, 2, 4).unwrap_err();
        assert!(matches!(err, IoError::DiskFull { .. }), "{err}");
        assert_eq!(bytes(&storage), before);
        write(&file, 0, 1, 1).unwrap();
        storage.clear_faults();

        storage.short_write_next();
        let err = write(&file, 0, 2, 5).unwrap_err();
        assert!(matches!(err, IoError::ShortWrite { written, expected, .. }
            if written == BLOCK_BYTES && expected == 2 * BLOCK_BYTES));
        let after_short = bytes(&storage);
        assert!(after_short[..BLOCK_BYTES].iter().all(|&b| b == 5));
        assert!(after_short[BLOCK_BYTES..].iter().all(|&b| b == 1));

        storage.fail_syncs(true);
        let err = block_on(file.sync()).unwrap_err();
        assert!(matches!(err, IoError::Os { .. }) && err.is_storage_failure());
        storage.fail_syncs(false);
        block_on(file.sync()).unwrap();
        assert_eq!(storage.stats().syncs, 1);
    }

    #[test]
    fn truncate_and_preallocate() {
        let (storage, file) = setup();
        write(&file, 0, 2, 6).unwrap();
        block_on(file.preallocate(1 << 20)).unwrap();
        assert_eq!(block_on(file.size()).unwrap(), 2 * BLOCK);
        assert_eq!(storage.reserved_bytes(Path::new("/d/f")), Some(1 << 20));
        block_on(file.truncate(100)).unwrap();
        assert_eq!(block_on(file.size()).unwrap(), 100);
        storage.crash(7);
        let bytes = bytes(&storage);
        assert!(bytes.len() <= 100 && bytes.iter().all(|&b| b == 6));
    }

    #[test]
    fn directories_list_remove_and_missing() {
        let storage = MemStorage::new();
        let list = |dir: &str| block_on(storage.list_dir(Path::new(dir)));
        assert!(not_found(open(&storage, "/a/f")));
        assert!(not_found(block_on(
            storage.open(Path::new("/f"), OpenMode::Existing)
        )));
        assert!(not_found(list("/a")));

        block_on(storage.create_dir_all(Path::new("/a/b/c"))).unwrap();
        let file = open(&storage, "/a/f").unwrap();
        let mut names = list("/a").unwrap();
        names.sort();
        assert_eq!(names, ["b", "f"]);
        assert_eq!(list("/").unwrap(), ["a"]);

        let err = block_on(storage.remove_dir(Path::new("/a/b"))).unwrap_err();
        assert!(matches!(err, IoError::Os { .. }), "{err}");
        block_on(storage.remove_dir(Path::new("/a/b/c"))).unwrap();
        block_on(storage.remove_dir(Path::new("/a/b"))).unwrap();

        block_on(storage.remove_file(Path::new("/a/f"))).unwrap();
        assert!(not_found(block_on(file.size())));
        assert!(not_found(block_on(storage.remove_file(Path::new("/a/f")))));
        assert!(list("/a").unwrap().is_empty() && storage.paths().is_empty());
    }
}
