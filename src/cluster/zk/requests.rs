//! One [`Request`] against the `zookeeper-client` session, on the ZooKeeper
//! thread: the call, the error mapping, and the watch it may leave behind.

use futures::future::LocalBoxFuture;
use futures::FutureExt;
use zookeeper_client as zk;

use super::{
    CreateMode, Reply, Request, WatchKind, ZkError, ZkOp, ZkOpResult, ZkStat, CHILDREN_MAX,
};

/// A pending one-shot watch: resolves to the event, or None when the
/// session ended first (expiry is reported on its own).
pub(super) type PendingWatch = LocalBoxFuture<'static, Option<(String, WatchKind)>>;

fn error(path: &str, error: zk::Error) -> ZkError {
    let path = path.to_string();
    match error {
        zk::Error::NoNode => ZkError::NoNode { path },
        zk::Error::NodeExists => ZkError::NodeExists { path },
        zk::Error::BadVersion => ZkError::BadVersion { path },
        zk::Error::NotEmpty => ZkError::NotEmpty { path },
        zk::Error::NoChildrenForEphemerals => ZkError::NoChildrenForEphemerals { path },
        zk::Error::SessionExpired | zk::Error::SessionMoved => ZkError::SessionExpired,
        zk::Error::ConnectionLoss => ZkError::ConnectionLoss,
        // The client fails the requests on a connection it gave up (no
        // response within its idle timeout, a read or write error) with a
        // custom error: a connection loss, whatever the wording.
        zk::Error::Custom(detail) => {
            tracing::debug!("{path}: connection failed under the request: {detail}");
            ZkError::ConnectionLoss
        }
        zk::Error::ClientClosed => ZkError::Closed,
        other => ZkError::Other {
            path,
            message: other.to_string(),
        },
    }
}

pub(super) fn stat(stat: &zk::Stat) -> ZkStat {
    ZkStat {
        version: stat.version,
        cversion: stat.cversion,
        czxid: stat.czxid,
        mzxid: stat.mzxid,
        ctime_ms: stat.ctime,
        mtime_ms: stat.mtime,
        ephemeral_owner: stat.ephemeral_owner,
        data_length: stat.data_length,
        num_children: stat.num_children,
    }
}

fn options(mode: CreateMode) -> zk::CreateOptions<'static> {
    let mode = match mode {
        CreateMode::Persistent => zk::CreateMode::Persistent,
        CreateMode::PersistentSequential => zk::CreateMode::PersistentSequential,
        CreateMode::Ephemeral => zk::CreateMode::Ephemeral,
        CreateMode::EphemeralSequential => zk::CreateMode::EphemeralSequential,
    };
    // Kafka's default ACL without zookeeper.set.acl: open to everyone.
    mode.with_acls(zk::Acls::anyone_all())
}

fn directory() -> zk::CreateOptions<'static> {
    options(CreateMode::Persistent)
}

fn parent_of(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) | None => None,
        Some(at) => Some(&path[..at]),
    }
}

fn is_sequential(mode: CreateMode) -> bool {
    matches!(
        mode,
        CreateMode::PersistentSequential | CreateMode::EphemeralSequential
    )
}

fn watch_future(path: String, watcher: zk::OneshotWatcher) -> PendingWatch {
    async move {
        let event = watcher.changed().await;
        let kind = match event.event_type {
            zk::EventType::NodeCreated => WatchKind::NodeCreated,
            zk::EventType::NodeDeleted => WatchKind::NodeDeleted,
            zk::EventType::NodeDataChanged => WatchKind::NodeDataChanged,
            zk::EventType::NodeChildrenChanged => WatchKind::NodeChildrenChanged,
            // The session ended: the expiry event covers every watch.
            zk::EventType::Session => return None,
        };
        let path = if event.path.is_empty() {
            path
        } else {
            event.path
        };
        Some((path, kind))
    }
    .boxed_local()
}

async fn create(
    client: &zk::Client,
    path: &str,
    data: &[u8],
    mode: CreateMode,
    parents: bool,
) -> Result<String, ZkError> {
    let options = options(mode);
    let mut result = client.create(path, data, &options).await;
    if parents && matches!(result, Err(zk::Error::NoNode)) {
        if let Some(parent) = parent_of(path) {
            client
                .mkdir(parent, &directory())
                .await
                .map_err(|e| error(parent, e))?;
            result = client.create(path, data, &options).await;
        }
    }
    let (_, sequence) = result.map_err(|e| error(path, e))?;
    Ok(if is_sequential(mode) {
        format!("{path}{sequence}")
    } else {
        path.to_string()
    })
}

fn checked_children(path: &str, children: Vec<String>) -> Result<Vec<String>, ZkError> {
    if children.len() > CHILDREN_MAX {
        return Err(ZkError::TooManyChildren {
            path: path.to_string(),
        });
    }
    let mut children = children;
    children.sort_unstable();
    Ok(children)
}

/// Deletes the subtree bottom-up, each level's children listed fresh;
/// nodes that vanish meanwhile are fine.
async fn delete_recursive(client: &zk::Client, root: &str) -> Result<(), ZkError> {
    // An explicit stack, not recursion: async recursion needs boxing, and
    // the depth is the tree's (a handful for Kafka's layout).
    let mut stack = vec![(root.to_string(), false)];
    while let Some((path, listed)) = stack.pop() {
        if listed {
            match client.delete(&path, None).await {
                Ok(()) | Err(zk::Error::NoNode) => continue,
                Err(e) => return Err(error(&path, e)),
            }
        }
        let children = match client.list_children(&path).await {
            Ok(children) => checked_children(&path, children)?,
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(error(&path, e)),
        };
        stack.push((path.clone(), true));
        let prefix = if path == "/" { String::new() } else { path };
        for child in children {
            stack.push((format!("{prefix}/{child}"), false));
        }
    }
    Ok(())
}

async fn multi(client: &zk::Client, ops: &[ZkOp]) -> Result<Vec<ZkOpResult>, ZkError> {
    let path_of = |index: usize| match ops.get(index) {
        Some(
            ZkOp::Create { path, .. }
            | ZkOp::SetData { path, .. }
            | ZkOp::Delete { path, .. }
            | ZkOp::CheckVersion { path, .. },
        ) => path.as_str(),
        None => "",
    };
    let mut writer = client.new_multi_writer();
    for (index, op) in ops.iter().enumerate() {
        let added = match op {
            ZkOp::Create { path, data, mode } => writer.add_create(path, data, &options(*mode)),
            ZkOp::SetData {
                path,
                data,
                expected_version,
            } => writer.add_set_data(path, data, *expected_version),
            ZkOp::Delete {
                path,
                expected_version,
            } => writer.add_delete(path, *expected_version),
            ZkOp::CheckVersion { path, version } => writer.add_check_version(path, *version),
        };
        added.map_err(|e| error(path_of(index), e))?;
    }
    let results = writer.commit().await.map_err(|e| match e {
        zk::MultiWriteError::OperationFailed { index, source } => error(path_of(index), source),
        zk::MultiWriteError::RequestFailed { source } => error("", source),
    })?;
    results
        .into_iter()
        .map(|result| match result {
            zk::MultiWriteResult::Check => Ok(ZkOpResult::Checked),
            zk::MultiWriteResult::Delete => Ok(ZkOpResult::Deleted),
            zk::MultiWriteResult::Create { path, .. } => Ok(ZkOpResult::Created { path }),
            zk::MultiWriteResult::SetData { stat: s } => Ok(ZkOpResult::SetData { stat: stat(&s) }),
            other => Err(ZkError::Other {
                path: String::new(),
                message: format!("unexpected multi result {other:?}"),
            }),
        })
        .collect()
}

/// Runs one request; a watching request that succeeded also returns its
/// pending watch.
pub(super) async fn run(
    client: zk::Client,
    request: Request,
) -> (Result<Reply, ZkError>, Option<PendingWatch>) {
    match request {
        Request::Create {
            path,
            data,
            mode,
            parents,
        } => (
            create(&client, &path, &data, mode, parents)
                .await
                .map(Reply::Created),
            None,
        ),
        Request::EnsurePath { path } => {
            let result = client.mkdir(&path, &directory()).await;
            (
                result.map(|()| Reply::Done).map_err(|e| error(&path, e)),
                None,
            )
        }
        Request::GetData { path, watch: false } => {
            let result = client.get_data(&path).await;
            let reply = result
                .map(|(data, s)| Reply::Data(data, stat(&s)))
                .map_err(|e| error(&path, e));
            (reply, None)
        }
        Request::GetData { path, watch: true } => match client.get_and_watch_data(&path).await {
            Ok((data, s, watcher)) => (
                Ok(Reply::Data(data, stat(&s))),
                Some(watch_future(path, watcher)),
            ),
            Err(e) => (Err(error(&path, e)), None),
        },
        Request::SetData {
            path,
            data,
            expected_version,
        } => {
            let result = client.set_data(&path, &data, expected_version).await;
            (
                result
                    .map(|s| Reply::Stat(stat(&s)))
                    .map_err(|e| error(&path, e)),
                None,
            )
        }
        Request::Exists { path, watch: false } => {
            let result = client.check_stat(&path).await;
            let reply = result
                .map(|s| Reply::MaybeStat(s.as_ref().map(stat)))
                .map_err(|e| error(&path, e));
            (reply, None)
        }
        Request::Exists { path, watch: true } => match client.check_and_watch_stat(&path).await {
            Ok((s, watcher)) => (
                Ok(Reply::MaybeStat(s.as_ref().map(stat))),
                Some(watch_future(path, watcher)),
            ),
            Err(e) => (Err(error(&path, e)), None),
        },
        Request::Children { path, watch: false } => {
            let result = client.list_children(&path).await;
            let reply = match result {
                Ok(children) => checked_children(&path, children).map(Reply::Children),
                Err(e) => Err(error(&path, e)),
            };
            (reply, None)
        }
        Request::Children { path, watch: true } => {
            match client.list_and_watch_children(&path).await {
                Ok((children, watcher)) => {
                    let watch = watch_future(path.clone(), watcher);
                    (
                        checked_children(&path, children).map(Reply::Children),
                        Some(watch),
                    )
                }
                Err(e) => (Err(error(&path, e)), None),
            }
        }
        Request::Delete {
            path,
            expected_version,
        } => {
            let result = client.delete(&path, expected_version).await;
            (
                result.map(|()| Reply::Done).map_err(|e| error(&path, e)),
                None,
            )
        }
        Request::DeleteRecursive { path } => (
            delete_recursive(&client, &path).await.map(|()| Reply::Done),
            None,
        ),
        Request::Multi(ops) => (multi(&client, &ops).await.map(Reply::Multi), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(parent_of("/a/b/c"), Some("/a/b"));
        assert_eq!(parent_of("/a"), None);
        assert_eq!(parent_of("a"), None);
    }

    #[test]
    fn errors_keep_the_path() {
        assert_eq!(
            error("/x", zk::Error::NoNode),
            ZkError::NoNode { path: "/x".into() }
        );
        assert_eq!(
            error("/x", zk::Error::SessionMoved),
            ZkError::SessionExpired
        );
        assert!(matches!(
            error("/x", zk::Error::NoAuth),
            ZkError::Other { ref path, .. } if path == "/x"
        ));
    }
}
