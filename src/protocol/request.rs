//! The decoding layer: every request frame passes here, once, before any
//! handler sees it.
//!
//! ```text
//! frame ──> prefix (api key, version, correlation id)
//!             │ unknown key ─────────────> RequestError::UnknownApi
//!             │ version not served ──────> RequestError::UnsupportedVersion
//!             ▼
//!           header (v0-2 for the version) ─ bad ─> RequestError::Malformed
//!             ▼
//!           body (kafka-protocol's decoder for key and version) ─ bad ─> Malformed
//!             ▼
//!           Request { header, body: RequestKind::..(typed request) }
//! ```
//!
//! Nothing here allocates more than the frame holds: kafka-protocol's
//! decoders (the patched copy in `vendor/kafka-protocol`, see its
//! `SLUICE-PATCH.md`) refuse an array count, string or bytes length that
//! exceeds the bytes left before they reserve anything, and byte fields
//! (record batches) are slices of the frame's own buffer. The connection loop
//! and the fuzz target `fuzz/fuzz_targets/request_decode.rs` both call
//! [`decode_request`], so the fuzzer exercises exactly what a client reaches.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use super::frame::RequestPrefix;

/// A request whose API and version Sluice serves, decoded whole.
#[derive(Debug)]
pub struct Request {
    pub api: ApiKey,
    pub version: i16,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// Why a frame is not a request Sluice can answer normally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("frame of {0} bytes is shorter than a request prefix")]
    TooShort(usize),
    #[error("unknown API key {key} (correlation id {correlation_id})")]
    UnknownApi { key: i16, correlation_id: i32 },
    #[error("{api:?} v{version} is not supported (correlation id {correlation_id})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        correlation_id: i32,
    },
    #[error("malformed {api:?} v{version} request {part}: {detail}")]
    Malformed {
        api: ApiKey,
        version: i16,
        part: &'static str,
        detail: String,
    },
}

/// Decodes `frame` (the bytes after the size prefix). `serves` says whether
/// Sluice implements an API at a version (the handlers' table).
pub fn decode_request(
    frame: Bytes,
    serves: impl Fn(ApiKey, i16) -> bool,
) -> Result<Request, RequestError> {
    let prefix = RequestPrefix::parse(&frame).ok_or(RequestError::TooShort(frame.len()))?;
    let api = ApiKey::try_from(prefix.api_key).map_err(|_| RequestError::UnknownApi {
        key: prefix.api_key,
        correlation_id: prefix.correlation_id,
    })?;
    let version = prefix.api_version;
    if !serves(api, version) {
        return Err(RequestError::UnsupportedVersion {
            api,
            version,
            correlation_id: prefix.correlation_id,
        });
    }
    let malformed = |part: &'static str, error: anyhow::Error| RequestError::Malformed {
        api,
        version,
        part,
        detail: format!("{error:#}"),
    };
    let mut body = frame;
    let header = RequestHeader::decode(&mut body, api.request_header_version(version))
        .map_err(|e| malformed("header", e))?;
    let body = RequestKind::decode(api, &mut body, version).map_err(|e| malformed("body", e))?;
    Ok(Request {
        api,
        version,
        header,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_version(_: ApiKey, _: i16) -> bool {
        true
    }

    /// Issue 20's reproduction: Produce v9 whose topic array claims
    /// 0x7fffffff - 1 entries, 20 bytes in all.
    #[test]
    fn a_huge_array_count_is_malformed_not_an_allocation() {
        let frame = Bytes::from_static(&[
            0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, b'x', 0x00, 0x00, 0x00,
            0x01, 0x00, 0x00, 0x13, 0x88, 0xff, 0xff, 0xff, 0xff, 0x07,
        ]);
        match decode_request(frame, every_version) {
            Err(RequestError::Malformed { api, part, .. }) => {
                assert_eq!(api, ApiKey::Produce);
                assert_eq!(part, "body");
            }
            other => panic!("expected a malformed body, got {other:?}"),
        }
    }

    #[test]
    fn huge_string_and_bytes_lengths_are_malformed() {
        // Metadata v12 (flexible): topics compact array of 1, whose topic id
        // is 16 bytes and whose name claims 2^32 - 2 bytes.
        let mut frame = vec![0x00, 0x03, 0x00, 0x0c, 0, 0, 0, 7, 0xff, 0xff, 0x00];
        frame.push(2); // one topic
        frame.extend([0u8; 16]);
        frame.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            decode_request(Bytes::from(frame), every_version),
            Err(RequestError::Malformed { .. })
        ));
        // SaslAuthenticate v0: auth_bytes (Vec<u8>-backed) claims 2 GiB.
        let frame = vec![
            0x00, 0x24, 0x00, 0x00, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
        ];
        assert!(matches!(
            decode_request(Bytes::from(frame), every_version),
            Err(RequestError::Malformed { .. })
        ));
    }

    #[test]
    fn prefix_errors_name_the_request() {
        assert_eq!(
            decode_request(Bytes::from_static(&[0, 0, 0]), every_version).unwrap_err(),
            RequestError::TooShort(3)
        );
        assert_eq!(
            decode_request(
                Bytes::from_static(&[0x7f, 0x00, 0, 1, 0, 0, 0, 9]),
                every_version
            )
            .unwrap_err(),
            RequestError::UnknownApi {
                key: 0x7f00,
                correlation_id: 9
            }
        );
        assert_eq!(
            decode_request(Bytes::from_static(&[0, 18, 0, 99, 0, 0, 0, 5]), |_, v| v
                < 5)
            .unwrap_err(),
            RequestError::UnsupportedVersion {
                api: ApiKey::ApiVersions,
                version: 99,
                correlation_id: 5
            }
        );
    }

    #[test]
    fn a_real_request_decodes() {
        // ApiVersions v3 as librdkafka sends it.
        let mut frame = vec![0x00, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0x00, 0x07];
        frame.extend(b"rdkafka");
        frame.push(0); // header tags
        frame.push(9);
        frame.extend(b"librdkaf");
        frame.push(6);
        frame.extend(b"2.12.");
        frame.push(0);
        let request = decode_request(Bytes::from(frame), every_version).unwrap();
        assert_eq!(request.header.correlation_id, 1);
        match request.body {
            RequestKind::ApiVersions(body) => {
                assert_eq!(body.client_software_name.as_str(), "librdkaf");
            }
            other => panic!("decoded as {other:?}"),
        }
    }
}
