//! The inter-broker client (`sluice::cluster::client`) on glommio: against
//! the real `sluice` binary (ApiVersions, Metadata, CreateTopics, many
//! requests in flight, a broker crash and restart), and against scripted
//! fake brokers for what a real one does not do (answers out of order,
//! never answers, sends absurd frame sizes).

mod support;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use glommio::{LocalExecutorBuilder, Placement};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, MetadataRequest,
    MetadataResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use sluice::cluster::client::{BrokerClient, ClientConfig, ClientError};
use support::broker::Broker;

fn on_glommio<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    LocalExecutorBuilder::new(Placement::Unbound)
        .name("shard-0")
        .spawn(test)
        .unwrap()
        .join()
        .unwrap();
}

fn all_topics() -> MetadataRequest {
    MetadataRequest::default().with_topics(None)
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

#[test]
fn against_the_sluice_binary() {
    let broker = Broker::start();
    let address = broker.address();
    let port = broker.port;
    on_glommio(move || async move {
        let mut broker = broker;
        let client = BrokerClient::new(address.clone(), ClientConfig::default());
        assert!(!client.is_connected());

        let versions = client.api_versions().await.unwrap();
        assert_eq!(versions.error_code, 0);
        let metadata = versions
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::Metadata as i16)
            .expect("Metadata is advertised");
        assert_eq!((metadata.min_version, metadata.max_version), (0, 12));
        assert!(client.is_connected());

        let created = client
            .send(
                &CreateTopicsRequest::default()
                    .with_topics(vec![CreatableTopic::default()
                        .with_name(topic_name("interbroker"))
                        .with_num_partitions(3)
                        .with_replication_factor(1)])
                    .with_timeout_ms(10_000),
                7,
            )
            .await
            .unwrap();
        assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0]);

        // Sixteen requests at once on the one connection (five in flight,
        // the rest waiting for a slot), each answered with its own response.
        let requests = (0..16).map(|i| {
            let client = &client;
            async move {
                let version = [1, 4, 9, 12][i % 4];
                let answer: MetadataResponse = client.send(&all_topics(), version).await.unwrap();
                (version, answer)
            }
        });
        for (version, answer) in futures::future::join_all(requests).await {
            assert_eq!(answer.brokers.len(), 1, "v{version}");
            assert_eq!(answer.brokers[0].port, i32::from(port), "v{version}");
            let topic = answer
                .topics
                .iter()
                .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("interbroker"))
                .unwrap_or_else(|| panic!("v{version}: {:?}", answer.topics));
            assert_eq!(topic.partitions.len(), 3);
        }

        // The broker crashes: requests fail, and succeed again once it is
        // back, on a new connection.
        broker = glommio::executor()
            .spawn_blocking(move || {
                broker.kill();
                broker
            })
            .await;
        match client.send(&all_topics(), 12).await {
            Err(ClientError::Disconnected { .. } | ClientError::Connect { .. }) => {}
            other => panic!("a dead broker answered: {other:?}"),
        }
        assert!(!client.is_connected());
        let broker = glommio::executor()
            .spawn_blocking(move || {
                broker.restart();
                broker
            })
            .await;
        let answer = client.send(&all_topics(), 12).await.unwrap();
        assert!(answer
            .topics
            .iter()
            .any(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("interbroker")));
        assert!(client.is_connected());
        client.close();
        assert!(!client.is_connected());
        drop(broker);
    });
}

/// A fake broker's view of one request: its API, version and correlation id.
struct Seen {
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body).ok()?;
    let mut body = &body[..];
    Some(Seen {
        api_key: body.get_i16(),
        api_version: body.get_i16(),
        correlation_id: body.get_i32(),
    })
}

fn frame<R: Encodable + HeaderVersion>(seen: &Seen, response: &R) -> Vec<u8> {
    let mut body = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(seen.correlation_id)
        .encode(&mut body, R::header_version(seen.api_version))
        .unwrap();
    response.encode(&mut body, seen.api_version).unwrap();
    let mut framed = (body.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    framed
}

/// Serves one connection per script, in order, on a thread.
fn fake_broker(
    scripts: Vec<Box<dyn FnOnce(TcpStream) + Send>>,
) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let thread = std::thread::spawn(move || {
        for script in scripts {
            let (stream, _) = listener.accept().unwrap();
            script(stream);
        }
    });
    (address, thread)
}

#[test]
fn responses_are_matched_by_correlation_id() {
    // Two requests of different APIs, answered in reverse order: answers
    // matched by order would be decoded as the wrong API and fail.
    let (address, server) = fake_broker(vec![Box::new(|mut stream: TcpStream| {
        let first = read_request(&mut stream).unwrap();
        let second = read_request(&mut stream).unwrap();
        for seen in [&second, &first] {
            let bytes = if seen.api_key == ApiKey::ApiVersions as i16 {
                frame(
                    seen,
                    &ApiVersionsResponse::default().with_throttle_time_ms(7),
                )
            } else {
                frame(seen, &MetadataResponse::default().with_throttle_time_ms(9))
            };
            stream.write_all(&bytes).unwrap();
        }
        let _ = read_request(&mut stream);
    })]);
    on_glommio(move || async move {
        let client = BrokerClient::new(address, ClientConfig::default());
        let (versions_request, metadata_request) = (ApiVersionsRequest::default(), all_topics());
        let versions = client.send(&versions_request, 3);
        let metadata = client.send(&metadata_request, 12);
        let (versions, metadata) = futures::join!(versions, metadata);
        assert_eq!(versions.unwrap().throttle_time_ms, 7);
        assert_eq!(metadata.unwrap().throttle_time_ms, 9);
        client.close();
    });
    server.join().unwrap();
}

#[test]
fn timeouts_bad_frames_and_versions() {
    let silent = |mut stream: TcpStream| {
        let _ = read_request(&mut stream);
        let _ = read_request(&mut stream);
    };
    let huge = |mut stream: TcpStream| {
        read_request(&mut stream).unwrap();
        stream.write_all(&i32::MAX.to_be_bytes()).unwrap();
        let _ = read_request(&mut stream);
    };
    let negative = |mut stream: TcpStream| {
        read_request(&mut stream).unwrap();
        stream.write_all(&(-5i32).to_be_bytes()).unwrap();
        let _ = read_request(&mut stream);
    };
    let stranger = |mut stream: TcpStream| {
        let seen = read_request(&mut stream).unwrap();
        let other = Seen {
            correlation_id: seen.correlation_id + 1000,
            ..seen
        };
        stream
            .write_all(&frame(&other, &ApiVersionsResponse::default()))
            .unwrap();
        let _ = read_request(&mut stream);
    };
    let (address, server) = fake_broker(vec![
        Box::new(silent),
        Box::new(huge),
        Box::new(negative),
        Box::new(stranger),
    ]);
    on_glommio(move || async move {
        let config = ClientConfig {
            request_timeout: Duration::from_millis(300),
            response_bytes_max: 1 << 20,
            ..ClientConfig::default()
        };
        let client = BrokerClient::new(address, config);
        // A version the message does not have is refused before sending.
        match client.send(&all_topics(), 99).await {
            Err(ClientError::UnsupportedVersion { version: 99, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(!client.is_connected());
        // No answer: a timeout, and the connection is given up.
        match client.api_versions().await {
            Err(ClientError::Timeout { timeout, .. }) => {
                assert_eq!(timeout, Duration::from_millis(300))
            }
            other => panic!("{other:?}"),
        }
        assert!(!client.is_connected());
        // A frame over the bound, then a negative one: refused before any
        // buffer of that size exists.
        for size in ["2147483647", "-5"] {
            match client.api_versions().await {
                Err(ClientError::Disconnected { reason, .. }) => {
                    assert!(reason.contains(&format!("{size} bytes")), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        // An answer to nobody is dropped; the request still times out.
        match client.api_versions().await {
            Err(ClientError::Timeout { .. }) => {}
            other => panic!("{other:?}"),
        }
        client.close();
    });
    server.join().unwrap();
}
