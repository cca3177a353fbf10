//! Kafka's framing: every request is a 4-byte big-endian size followed by
//! that many bytes; the first 8 of them are always the API key, the API
//! version and the correlation id, whatever the version.
//!
//! ```text
//! | size i32 | api_key i16 | api_version i16 | correlation_id i32 | client_id ... | body ... |
//! ```
//!
//! The prefix is read before the full header is decoded, so a request with
//! an unknown key or version can still be answered (ApiVersions) or logged
//! with its correlation id before the connection is closed.

use bytes::{Bytes, BytesMut};
use futures::io::{AsyncRead, AsyncReadExt};

/// Why a frame could not be read. Each closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds socket.request.max.bytes ({max})")]
    TooLarge { size: i64, max: usize },
    #[error("frame size {0} is too small for a request header")]
    TooSmall(i32),
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// The fixed first 8 bytes of every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Bytes in [`RequestPrefix`].
pub const REQUEST_PREFIX_BYTES: usize = 8;

impl RequestPrefix {
    pub fn parse(frame: &[u8]) -> Option<RequestPrefix> {
        let bytes = frame.get(..REQUEST_PREFIX_BYTES)?;
        Some(RequestPrefix {
            api_key: i16::from_be_bytes([bytes[0], bytes[1]]),
            api_version: i16::from_be_bytes([bytes[2], bytes[3]]),
            correlation_id: i32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        })
    }
}

/// The first buffer a frame body is read into; it doubles as bytes arrive,
/// up to the frame's size. A size prefix alone therefore never makes the
/// broker allocate more than this (plus twice what really arrived).
pub const FRAME_READ_STEP_BYTES: usize = 64 * 1024;

/// Reads one frame. `Ok(None)` is a clean end of stream between frames.
/// The size is checked against `max_bytes` before any allocation.
pub async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_bytes: usize,
) -> Result<Option<Bytes>, FrameError> {
    match read_frame_size(stream, max_bytes).await? {
        Some(size) => read_frame_body(stream, size).await.map(Some),
        None => Ok(None),
    }
}

/// Reads a frame's 4-byte size prefix and checks it: at least a request
/// prefix, at most `max_bytes`. `Ok(None)` is a clean end of stream.
pub async fn read_frame_size<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_bytes: usize,
) -> Result<Option<usize>, FrameError> {
    let mut size_bytes = [0u8; 4];
    let mut filled = 0;
    while filled < size_bytes.len() {
        let n = stream.read(&mut size_bytes[filled..]).await?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        filled += n;
    }
    let size = i32::from_be_bytes(size_bytes);
    if size < REQUEST_PREFIX_BYTES as i32 {
        return Err(FrameError::TooSmall(size));
    }
    if size as usize > max_bytes {
        return Err(FrameError::TooLarge {
            size: size as i64,
            max: max_bytes,
        });
    }
    Ok(Some(size as usize))
}

/// Reads a frame body of `size` (checked) bytes into a buffer that grows
/// with what arrives, from [`FRAME_READ_STEP_BYTES`], doubling.
pub async fn read_frame_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    size: usize,
) -> Result<Bytes, FrameError> {
    let mut frame = BytesMut::new();
    let mut filled = 0;
    while filled < size {
        if filled == frame.len() {
            let grown = (frame.len() * 2).max(FRAME_READ_STEP_BYTES).min(size);
            frame.resize(grown, 0);
        }
        let n = stream.read(&mut frame[filled..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated);
        }
        filled += n;
    }
    Ok(frame.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn reads_frames_and_prefix() {
        let body = [0, 18, 0, 3, 0, 0, 0, 7, 0xff, 0xff];
        let mut input = framed(&body);
        input.extend(framed(&body));
        let mut stream = futures::io::Cursor::new(input);
        for _ in 0..2 {
            let frame = block_on(read_frame(&mut stream, 100)).unwrap().unwrap();
            assert_eq!(&frame[..], &body);
            let prefix = RequestPrefix::parse(&frame).unwrap();
            assert_eq!(prefix.api_key, 18);
            assert_eq!(prefix.api_version, 3);
            assert_eq!(prefix.correlation_id, 7);
        }
        assert!(block_on(read_frame(&mut stream, 100)).unwrap().is_none());
    }

    #[test]
    fn rejects_bad_sizes_without_allocating() {
        let mut stream = futures::io::Cursor::new(framed(&[0u8; 200]));
        assert!(matches!(
            block_on(read_frame(&mut stream, 100)),
            Err(FrameError::TooLarge {
                size: 200,
                max: 100
            })
        ));
        let mut stream = futures::io::Cursor::new((-5i32).to_be_bytes().to_vec());
        assert!(matches!(
            block_on(read_frame(&mut stream, 100)),
            Err(FrameError::TooSmall(-5))
        ));
        let mut stream = futures::io::Cursor::new(i32::MAX.to_be_bytes().to_vec());
        assert!(matches!(
            block_on(read_frame(&mut stream, 100)),
            Err(FrameError::TooLarge { .. })
        ));
    }

    /// A reader that hands out at most `step` bytes per read, as a socket
    /// does when a large frame arrives in pieces.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.step).min(self.bytes.len() - self.at);
            let at = self.at;
            buf[..n].copy_from_slice(&self.bytes[at..at + n]);
            self.at += n;
            std::task::Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn large_frames_arriving_in_pieces_read_whole() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let mut stream = Trickle {
            bytes: framed(&body),
            at: 0,
            step: 7_777,
        };
        let frame = block_on(read_frame(&mut stream, 1 << 20)).unwrap().unwrap();
        assert_eq!(&frame[..], &body[..]);
        // A prefix that promises a megabyte followed by a few bytes is
        // truncated, not a megabyte buffer waiting to be filled.
        let mut promise = (1i32 << 20).to_be_bytes().to_vec();
        promise.extend([1u8; 100]);
        let mut stream = Trickle {
            bytes: promise,
            at: 0,
            step: 10,
        };
        assert!(matches!(
            block_on(read_frame(&mut stream, 1 << 21)),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn truncated_frames_are_errors() {
        let mut input = framed(&[1u8; 20]);
        input.truncate(15);
        let mut stream = futures::io::Cursor::new(input);
        assert!(matches!(
            block_on(read_frame(&mut stream, 100)),
            Err(FrameError::Truncated)
        ));
        let mut stream = futures::io::Cursor::new(vec![0u8, 0]);
        assert!(matches!(
            block_on(read_frame(&mut stream, 100)),
            Err(FrameError::Truncated)
        ));
    }
}
