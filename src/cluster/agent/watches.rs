//! Which one-shot ZooKeeper watches this session has pending, so each path
//! is watched once: a second watch on the same path would fire a second
//! event for the same change.
//!
//! ZooKeeper has two kinds: node watches (set by `getData` and `exists`;
//! fired by a create, a data change or a delete) and child watches (set by
//! `getChildren`; fired by a child added or removed, or the node deleted).

use std::collections::HashSet;

use crate::cluster::zk::WatchKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Watch {
    Node,
    Children,
}

#[derive(Default)]
pub(super) struct Watches {
    armed: HashSet<(String, Watch)>,
}

impl Watches {
    /// Whether the caller should set `watch` on `path` now (true once, until
    /// it fires).
    pub(super) fn arm(&mut self, path: &str, watch: Watch) -> bool {
        self.armed.insert((path.to_string(), watch))
    }

    /// A watch on `path` fired with `kind`: what it covered is disarmed.
    pub(super) fn fired(&mut self, path: &str, kind: WatchKind) {
        let fired: &[Watch] = match kind {
            WatchKind::NodeChildrenChanged => &[Watch::Children],
            WatchKind::NodeCreated | WatchKind::NodeDataChanged => &[Watch::Node],
            WatchKind::NodeDeleted => &[Watch::Node, Watch::Children],
        };
        for watch in fired {
            self.armed.remove(&(path.to_string(), *watch));
        }
    }

    /// A new session has no watches.
    pub(super) fn clear(&mut self) {
        self.armed.clear();
    }

    /// Forgets the watch of an operation that failed (it was not set).
    pub(super) fn disarm(&mut self, path: &str, watch: Watch) {
        self.armed.remove(&(path.to_string(), watch));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_watched_once_until_it_fires() {
        let mut watches = Watches::default();
        assert!(watches.arm("/brokers/ids", Watch::Children));
        assert!(!watches.arm("/brokers/ids", Watch::Children));
        assert!(watches.arm("/brokers/ids", Watch::Node));
        watches.fired("/brokers/ids", WatchKind::NodeChildrenChanged);
        assert!(watches.arm("/brokers/ids", Watch::Children));
        assert!(!watches.arm("/brokers/ids", Watch::Node));
        watches.fired("/brokers/ids", WatchKind::NodeDeleted);
        assert!(watches.arm("/brokers/ids", Watch::Node));
        assert!(watches.arm("/brokers/ids", Watch::Children));
    }
}
