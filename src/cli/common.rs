//! What every tool shares: where the broker is, how long to wait for it,
//! and librdkafka client settings built from those.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

use super::properties::read_properties_file;
use super::wire::WireClient;
use super::CliError;

/// Kafka's default broker address.
pub const BOOTSTRAP_DEFAULT: &str = "localhost:9092";

#[derive(clap::Args, Clone, Debug)]
pub struct Connection {
    /// The broker(s) to connect to, HOST:PORT[,HOST:PORT] (`--broker-list`
    /// is accepted too, as older Kafka tools spelled it).
    #[arg(
        long = "bootstrap-server",
        visible_alias = "broker-list",
        value_name = "HOST:PORT",
        default_value = BOOTSTRAP_DEFAULT
    )]
    pub bootstrap_server: String,
    /// ZooKeeper, HOST:PORT[/chroot], as Kafka's ZooKeeper-era tools took
    /// it: the tool reads the live brokers from `/brokers/ids` and connects
    /// to them (it replaces `--bootstrap-server`).
    #[arg(long = "zookeeper", value_name = "HOST:PORT[/CHROOT]")]
    pub zookeeper: Option<String>,
    /// How long to wait for the broker (connecting, each request), in
    /// milliseconds. An unreachable broker fails the tool within this.
    #[arg(
        long = "request-timeout-ms",
        value_name = "MS",
        default_value_t = 10_000
    )]
    pub request_timeout_ms: u64,
    /// A file of client settings (Kafka's `--command-config`), passed to
    /// librdkafka as they are.
    #[arg(long = "command-config", value_name = "FILE")]
    pub command_config: Option<PathBuf>,
}

impl Connection {
    /// Resolves `--zookeeper` into `bootstrap_server`: every live broker's
    /// advertised endpoint, from `/brokers/ids`.
    pub fn resolve(&mut self) -> Result<(), CliError> {
        let Some(connect) = &self.zookeeper else {
            return Ok(());
        };
        let brokers = super::zookeeper::live_brokers(connect, self.timeout())?;
        self.bootstrap_server = brokers.join(",");
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }

    /// librdkafka settings for this broker, with `extra` applied last.
    pub fn client_config<'a>(
        &self,
        extra: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<ClientConfig, CliError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_server)
            .set("client.id", "sluice-cli")
            .set(
                "socket.timeout.ms",
                self.request_timeout_ms.max(10).to_string(),
            )
            // librdkafka logs to stderr through the `log` crate, which the
            // tools do not route; errors reach the user as results instead.
            .set("log_level", "3");
        if let Some(path) = &self.command_config {
            for (key, value) in read_properties_file(path)? {
                config.set(key, value);
            }
        }
        for (key, value) in extra {
            config.set(key, value);
        }
        Ok(config)
    }

    /// A raw connection to the broker; also how every tool checks first
    /// that the broker is there, so an unreachable address is reported at
    /// once and by name instead of as a librdkafka timeout.
    pub fn wire(&self) -> Result<WireClient, CliError> {
        WireClient::connect(&self.bootstrap_server, self.timeout())
    }

    pub fn admin(&self) -> Result<AdminClient<DefaultClientContext>, CliError> {
        self.client_config(std::iter::empty())?
            .create()
            .map_err(|e| CliError::Failed(format!("creating the admin client: {e}")))
    }

    pub fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.timeout()))
            .operation_timeout(Some(self.timeout()))
    }
}

/// Runs an admin future to completion on this thread (the admin client has
/// its own polling thread; no async runtime is needed).
pub fn block_on<F: Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}
