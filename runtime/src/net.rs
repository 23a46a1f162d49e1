//! TCP sockets: a listener shared by every shard (SO_REUSEPORT) and our own `Stream`, so that no
//! runtime type reaches the code that reads and writes requests.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use socket2::{Domain, Protocol, Socket, Type};

/// A TCP connection (nodelay). Reads and writes through `futures::io`'s traits.
pub struct Stream(glommio::net::TcpStream);

impl Stream {
    pub fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.peer_addr().map_err(std::io::Error::from)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Connects to `addr` (host:port), nodelay.
pub async fn connect(addr: &str) -> std::io::Result<Stream> {
    let s = glommio::net::TcpStream::connect(addr)
        .await
        .map_err(std::io::Error::from)?;
    s.set_nodelay(true).map_err(std::io::Error::from)?;
    Ok(Stream(s))
}

/// A listening socket shared by every shard through SO_REUSEPORT: the kernel spreads incoming
/// connections over the shards, and a connection then stays on the shard that accepted it.
pub struct Listener(glommio::net::TcpListener);

impl Listener {
    pub fn bind(addr: SocketAddr, backlog: i32) -> std::io::Result<Listener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog)?;
        // SAFETY: the descriptor is a bound, listening TCP socket that we own and hand over.
        Ok(Listener(unsafe {
            glommio::net::TcpListener::from_raw_fd(socket.into_raw_fd())
        }))
    }

    pub async fn accept(&self) -> std::io::Result<Stream> {
        let s = self.0.accept().await.map_err(std::io::Error::from)?;
        s.set_nodelay(true).map_err(std::io::Error::from)?;
        Ok(Stream(s))
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr().map_err(std::io::Error::from)
    }
}
