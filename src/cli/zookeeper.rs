//! `--zookeeper HOST:PORT[/chroot]`: the live brokers of a ZooKeeper-mode
//! cluster, read from `/brokers/ids` as Kafka's ZooKeeper-era tools did, to
//! connect to.

use std::time::Duration;

use futures::executor::block_on;

use super::CliError;
use crate::cluster::zk::ZkSession;
use crate::cluster::znodes::{self, BrokerRegistration};
use crate::config::{parse_zookeeper_connect, ZookeeperConfig};

/// Every live broker's first advertised endpoint, `host:port`.
pub fn live_brokers(connect: &str, timeout: Duration) -> Result<Vec<String>, CliError> {
    let parsed = parse_zookeeper_connect(connect)
        .map_err(|e| CliError::Usage(format!("--zookeeper {connect}: {e}")))?
        .ok_or_else(|| CliError::Usage("--zookeeper needs HOST:PORT".into()))?;
    let timeout_ms = u32::try_from(timeout.as_millis())
        .unwrap_or(u32::MAX)
        .max(2000);
    let config = ZookeeperConfig {
        servers: parsed.servers,
        chroot: parsed.chroot,
        session_timeout_ms: timeout_ms,
        connection_timeout_ms: timeout_ms,
    };
    let failed = |e: &dyn std::fmt::Display| {
        CliError::Failed(format!(
            "cannot read the brokers from ZooKeeper at {connect} ({e})"
        ))
    };
    block_on(async {
        let (session, _events) = ZkSession::start(&config).await.map_err(|e| failed(&e))?;
        let mut brokers = Vec::new();
        let ids = session
            .get_children(znodes::BROKER_IDS)
            .await
            .map_err(|e| failed(&e))?;
        for id in ids {
            let Ok(id) = id.parse::<i32>() else { continue };
            let Ok((bytes, _)) = session.get_data(&znodes::broker_path(id)).await else {
                continue;
            };
            let endpoint = BrokerRegistration::from_json(&bytes)
                .ok()
                .and_then(|r| r.parsed_endpoints().ok())
                .and_then(|e| e.into_iter().next());
            if let Some(endpoint) = endpoint {
                let host = if endpoint.host.contains(':') {
                    format!("[{}]", endpoint.host)
                } else {
                    endpoint.host
                };
                brokers.push(format!("{host}:{}", endpoint.port));
            }
        }
        session.close();
        if brokers.is_empty() {
            return Err(CliError::Failed(format!(
                "no broker is registered in ZooKeeper at {connect}"
            )));
        }
        Ok(brokers)
    })
}
