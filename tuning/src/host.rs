//! [`Host`]: the `/proc` and `/sys` trees the checks read and `--apply`
//! writes, under a root directory so tests can point every check at a fake
//! tree in a temporary directory.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::TuneError;

/// A host's kernel interfaces, found under `root` (`/` for the real host).
///
/// Paths given to its methods are the host's absolute paths
/// (`/proc/sys/vm/swappiness`); they are looked up under `root`.
#[derive(Clone, Debug)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    pub fn new(root: impl Into<PathBuf>) -> Host {
        Host { root: root.into() }
    }

    /// The machine this process runs on.
    pub fn live() -> Host {
        Host::new("/")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the host's absolute `path` is under the root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The file's contents without surrounding whitespace, `None` when the
    /// file does not exist on this host (a knob this kernel or machine lacks).
    pub fn read(&self, path: &str) -> Result<Option<String>, TuneError> {
        let full = self.path(path);
        match std::fs::read_to_string(&full) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(TuneError::Read { path: full, source }),
        }
    }

    /// Like [`Host::read`], for a knob that must be present: a missing file
    /// is reported as "not available here" by the caller.
    pub fn read_present(&self, path: &str) -> Result<String, String> {
        match self.read(path) {
            Ok(Some(text)) => Ok(text),
            Ok(None) => Err(format!("{path} does not exist on this host")),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Writes `value` to a kernel file (sysctl, sysfs attribute).
    pub fn write(&self, path: &str, value: &str) -> Result<(), TuneError> {
        let full = self.path(path);
        std::fs::write(&full, value).map_err(|source| TuneError::Write {
            path: full,
            value: value.to_string(),
            source,
        })
    }

    /// Names in a directory, sorted; empty when it does not exist.
    pub fn list(&self, path: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.path(path)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// The host path a sysfs link such as `/sys/dev/block/259:1` points to,
    /// symlinks resolved, as a host path again (without the root prefix).
    pub fn resolve(&self, path: &str) -> Option<String> {
        let full = std::fs::canonicalize(self.path(path)).ok()?;
        let root = std::fs::canonicalize(&self.root).ok()?;
        let inside = full.strip_prefix(&root).ok()?;
        Some(format!("/{}", inside.to_string_lossy()))
    }

    /// The CPUs the kernel has online (`/sys/devices/system/cpu/online`);
    /// one CPU when the file is missing.
    pub fn online_cpus(&self) -> Vec<u32> {
        self.read("/sys/devices/system/cpu/online")
            .ok()
            .flatten()
            .and_then(|text| crate::parse::cpu_list(&text).ok())
            .filter(|cpus| !cpus.is_empty())
            .unwrap_or_else(|| vec![0])
    }
}
