//! ApiVersions (key 18), v0-4: the APIs and versions in
//! [`SUPPORTED_APIS`](super::SUPPORTED_APIS).

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::ResponseError;

use super::{encode, HandlerError, Reply, SUPPORTED_APIS};

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.min)
                .with_max_version(api.max)
        })
        .collect()
}

/// KIP-511's pattern for client software names and versions.
fn valid_software_field(value: &str) -> bool {
    let bytes = value.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    let inner = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.';
    match bytes {
        [] => false,
        [only] => edge(only),
        [first, middle @ .., last] => edge(first) && edge(last) && middle.iter().all(inner),
    }
}

pub fn handle(
    header: &RequestHeader,
    version: i16,
    request: ApiVersionsRequest,
) -> Result<Reply, HandlerError> {
    let mut response = ApiVersionsResponse::default()
        .with_api_keys(api_keys())
        .with_finalized_features_epoch(-1);
    if version >= 3
        && !(valid_software_field(request.client_software_name.as_str())
            && valid_software_field(request.client_software_version.as_str()))
    {
        response = response.with_error_code(ResponseError::InvalidRequest.code());
    }
    encode(
        ApiKey::ApiVersions,
        version,
        header.correlation_id,
        &response,
    )
}

/// The answer to an ApiVersions request of a version Sluice does not know:
/// v0 with UNSUPPORTED_VERSION and the supported ranges (KIP-511).
pub fn unsupported_version(correlation_id: i32) -> Reply {
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys());
    encode(ApiKey::ApiVersions, 0, correlation_id, &response)
        .unwrap_or_else(|e| Reply::Close(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_names_follow_kip_511() {
        assert!(valid_software_field("librdkafka"));
        assert!(valid_software_field("2.3.0"));
        assert!(valid_software_field("a"));
        assert!(!valid_software_field(""));
        assert!(!valid_software_field("-x"));
        assert!(!valid_software_field("x."));
        assert!(!valid_software_field("a b"));
    }
}
