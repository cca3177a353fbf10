//! The ZooKeeper session (`sluice::cluster::zk`) against a real ZooKeeper
//! (Debian's package, started by the test), awaited from a glommio executor
//! as shard 0 will: requests, watches, ephemerals, chroot creation, a forced
//! session expiry and a ZooKeeper restart. Skips when java or the package is
//! missing.

mod support;

use std::future::Future;
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};
use sluice::cluster::zk::{
    CreateMode, WatchKind, ZkError, ZkEvent, ZkEvents, ZkOp, ZkOpResult, ZkSession,
};
use sluice::config::{parse_zookeeper_connect, ZookeeperConfig};
use support::zookeeper::{self, ZooKeeper};

const ANSWER: Duration = Duration::from_secs(20);

fn config(connect: &str, session_timeout_ms: u32) -> ZookeeperConfig {
    let connect = parse_zookeeper_connect(connect).unwrap().unwrap();
    ZookeeperConfig {
        servers: connect.servers,
        chroot: connect.chroot,
        session_timeout_ms,
        connection_timeout_ms: 15_000,
    }
}

/// Runs `test` on a glommio executor, as the broker's shard 0.
fn on_glommio<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    LocalExecutorBuilder::new(Placement::Unbound)
        .name("shard-0")
        .spawn(test)
        .unwrap()
        .join()
        .unwrap();
}

async fn within<T>(what: &str, limit: Duration, work: impl Future<Output = T>) -> T {
    match glommio::timer::timeout(limit, async { Ok(work.await) }).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: nothing within {limit:?}"),
    }
}

/// The next event other than connection notices.
async fn next_event(events: &mut ZkEvents) -> ZkEvent {
    within("an event", ANSWER, async {
        loop {
            match events.next().await.expect("the session is open") {
                ZkEvent::ConnectionLost | ZkEvent::ConnectionRestored => continue,
                event => return event,
            }
        }
    })
    .await
}

fn watch(path: &str, kind: WatchKind) -> ZkEvent {
    ZkEvent::Watch {
        path: path.to_string(),
        kind,
    }
}

#[test]
fn requests_watches_and_ephemerals() {
    if zookeeper::skip("requests_watches_and_ephemerals") {
        return;
    }
    let server = ZooKeeper::start();
    let connect = server.connect_string();
    on_glommio(move || async move {
        // The chroot does not exist yet: start creates it.
        let (zk, mut events) = ZkSession::start(&config(&format!("{connect}/sluice/a"), 6000))
            .await
            .unwrap();
        let (root, mut root_events) = ZkSession::start(&config(&connect, 6000)).await.unwrap();
        assert!(root.exists("/sluice/a").await.unwrap().is_some());

        // Create with parents, read, conditional set.
        let state = "/brokers/topics/t/partitions/0/state";
        let created = zk
            .create_with_parents(state, b"v0".to_vec(), CreateMode::Persistent)
            .await
            .unwrap();
        assert_eq!(created, state);
        let (data, stat) = zk.get_data(state).await.unwrap();
        assert_eq!((data.as_slice(), stat.version), (&b"v0"[..], 0));
        // Everything landed under the chroot.
        let (data, _) = root.get_data(&format!("/sluice/a{state}")).await.unwrap();
        assert_eq!(data, b"v0");
        let stat = zk.set_data(state, b"v1".to_vec(), Some(0)).await.unwrap();
        assert_eq!(stat.version, 1);
        assert_eq!(
            zk.set_data(state, b"v2".to_vec(), Some(0)).await,
            Err(ZkError::BadVersion { path: state.into() })
        );
        assert_eq!(
            zk.create(state, Vec::new(), CreateMode::Persistent).await,
            Err(ZkError::NodeExists { path: state.into() })
        );
        assert_eq!(
            zk.create("/no/parent", Vec::new(), CreateMode::Persistent)
                .await,
            Err(ZkError::NoNode {
                path: "/no/parent".into()
            })
        );
        assert_eq!(
            zk.get_data("/missing").await,
            Err(ZkError::NoNode {
                path: "/missing".into()
            })
        );
        assert_eq!(zk.exists("/missing").await, Ok(None));
        zk.ensure_path("/brokers/ids").await.unwrap();
        zk.ensure_path("/brokers/ids").await.unwrap();

        // Sequential nodes get Kafka's 10-digit suffix.
        zk.ensure_path("/config/changes").await.unwrap();
        let first = zk
            .create(
                "/config/changes/config_change_",
                b"{}".to_vec(),
                CreateMode::PersistentSequential,
            )
            .await
            .unwrap();
        let second = zk
            .create(
                "/config/changes/config_change_",
                b"{}".to_vec(),
                CreateMode::PersistentSequential,
            )
            .await
            .unwrap();
        assert_eq!(first, "/config/changes/config_change_0000000000");
        assert_eq!(second, "/config/changes/config_change_0000000001");
        assert_eq!(
            zk.get_children("/config/changes").await.unwrap(),
            vec!["config_change_0000000000", "config_change_0000000001"]
        );

        // A children watch, fired by another session's create.
        let ids = zk.get_children_and_watch("/brokers/ids").await.unwrap();
        assert!(ids.is_empty());
        root.create(
            "/sluice/a/brokers/ids/2",
            b"{}".to_vec(),
            CreateMode::Persistent,
        )
        .await
        .unwrap();
        assert_eq!(
            next_event(&mut events).await,
            watch("/brokers/ids", WatchKind::NodeChildrenChanged)
        );
        // A data watch, then deletion.
        zk.get_data_and_watch(state).await.unwrap();
        root.set_data(&format!("/sluice/a{state}"), b"x".to_vec(), None)
            .await
            .unwrap();
        assert_eq!(
            next_event(&mut events).await,
            watch(state, WatchKind::NodeDataChanged)
        );
        // An exists watch on a missing node fires on creation.
        assert_eq!(zk.exists_and_watch("/controller").await, Ok(None));
        zk.create("/controller", b"{}".to_vec(), CreateMode::Ephemeral)
            .await
            .unwrap();
        assert_eq!(
            next_event(&mut events).await,
            watch("/controller", WatchKind::NodeCreated)
        );

        // Atomic multi: all or nothing, guarded by a version check.
        zk.create("/controller_epoch", b"1".to_vec(), CreateMode::Persistent)
            .await
            .unwrap();
        let results = zk
            .multi(vec![
                ZkOp::CheckVersion {
                    path: "/controller_epoch".into(),
                    version: 0,
                },
                ZkOp::SetData {
                    path: state.into(),
                    data: b"m1".to_vec(),
                    expected_version: None,
                },
                ZkOp::Create {
                    path: "/isr_change_notification".into(),
                    data: Vec::new(),
                    mode: CreateMode::Persistent,
                },
            ])
            .await
            .unwrap();
        assert_eq!(results[0], ZkOpResult::Checked);
        assert!(matches!(results[1], ZkOpResult::SetData { .. }));
        assert_eq!(
            results[2],
            ZkOpResult::Created {
                path: "/isr_change_notification".into()
            }
        );
        let stale = zk
            .multi(vec![
                ZkOp::CheckVersion {
                    path: "/controller_epoch".into(),
                    version: 7,
                },
                ZkOp::SetData {
                    path: state.into(),
                    data: b"stale".to_vec(),
                    expected_version: None,
                },
            ])
            .await;
        assert_eq!(
            stale,
            Err(ZkError::BadVersion {
                path: "/controller_epoch".into()
            })
        );
        assert_eq!(zk.get_data(state).await.unwrap().0, b"m1");

        // Delete: children refuse a plain delete; recursive takes the tree.
        assert_eq!(
            zk.delete("/brokers/topics/t", None).await,
            Err(ZkError::NotEmpty {
                path: "/brokers/topics/t".into()
            })
        );
        zk.delete_recursive("/brokers/topics/t").await.unwrap();
        assert_eq!(zk.exists("/brokers/topics/t").await, Ok(None));
        zk.delete_recursive("/brokers/topics/t").await.unwrap();

        // An ephemeral goes the moment its session closes (not after the
        // session timeout): the other session's watch sees it.
        assert!(root
            .exists_and_watch("/sluice/a/controller")
            .await
            .unwrap()
            .is_some());
        zk.close();
        assert_eq!(
            next_event(&mut root_events).await,
            watch("/sluice/a/controller", WatchKind::NodeDeleted)
        );
        assert_eq!(within("events end", ANSWER, events.next()).await, None);
        root.close();
    });
}

/// What the glommio side asks the test's main thread (which owns the
/// ZooKeeper process) to do.
enum Action {
    /// SIGSTOP for this long, then SIGCONT.
    Pause(Duration),
    /// SIGKILL, then start again on the same port and data.
    Restart,
}

#[test]
fn expiry_and_zookeeper_restart() {
    if zookeeper::skip("expiry_and_zookeeper_restart") {
        return;
    }
    let mut server = ZooKeeper::start();
    let connect = server.connect_string();
    let (act, actions) = std::sync::mpsc::channel::<Action>();
    let (done, acted) = std::sync::mpsc::channel::<()>();
    let acted = std::sync::Arc::new(std::sync::Mutex::new(acted));
    let test = std::thread::spawn(move || {
        on_glommio(move || async move {
            // The main thread acts; this (blocking) wait runs off the executor.
            let ask = |action: Action| {
                act.send(action).unwrap();
                let acted = acted.clone();
                glommio::executor().spawn_blocking(move || {
                    acted.lock().unwrap().recv_timeout(Duration::from_secs(120))
                })
            };
            let session_timeout_ms = 4000;
            let (zk, mut events) = ZkSession::start(&config(&connect, session_timeout_ms))
                .await
                .unwrap();
            let first = zk.first_session_id();
            zk.ensure_path("/brokers/ids").await.unwrap();
            zk.create("/brokers/ids/1", b"{}".to_vec(), CreateMode::Ephemeral)
                .await
                .unwrap();
            zk.get_children_and_watch("/brokers/ids").await.unwrap();

            // ZooKeeper frozen past the session timeout: the client gives
            // the session up, ZooKeeper expires it on waking, and a new
            // session is opened.
            let zk = std::rc::Rc::new(zk);
            let pause = ask(Action::Pause(Duration::from_millis(
                u64::from(session_timeout_ms) + 3000,
            )));
            // A request caught by the freeze fails with a ZooKeeper error
            // (the connection lost, or the session expired), not unanswered.
            let caught = glommio::spawn_local({
                let zk = zk.clone();
                async move { zk.exists("/brokers/ids").await }
            });
            pause.await.expect("paused and resumed");
            match caught.await {
                Err(ZkError::ConnectionLoss | ZkError::SessionExpired) | Ok(_) => {}
                other => panic!("a request caught by the freeze: {other:?}"),
            }
            assert_eq!(next_event(&mut events).await, ZkEvent::SessionExpired);
            let second = match next_event(&mut events).await {
                ZkEvent::SessionEstablished { session_id } => session_id,
                other => panic!("{other:?}"),
            };
            assert_ne!(second, first);
            // The old session's ephemeral goes once ZooKeeper has expired it
            // (its watch went with it: no event for it).
            within("the old ephemeral goes", ANSWER, async {
                while zk.exists("/brokers/ids/1").await.unwrap().is_some() {
                    glommio::timer::sleep(Duration::from_millis(100)).await;
                }
            })
            .await;
            // The broker registers again on the new session.
            zk.create("/brokers/ids/1", b"{}".to_vec(), CreateMode::Ephemeral)
                .await
                .unwrap();
            let stat = zk.exists("/brokers/ids/1").await.unwrap().unwrap();
            assert_eq!(stat.ephemeral_owner, second);

            // A ZooKeeper crash and restart within the session timeout keeps
            // the session and its ephemeral.
            ask(Action::Restart).await.expect("restarted");
            within("connection restored", ANSWER, async {
                while events.next().await != Some(ZkEvent::ConnectionRestored) {}
            })
            .await;
            let stat = zk.exists("/brokers/ids/1").await.unwrap().unwrap();
            assert_eq!(stat.ephemeral_owner, second);
            std::rc::Rc::try_unwrap(zk).unwrap().close();
        });
    });
    while let Ok(action) = actions.recv() {
        match action {
            Action::Pause(pause) => {
                server.pause();
                std::thread::sleep(pause);
                server.resume();
            }
            Action::Restart => {
                server.stop();
                server.restart();
            }
        }
        done.send(()).unwrap();
    }
    // The glommio side is done (its sender dropped).
    if let Err(panic) = test.join() {
        eprintln!("ZooKeeper log:\n{}", server.log());
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn no_server_is_a_timeout() {
    // No ZooKeeper needed: nothing listens on this port.
    let port = zookeeper::free_port();
    on_glommio(move || async move {
        let mut config = config(&format!("127.0.0.1:{port}"), 4000);
        config.connection_timeout_ms = 1500;
        let result = within("start gives up", ANSWER, ZkSession::start(&config)).await;
        match result {
            Err(ZkError::ConnectTimeout {
                timeout_ms,
                servers,
            }) => {
                assert_eq!(timeout_ms, 1500);
                assert_eq!(servers, format!("127.0.0.1:{port}"));
            }
            Err(ZkError::Other { message, .. }) => {
                assert!(message.contains("cannot connect"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    });
}
