//! Frames on a connection between cluster nodes: `[length u32][kind u8][payload]`. A connection
//! opens with a hello (which cluster, which node); then Raft messages go one way, and calls
//! (register, heartbeat, forwarded topic changes, metadata fetches) get one answer each.

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const HELLO: u8 = 0;
pub const RAFT: u8 = 1;
pub const CALL: u8 = 2;
pub const ANSWER: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("a frame of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("an empty frame")]
    Empty,
}

/// Reads one frame: its kind and payload. `Ok(None)` when the peer closed between frames.
pub async fn read<R: AsyncRead + Unpin>(
    from: &mut R,
    max_bytes: usize,
) -> Result<Option<(u8, Vec<u8>)>, FrameError> {
    let mut len = [0u8; 4];
    match from.read_exact(&mut len).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max_bytes {
        return Err(FrameError::TooLarge {
            len,
            max: max_bytes,
        });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    let mut buf = vec![0u8; len];
    from.read_exact(&mut buf).await?;
    let kind = buf.remove(0);
    Ok(Some((kind, buf)))
}

pub async fn write<W: AsyncWrite + Unpin>(
    to: &mut W,
    kind: u8,
    payload: &[u8],
) -> Result<(), FrameError> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.extend_from_slice(&(payload.len() as u32 + 1).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
    to.write_all(&out).await?;
    to.flush().await?;
    Ok(())
}
