//! The topics in a consumer's JoinGroup metadata (Kafka's
//! `ConsumerProtocolSubscription`: a version, then the message), needed to
//! refuse OffsetDelete on a topic the group still reads.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

/// The subscribed topics; empty if the metadata does not decode (a custom
/// protocol under the "consumer" type, say).
pub(super) fn topics(metadata: &Bytes) -> Vec<String> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    // Versions above 3 keep the fields of 3 (forward compatible), so read
    // them as 3, as Kafka's ConsumerProtocol does.
    let version = buf.get_i16().clamp(0, 3);
    match ConsumerProtocolSubscription::decode(&mut buf, version) {
        Ok(subscription) => subscription.topics.iter().map(|t| t.to_string()).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn reads_the_topics_of_a_subscription() {
        let subscription = ConsumerProtocolSubscription::default().with_topics(vec![
            StrBytes::from_static_str("a"),
            StrBytes::from_static_str("b"),
        ]);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&1i16.to_be_bytes());
        subscription.encode(&mut buf, 1).unwrap();
        assert_eq!(topics(&buf.freeze()), vec!["a", "b"]);
        assert!(topics(&Bytes::from_static(b"\x00")).is_empty());
    }
}
