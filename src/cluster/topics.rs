//! The topic table: names, ids, partition counts and config overrides.
//!
//! Lifecycle: shard 0 (the control shard) owns the [`TopicStore`] on disk and
//! is the only writer. Every shard holds a full [`TopicTable`] copy; shard 0
//! sends each change to every shard as a new versioned table, and a shard
//! applies a table only if its version is newer than the one it has. The
//! table is small and changes rarely, so whole copies keep this simple.
//!
//! On disk, one file per topic under `<log.dir>/.sluice-topics/`:
//!
//! ```text
//! <log.dir>/.sluice-topics/<topic>.properties
//!     topic.id=<uuid>
//!     partitions=<count>
//!     config.<name>=<value>      one line per topic-level override
//! ```
//!
//! written to a temporary name, synced and renamed, so a crash leaves the old
//! file or the new one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

/// Kafka's limit on topic name length.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Partitions one topic may have (a sanity bound; Kafka has none).
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 100_000;
const STORE_DIR: &str = ".sluice-topics";
const SUFFIX: &str = ".properties";

/// One topic as every shard sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: Arc<str>,
    pub id: Uuid,
    pub partitions: i32,
    /// Topic-level config overrides, by Kafka name.
    pub configs: BTreeMap<String, String>,
    /// Kafka's internal topics (`__consumer_offsets`).
    pub internal: bool,
}

/// A versioned, immutable snapshot of every topic.
#[derive(Clone, Debug, Default)]
pub struct TopicTable {
    pub version: u64,
    by_name: BTreeMap<Arc<str>, Arc<TopicInfo>>,
    by_id: BTreeMap<Uuid, Arc<TopicInfo>>,
}

impl TopicTable {
    pub fn get(&self, name: &str) -> Option<&Arc<TopicInfo>> {
        self.by_name.get(name)
    }

    pub fn get_by_id(&self, id: &Uuid) -> Option<&Arc<TopicInfo>> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<TopicInfo>> {
        self.by_name.values()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// A table of exactly `topics` at `version` (cluster mode builds each
    /// from a new cluster view).
    pub fn from_topics(version: u64, topics: impl IntoIterator<Item = TopicInfo>) -> TopicTable {
        let mut table = TopicTable {
            version,
            ..TopicTable::default()
        };
        for topic in topics {
            let topic = Arc::new(topic);
            table.by_id.insert(topic.id, topic.clone());
            table.by_name.insert(topic.name.clone(), topic);
        }
        table
    }

    /// A new table (next version) with `topic` added or replaced.
    pub fn with_topic(&self, topic: TopicInfo) -> TopicTable {
        let mut next = self.clone();
        next.version += 1;
        if let Some(old) = next.by_name.remove(&topic.name) {
            next.by_id.remove(&old.id);
        }
        let topic = Arc::new(topic);
        next.by_id.insert(topic.id, topic.clone());
        next.by_name.insert(topic.name.clone(), topic);
        next
    }

    /// A new table (next version) without `name`.
    pub fn without_topic(&self, name: &str) -> TopicTable {
        let mut next = self.clone();
        next.version += 1;
        if let Some(old) = next.by_name.remove(name) {
            next.by_id.remove(&old.id);
        }
        next
    }
}

/// Why a topic name is refused (Kafka's `InvalidTopicException` rules).
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {TOPIC_NAME_BYTES_MAX} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// The topic files under a log directory. Used by shard 0 only.
pub struct TopicStore {
    dir: PathBuf,
}

impl TopicStore {
    pub fn new(log_dir: &Path) -> std::io::Result<TopicStore> {
        let dir = log_dir.join(STORE_DIR);
        std::fs::create_dir_all(&dir)?;
        Ok(TopicStore { dir })
    }

    /// Reads every topic file. A file that does not parse is an error naming
    /// it: silently dropping a topic would hide its data.
    pub fn load(log_dir: &Path) -> Result<TopicTable, String> {
        let dir = log_dir.join(STORE_DIR);
        let mut table = TopicTable::default();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(table),
            Err(e) => return Err(format!("reading {}: {e}", dir.display())),
        };
        for entry in entries {
            let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file_name.strip_suffix(SUFFIX) else {
                continue; // temporary files of an interrupted write
            };
            let path = entry.path();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let topic = parse_topic(name, &text).map_err(|e| format!("{}: {e}", path.display()))?;
            table = table.with_topic(topic);
        }
        Ok(table)
    }

    /// Writes `topic` durably (temp file, fsync, rename, fsync dir).
    pub fn save(&self, topic: &TopicInfo) -> std::io::Result<()> {
        let mut text = format!("topic.id={}\npartitions={}\n", topic.id, topic.partitions);
        if topic.internal {
            text.push_str("internal=true\n");
        }
        for (name, value) in &topic.configs {
            text.push_str(&format!("config.{name}={value}\n"));
        }
        let path = self.dir.join(format!("{}{SUFFIX}", topic.name));
        let temp = self.dir.join(format!("{}{SUFFIX}.tmp", topic.name));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    pub fn remove(&self, name: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.dir.join(format!("{name}{SUFFIX}"))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

fn parse_topic(name: &str, text: &str) -> Result<TopicInfo, String> {
    validate_topic_name(name)?;
    let mut id = None;
    let mut partitions = None;
    let mut internal = false;
    let mut configs = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("bad line {line:?}"))?;
        match key {
            "topic.id" => id = Some(Uuid::parse_str(value).map_err(|e| format!("topic.id: {e}"))?),
            "partitions" => {
                partitions = Some(
                    value
                        .parse::<i32>()
                        .map_err(|e| format!("partitions: {e}"))?,
                )
            }
            "internal" => internal = value == "true",
            _ => match key.strip_prefix("config.") {
                Some(config) => {
                    configs.insert(config.to_string(), value.to_string());
                }
                None => return Err(format!("unknown key {key:?}")),
            },
        }
    }
    let partitions = partitions.ok_or("missing partitions")?;
    if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
        return Err(format!("partitions {partitions} out of range"));
    }
    Ok(TopicInfo {
        name: name.into(),
        id: id.ok_or("missing topic.id")?,
        partitions,
        configs,
        internal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafkas_rules() {
        assert!(validate_topic_name("orders.v1_x-y").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name(".").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name("ü").is_err());
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
        assert!(validate_topic_name(&"a".repeat(250)).is_err());
    }

    #[test]
    fn store_round_trips_and_tables_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = TopicStore::new(dir.path()).unwrap();
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_string(), "1000".to_string());
        let topic = TopicInfo {
            name: "t".into(),
            id: Uuid::new_v4(),
            partitions: 3,
            configs,
            internal: false,
        };
        store.save(&topic).unwrap();
        let table = TopicStore::load(dir.path()).unwrap();
        assert_eq!(table.get("t").map(|t| (**t).clone()), Some(topic.clone()));
        assert_eq!(table.get_by_id(&topic.id).unwrap().name.as_ref(), "t");
        let next = table.without_topic("t");
        assert!(next.version > table.version && next.is_empty());
        store.remove("t").unwrap();
        assert!(TopicStore::load(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn corrupt_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(STORE_DIR)).unwrap();
        std::fs::write(
            dir.path().join(STORE_DIR).join("t.properties"),
            "partitions=x\n",
        )
        .unwrap();
        let error = TopicStore::load(dir.path()).unwrap_err();
        assert!(error.contains("t.properties"), "{error}");
    }
}
