//! One client connection: read a frame, answer it, repeat.
//!
//! Bad input closes this connection only, with one log line: an oversized
//! or truncated frame, an unknown API key or version (other than
//! ApiVersions, which is answered), a request that does not decode.

use std::rc::Rc;

use futures::future::Either;
use futures::io::AsyncWriteExt;
use glommio::net::TcpStream;

use crate::broker::shard::ShardState;
use crate::handlers::{self, ClientInfo, Reply};
use crate::protocol::fetch_encoding::Segment;
use crate::protocol::{read_frame, FrameError};

pub async fn serve(shard: Rc<ShardState>, mut stream: TcpStream) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map_or_else(|| "unknown".into(), |a| a.to_string());
    let client = ClientInfo::from_peer(peer_addr);
    let _ = stream.set_nodelay(true);
    let max_bytes = shard.config().socket_request_bytes_max;
    let shutdown = shard.context().shutdown_signal();
    loop {
        let frame = {
            let read = Box::pin(read_frame(&mut stream, max_bytes));
            match futures::future::select(read, Box::pin(shutdown.requested())).await {
                Either::Left((frame, _)) => frame,
                Either::Right(_) => break,
            }
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(FrameError::Io(error)) => {
                tracing::debug!(%peer, %error, "connection error");
                break;
            }
            Err(error) => {
                tracing::warn!(%peer, %error, "closing connection");
                break;
            }
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
