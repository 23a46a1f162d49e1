//! The broker's side of the runtime seam (with `strata_engine::rt` for executors, files and
//! timers): sockets, the channel mesh between shards, and byte budgets. Everything the broker
//! takes from glommio's networking and channels goes through here.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;

use glommio::channels::channel_mesh::{MeshBuilder, Receivers, Senders};
use socket2::{Domain, Protocol, Socket, Type};

pub type Stream = glommio::net::TcpStream;

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
        Ok(s)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr().map_err(std::io::Error::from)
    }
}

/// Every shard's channels to every other: bounded, so a busy shard slows its senders down.
pub struct Mesh<T: Send + 'static>(MeshBuilder<T, glommio::channels::channel_mesh::Full>);

impl<T: Send + 'static> Clone for Mesh<T> {
    fn clone(&self) -> Self {
        Mesh(self.0.clone())
    }
}

impl<T: Send + 'static> Mesh<T> {
    pub fn new(shards: usize, capacity: usize) -> Self {
        Mesh(MeshBuilder::full(shards, capacity))
    }

    /// Joins from a shard's executor; every shard must join before any returns.
    pub async fn join(self) -> Result<(ShardSenders<T>, ShardReceivers<T>), String> {
        let (s, r) = self
            .0
            .join()
            .await
            .map_err(|_| "joining the shard mesh failed".to_string())?;
        Ok((ShardSenders(s), ShardReceivers(r)))
    }
}

pub struct ShardSenders<T: Send>(Senders<T>);

impl<T: Send> ShardSenders<T> {
    pub fn my_id(&self) -> usize {
        self.0.peer_id()
    }

    /// Sends to shard `to`, waiting while its queue is full; gives the message back if that
    /// shard is gone.
    pub async fn send(&self, to: usize, msg: T) -> Result<(), T> {
        self.0.send_to(to, msg).await.map_err(|e| match e {
            glommio::GlommioError::Closed(glommio::ResourceType::Channel(m)) => m,
            glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(m)) => m,
            other => panic!("unexpected mesh error: {other}"),
        })
    }

    pub fn close(&self) {
        self.0.close();
    }
}

pub struct ShardReceivers<T: Send>(Receivers<T>);

impl<T: Send + 'static> ShardReceivers<T> {
    /// One stream of messages per other shard.
    pub fn streams(&mut self) -> Vec<(usize, impl futures::Stream<Item = T>)> {
        self.0.streams()
    }
}

/// A budget of units (bytes, requests) that tasks take and give back, waiting when it is spent.
#[derive(Clone)]
pub struct Budget {
    semaphore: Rc<glommio::sync::Semaphore>,
    total: u64,
}

/// Units taken from a budget, given back on drop.
pub struct Taken(#[allow(dead_code)] glommio::sync::StaticPermit);

impl Budget {
    pub fn new(total: u64) -> Self {
        Budget {
            semaphore: Rc::new(glommio::sync::Semaphore::new(total)),
            total,
        }
    }

    /// Takes `units` (a request larger than the whole budget takes all of it), waiting until
    /// they are free.
    pub async fn take(&self, units: u64) -> Taken {
        let units = units.clamp(1, self.total);
        match self.semaphore.acquire_static_permit(units).await {
            Ok(p) => Taken(p),
            Err(e) => panic!("budget semaphore closed: {e}"),
        }
    }
}

/// Either of two futures, whichever finishes first; the other is dropped.
pub async fn first<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> futures::future::Either<A::Output, B::Output> {
    use futures::future::{select, Either};
    match select(Box::pin(a), Box::pin(b)).await {
        Either::Left((x, _)) => Either::Left(x),
        Either::Right((y, _)) => Either::Right(y),
    }
}
