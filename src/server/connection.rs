//! One client connection: read a frame, answer it, repeat.
//!
//! Bad input closes this connection only, with one log line: an oversized
//! or truncated frame, an unknown API key or version (other than
//! ApiVersions, which is answered), a request that does not decode. A
//! connection silent for `connections.max.idle.ms` (or stalled in the middle
//! of a frame that long) is closed too, so a stalled client cannot keep its
//! share of the request budget.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures::future::Either;
use futures::io::AsyncWriteExt;
use glommio::net::TcpStream;
use sluice_shards::ShutdownSignal;

use super::budget::RequestBudget;
use crate::broker::shard::ShardState;
use crate::handlers::{self, ClientInfo, Reply};
use crate::protocol::fetch_encoding::Segment;
use crate::protocol::frame::{read_frame_body, read_frame_size};
use crate::protocol::FrameError;

/// What ended a wait for the client's next bytes.
enum Waited<T> {
    Done(T),
    Idle,
    Shutdown,
}

pub async fn serve(shard: Rc<ShardState>, budget: Rc<RequestBudget>, mut stream: TcpStream) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map_or_else(|| "unknown".into(), |a| a.to_string());
    let client = ClientInfo::from_peer(peer_addr);
    let _ = stream.set_nodelay(true);
    let max_bytes = shard.config().socket_request_bytes_max;
    let idle_max = shard
        .config()
        .connection_idle_ms_max
        .map(Duration::from_millis);
    let shutdown = shard.context().shutdown_signal();
    loop {
        let size = match wait(read_frame_size(&mut stream, max_bytes), idle_max, &shutdown).await {
            Waited::Done(Ok(Some(size))) => size,
            Waited::Done(Ok(None)) | Waited::Shutdown => break,
            Waited::Done(Err(error)) => {
                log_frame_error(&peer, &error);
                break;
            }
            Waited::Idle => {
                tracing::debug!(%peer, "closing idle connection (connections.max.idle.ms)");
                break;
            }
        };
        // Back-pressure: the body is read only once the shard can hold it.
        let Some(_reservation) = budget.reserve(size).await else {
            break;
        };
        let frame = match wait(read_frame_body(&mut stream, size), idle_max, &shutdown).await {
            Waited::Done(Ok(frame)) => frame,
            Waited::Done(Err(error)) => {
                log_frame_error(&peer, &error);
                break;
            }
            Waited::Idle => {
                tracing::warn!(%peer, size, "closing connection stalled in the middle of a frame (connections.max.idle.ms)");
                break;
            }
            Waited::Shutdown => break,
        };
        let written = match handlers::dispatch(&shard, &client, frame).await {
            Reply::Frame(bytes) => stream.write_all(&bytes).await,
            Reply::Segments(segments) => write_segments(&mut stream, &segments).await,
            Reply::Nothing => Ok(()),
            Reply::Close(reason) => {
                tracing::warn!(%peer, %reason, "closing connection");
                break;
            }
        };
        if let Err(error) = written {
            tracing::debug!(%peer, %error, "write failed");
            break;
        }
    }
    let _ = stream.close().await;
}

/// Waits for `future` unless the connection idles out or the broker stops.
async fn wait<T>(
    future: impl Future<Output = T>,
    idle_max: Option<Duration>,
    shutdown: &ShutdownSignal,
) -> Waited<T> {
    let idle = async move {
        match idle_max {
            Some(idle) => glommio::timer::sleep(idle).await,
            None => futures::future::pending().await,
        }
    };
    let stop = futures::future::select(Box::pin(idle), Box::pin(shutdown.requested()));
    match futures::future::select(Box::pin(future), stop).await {
        Either::Left((value, _)) => Waited::Done(value),
        Either::Right((Either::Left(_), _)) => Waited::Idle,
        Either::Right((Either::Right(_), _)) => Waited::Shutdown,
    }
}

fn log_frame_error(peer: &str, error: &FrameError) {
    match error {
        FrameError::Io(error) => tracing::debug!(%peer, %error, "connection error"),
        error => tracing::warn!(%peer, %error, "closing connection"),
    }
}

/// Writes a Fetch response: framing and record chunks straight from their
/// buffers. glommio has no vectored socket write, so each segment is its
/// own send (consecutive batches in one buffer are already one segment).
async fn write_segments<R: AsRef<[u8]>>(
    stream: &mut TcpStream,
    segments: &[Segment<R>],
) -> std::io::Result<()> {
    for segment in segments {
        stream.write_all(segment.as_ref()).await?;
    }
    Ok(())
}
