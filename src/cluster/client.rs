//! The inter-broker Kafka client: one connection from this shard to another
//! broker, on glommio, for the controller's LeaderAndIsr / UpdateMetadata /
//! StopReplica and the followers' replica Fetch.
//!
//! ```text
//!  send::<R>() ──encode header+body──> frames queue ──> writer task ──TCP──> broker
//!      │  registers correlation id -> oneshot                                  │
//!      └── awaits the oneshot (request timeout) <── reader task <──────────────┘
//!                                    frame size checked before allocating
//! ```
//!
//! Lifecycle: a [`BrokerClient`] lives on one shard (it is `!Send`); it
//! connects on the first request and again on the first request after the
//! connection broke. Several requests may be in flight (at most
//! [`ClientConfig::in_flight_max`]; more wait for a slot). Responses are
//! matched by correlation id. A request that times out closes the connection,
//! as Kafka's `NetworkClient` does: the broker is stuck or the link is, and
//! the requests behind it would wait as long. Every response frame's size is
//! checked against [`ClientConfig::response_bytes_max`] before its buffer is
//! allocated. Requests that get no response (Produce with acks=0) are not
//! supported.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use glommio::channels::local_channel::{self, LocalSender};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use glommio::task::JoinHandle;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// The largest response accepted unless configured otherwise: above Kafka's
/// `replica.fetch.response.max.bytes` (10 MiB) and any metadata answer.
pub const RESPONSE_BYTES_MAX_DEFAULT: usize = 64 << 20;
/// Requests in flight on one connection unless configured otherwise
/// (Kafka's `max.in.flight.requests.per.connection` default).
pub const IN_FLIGHT_MAX_DEFAULT: usize = 5;

/// How the client behaves; the controller and the fetchers pass Kafka's
/// settings (`controller.socket.timeout.ms`, `replica.socket.timeout.ms`).
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The `client_id` of every request header.
    pub client_id: String,
    pub connect_timeout: Duration,
    /// How long a request waits for its response by default.
    pub request_timeout: Duration,
    /// The largest response frame read.
    pub response_bytes_max: usize,
    /// Requests awaiting their response at once.
    pub in_flight_max: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_id: "sluice-broker".to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            response_bytes_max: RESPONSE_BYTES_MAX_DEFAULT,
            in_flight_max: IN_FLIGHT_MAX_DEFAULT,
        }
    }
}

/// What a request can fail with. The connection is closed (and reopened by
/// the next request) after every error but [`ClientError::UnsupportedVersion`].
/// A response frame whose size is out of bounds ends the connection:
/// `Disconnected`, its reason naming the size.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("{api} to {address}: no response within {timeout:?}")]
    Timeout {
        address: String,
        api: String,
        timeout: Duration,
    },
    #[error("{address}: connection lost: {reason}")]
    Disconnected { address: String, reason: String },
    #[error("{api} to {address}: {reason}")]
    Protocol {
        address: String,
        api: String,
        reason: String,
    },
    #[error("{api} v{version} is not a version this client can encode")]
    UnsupportedVersion { api: String, version: i16 },
}

type Waiter = oneshot::Sender<Result<Bytes, ClientError>>;

/// What the reader and writer tasks share with the client.
struct Shared {
    address: String,
    pending: RefCell<HashMap<i32, Waiter>>,
    /// Why the connection ended, once it has.
    broken: RefCell<Option<String>>,
}

impl Shared {
    /// Marks the connection broken and fails every waiting request.
    fn fail(&self, reason: String) {
        if self.broken.borrow().is_none() {
            *self.broken.borrow_mut() = Some(reason.clone());
        }
        let waiting: Vec<Waiter> = self.pending.borrow_mut().drain().map(|(_, w)| w).collect();
        for waiter in waiting {
            let _ = waiter.send(Err(ClientError::Disconnected {
                address: self.address.clone(),
                reason: reason.clone(),
            }));
        }
    }
}

struct Connection {
    shared: Rc<Shared>,
    frames: LocalSender<Bytes>,
    tasks: [JoinHandle<()>; 2],
}

impl Connection {
    fn is_open(&self) -> bool {
        self.shared.broken.borrow().is_none()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.fail("closed".to_string());
        for task in &self.tasks {
            task.cancel();
        }
    }
}

/// A client for one broker address (`host:port`).
pub struct BrokerClient {
    address: String,
    config: ClientConfig,
    next_correlation_id: Cell<i32>,
    connection: RefCell<Option<Rc<Connection>>>,
    /// One connect at a time; the others wait for its outcome.
    connecting: Semaphore,
    in_flight: Semaphore,
}

fn api_name(key: i16) -> String {
    match ApiKey::try_from(key) {
        Ok(api) => format!("{api:?}"),
        Err(_) => format!("api key {key}"),
    }
}

impl BrokerClient {
    /// A client for `address`; nothing is connected until the first request.
    pub fn new(address: impl Into<String>, config: ClientConfig) -> Self {
        assert!(config.in_flight_max > 0, "at least one request in flight");
        let in_flight = Semaphore::new(config.in_flight_max as u64);
        BrokerClient {
            address: address.into(),
            config,
            next_correlation_id: Cell::new(0),
            connection: RefCell::new(None),
            connecting: Semaphore::new(1),
            in_flight,
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// True while a connection is open.
    pub fn is_connected(&self) -> bool {
        self.connection
            .borrow()
            .as_ref()
            .is_some_and(|c| c.is_open())
    }

    /// Closes the connection; waiting requests fail with `Disconnected`.
    pub fn close(&self) {
        self.connection.borrow_mut().take();
    }

    /// Sends `request` as version `version` and waits for its response, at
    /// most the configured request timeout.
    pub async fn send<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        self.send_with_timeout(request, version, self.config.request_timeout)
            .await
    }

    /// As [`send`](Self::send) with its own timeout (a replica Fetch waits
    /// up to its `max_wait_ms` on the broker, so it needs more).
    pub async fn send_with_timeout<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        let api = || api_name(R::KEY);
        if version < R::VERSIONS.min || version > R::VERSIONS.max {
            return Err(ClientError::UnsupportedVersion {
                api: api(),
                version,
            });
        }
        let protocol = |reason: String| ClientError::Protocol {
            address: self.address.clone(),
            api: api(),
            reason,
        };
        let correlation_id = self.next_correlation_id();
        let frame = self
            .encode(request, version, correlation_id)
            .map_err(|e| protocol(format!("encoding: {e}")))?;

        let _slot = self
            .in_flight
            .acquire_permit(1)
            .await
            .expect("the semaphore is never closed");
        let connection = self.connection().await?;
        let (waiter, response) = oneshot::channel();
        connection
            .shared
            .pending
            .borrow_mut()
            .insert(correlation_id, waiter);
        if connection.frames.send(frame).await.is_err() {
            connection
                .shared
                .pending
                .borrow_mut()
                .remove(&correlation_id);
            return Err(self.disconnected(&connection));
        }
        let answer = glommio::timer::timeout(timeout, async { Ok(response.await) }).await;
        let mut body = match answer {
            Ok(Ok(Ok(body))) => body,
            Ok(Ok(Err(error))) => return Err(error),
            Ok(Err(_canceled)) => return Err(self.disconnected(&connection)),
            Err(_) => {
                connection
                    .shared
                    .pending
                    .borrow_mut()
                    .remove(&correlation_id);
                self.drop_connection(&connection, "request timed out");
                return Err(ClientError::Timeout {
                    address: self.address.clone(),
                    api: api(),
                    timeout,
                });
            }
        };
        let header_version = R::Response::header_version(version);
        let header = ResponseHeader::decode(&mut body, header_version)
            .map_err(|e| protocol(format!("decoding the response header: {e}")))?;
        debug_assert_eq!(
            header.correlation_id, correlation_id,
            "matched by the reader"
        );
        R::Response::decode(&mut body, version).map_err(|e| {
            // A body we cannot read means we and the broker disagree about
            // the protocol: do not trust this connection further.
            self.drop_connection(&connection, "undecodable response");
            protocol(format!("decoding v{version}: {e}"))
        })
    }

    /// ApiVersions v3 (the version every Kafka since 2.4 answers in full):
    /// the broker's supported range of every API.
    pub async fn api_versions(&self) -> Result<ApiVersionsResponse, ClientError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("sluice"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        self.send(&request, 3).await
    }

    fn next_correlation_id(&self) -> i32 {
        let id = self.next_correlation_id.get();
        self.next_correlation_id.set(id.checked_add(1).unwrap_or(0));
        id
    }

    fn encode<R: Request>(
        &self,
        request: &R,
        version: i16,
        correlation_id: i32,
    ) -> Result<Bytes, String> {
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.config.client_id.clone())));
        let mut frame = BytesMut::with_capacity(64);
        frame.extend_from_slice(&[0; 4]);
        header
            .encode(&mut frame, R::header_version(version))
            .map_err(|e| e.to_string())?;
        request
            .encode(&mut frame, version)
            .map_err(|e| e.to_string())?;
        let size = i32::try_from(frame.len() - 4).map_err(|_| "request over 2 GiB".to_string())?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        Ok(frame.freeze())
    }

    fn disconnected(&self, connection: &Connection) -> ClientError {
        let reason = connection
            .shared
            .broken
            .borrow()
            .clone()
            .unwrap_or_else(|| "closed".to_string());
        self.drop_connection(connection, &reason);
        ClientError::Disconnected {
            address: self.address.clone(),
            reason,
        }
    }

    /// Forgets `connection` if it is still the current one.
    fn drop_connection(&self, connection: &Connection, reason: &str) {
        connection.shared.fail(reason.to_string());
        let mut current = self.connection.borrow_mut();
        if current
            .as_ref()
            .is_some_and(|c| std::ptr::eq(Rc::as_ptr(c), connection))
        {
            current.take();
        }
    }

    /// The open connection, connecting first when there is none.
    async fn connection(&self) -> Result<Rc<Connection>, ClientError> {
        if let Some(open) = self.open_connection() {
            return Ok(open);
        }
        let _turn = self
            .connecting
            .acquire_permit(1)
            .await
            .expect("the semaphore is never closed");
        // Someone else may have connected while this one waited.
        if let Some(open) = self.open_connection() {
            return Ok(open);
        }
        let connection = Rc::new(self.connect().await?);
        *self.connection.borrow_mut() = Some(connection.clone());
        Ok(connection)
    }

    fn open_connection(&self) -> Option<Rc<Connection>> {
        let current = self.connection.borrow();
        current.as_ref().filter(|c| c.is_open()).cloned()
    }

    async fn connect(&self) -> Result<Connection, ClientError> {
        let connect_error = |reason: String| ClientError::Connect {
            address: self.address.clone(),
            reason,
        };
        let addresses: Vec<std::net::SocketAddr> =
            std::net::ToSocketAddrs::to_socket_addrs(&self.address)
                .map_err(|e| connect_error(e.to_string()))?
                .collect();
        let mut last = "no address".to_string();
        for address in addresses {
            match TcpStream::connect_timeout(address, self.config.connect_timeout).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(self.start_connection(stream));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(connect_error(last))
    }

    fn start_connection(&self, stream: TcpStream) -> Connection {
        let (reader, writer) = stream.split();
        let shared = Rc::new(Shared {
            address: self.address.clone(),
            pending: RefCell::new(HashMap::new()),
            broken: RefCell::new(None),
        });
        let (frames, queue) = local_channel::new_bounded(self.config.in_flight_max);
        let writer_task =
            glommio::spawn_local(write_frames(writer, queue, shared.clone())).detach();
        let reader_task = glommio::spawn_local(read_frames(
            reader,
            shared.clone(),
            self.config.response_bytes_max,
        ))
        .detach();
        Connection {
            shared,
            frames,
            tasks: [writer_task, reader_task],
        }
    }
}

async fn write_frames(
    mut writer: WriteHalf<TcpStream>,
    queue: local_channel::LocalReceiver<Bytes>,
    shared: Rc<Shared>,
) {
    while let Some(frame) = queue.recv().await {
        if let Err(e) = writer.write_all(&frame).await {
            shared.fail(format!("writing: {e}"));
            return;
        }
    }
}

async fn read_frames(mut reader: ReadHalf<TcpStream>, shared: Rc<Shared>, bytes_max: usize) {
    loop {
        let mut size = [0u8; 4];
        if let Err(e) = reader.read_exact(&mut size).await {
            shared.fail(format!("reading: {e}"));
            return;
        }
        let size = i32::from_be_bytes(size);
        // The correlation id alone is 4 bytes; the bound comes before any
        // allocation.
        if size < 4 || size as usize > bytes_max {
            shared.fail(format!(
                "a response frame of {size} bytes (at most {bytes_max})"
            ));
            return;
        }
        let mut body = vec![0u8; size as usize];
        if let Err(e) = reader.read_exact(&mut body).await {
            shared.fail(format!("reading: {e}"));
            return;
        }
        let correlation_id = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let waiter = shared.pending.borrow_mut().remove(&correlation_id);
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(Ok(Bytes::from(body)));
            }
            // The request timed out and was forgotten: its late answer goes.
            None => tracing::debug!(
                correlation_id,
                "{}: a response nobody waits for",
                shared.address
            ),
        }
    }
}
