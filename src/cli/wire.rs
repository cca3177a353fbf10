//! A small blocking Kafka client over `std::net::TcpStream` for the admin
//! calls librdkafka's Rust binding lacks or answers without the broker's
//! error message: Metadata with topic ids, CreateTopics, DescribeConfigs
//! with synonyms, IncrementalAlterConfigs, FindCoordinator and OffsetDelete.
//!
//! One request at a time on one connection, each bounded by the tool's
//! timeout (connect, write and read). Versions are fixed ones that every
//! Kafka release since 2.4 answers, so no ApiVersions round trip is needed.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::CliError;

/// A response larger than this is refused (a wrong port answering garbage
/// must not make the tool allocate gigabytes).
const RESPONSE_BYTES_MAX: usize = 64 << 20;
const CLIENT_ID: &str = "sluice-cli";
/// Metadata v12 names the controller (every Kafka release since 2.8).
const CONTROLLER_METADATA_VERSION: i16 = 12;

pub struct WireClient {
    stream: TcpStream,
    address: String,
    correlation_id: i32,
}

impl WireClient {
    /// Connects to the first reachable address of a `host:port[,host:port]`
    /// list.
    pub fn connect(bootstrap: &str, timeout: Duration) -> Result<WireClient, CliError> {
        let mut failures = Vec::new();
        for address in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match connect_one(address, timeout) {
                Ok(stream) => {
                    return Ok(WireClient {
                        stream,
                        address: address.to_string(),
                        correlation_id: 0,
                    })
                }
                Err(error) => failures.push(format!("{address}: {error}")),
            }
        }
        Err(CliError::Failed(format!(
            "cannot reach the broker at {bootstrap} ({})",
            failures.join("; ")
        )))
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// A connection to the cluster's controller (the admin APIs Kafka's
    /// tools send there: ElectLeaders, the partition reassignments), found
    /// through a broker of `bootstrap`; with the Metadata answer (every
    /// broker, no topic).
    pub fn connect_to_controller(
        bootstrap: &str,
        timeout: Duration,
    ) -> Result<(WireClient, MetadataResponse), CliError> {
        let mut wire = WireClient::connect(bootstrap, timeout)?;
        let metadata: MetadataResponse = wire.call(
            ApiKey::Metadata,
            CONTROLLER_METADATA_VERSION,
            &MetadataRequest::default().with_topics(Some(Vec::new())),
        )?;
        let controller = metadata
            .brokers
            .iter()
            .find(|b| b.node_id == metadata.controller_id)
            .ok_or_else(|| CliError::Failed("the cluster has no controller now".into()))?;
        let address = format!("{}:{}", controller.host.as_str(), controller.port);
        Ok((WireClient::connect(&address, timeout)?, metadata))
    }

    /// Sends `request` as `api` v`version` and decodes the answer.
    pub fn call<Q: Encodable, R: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Q,
    ) -> Result<R, CliError> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut frame = BytesMut::with_capacity(256);
        frame.extend_from_slice(&[0; 4]);
        let failed = |what: &str, detail: String| {
            CliError::Failed(format!(
                "{api:?} v{version} to {}: {what}: {detail}",
                self.address
            ))
        };
        header
            .encode(&mut frame, api.request_header_version(version))
            .map_err(|e| failed("encoding the header", e.to_string()))?;
        request
            .encode(&mut frame, version)
            .map_err(|e| failed("encoding the request", e.to_string()))?;
        let size = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.stream
            .write_all(&frame)
            .map_err(|e| failed("sending", e.to_string()))?;
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .map_err(|e| failed("reading the answer", e.to_string()))?;
        let size = i32::from_be_bytes(size);
        if size < 4 || size as usize > RESPONSE_BYTES_MAX {
            return Err(failed(
                "reading the answer",
                format!("bad frame size {size}"),
            ));
        }
        let mut body = vec![0u8; size as usize];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| failed("reading the answer", e.to_string()))?;
        let mut body = bytes::Bytes::from(body);
        let response_header =
            ResponseHeader::decode(&mut body, api.response_header_version(version))
                .map_err(|e| failed("decoding the header", e.to_string()))?;
        if response_header.correlation_id != self.correlation_id {
            return Err(failed(
                "reading the answer",
                format!(
                    "correlation id {} answered, {} expected",
                    response_header.correlation_id, self.correlation_id
                ),
            ));
        }
        let response =
            R::decode(&mut body, version).map_err(|e| failed("decoding", e.to_string()))?;
        if body.has_remaining() {
            tracing::debug!(
                remaining = body.remaining(),
                "trailing bytes in {api:?} answer"
            );
        }
        Ok(response)
    }
}

fn connect_one(address: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for resolved in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&resolved, timeout) {
            Ok(stream) => {
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))?;
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no address resolved")
    }))
}

/// The broker's words for a non-zero error code: the message if it sent
/// one, else the code's name.
pub fn error_text(code: i16, message: Option<&StrBytes>) -> String {
    let name = kafka_protocol::ResponseError::try_from_code(code)
        .map(|e| e.to_string())
        .unwrap_or_default();
    match message.map(|m| m.as_str()).filter(|m| !m.is_empty()) {
        Some(message) => format!("{message} ({name})"),
        None => name,
    }
}
