//! The channels between shards: every shard to every other, bounded, so that a busy shard slows
//! its senders down.

use glommio::channels::channel_mesh::{MeshBuilder, Receivers, Senders};

use crate::sync::FifoLock;

/// A shard could not join the mesh (another shard's executor failed to start).
#[derive(Debug, thiserror::Error)]
#[error("joining the shard mesh failed")]
pub struct MeshJoinFailed;

/// Every shard's channels to every other.
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
    pub async fn join(self) -> Result<(ShardSenders<T>, ShardReceivers<T>), MeshJoinFailed> {
        let (s, r) = self.0.join().await.map_err(|_| MeshJoinFailed)?;
        let turns = (0..s.nr_consumers()).map(|_| FifoLock::new()).collect();
        Ok((ShardSenders { senders: s, turns }, ShardReceivers(r)))
    }
}

pub struct ShardSenders<T: Send> {
    senders: Senders<T>,
    /// One per destination: senders waiting for room in a full channel are let in in the order
    /// they came (glommio wakes them in any order, and a newcomer can slip in ahead), so that
    /// messages from one shard to another arrive in the order they were sent.
    turns: Vec<FifoLock>,
}

impl<T: Send> ShardSenders<T> {
    pub fn my_id(&self) -> usize {
        self.senders.peer_id()
    }

    /// Sends to shard `to`, waiting while its queue is full; gives the message back if that
    /// shard is gone.
    pub async fn send(&self, to: usize, msg: T) -> Result<(), T> {
        let _turn = match self.turns.get(to) {
            Some(turn) => Some(turn.lock().await),
            None => None,
        };
        self.senders.send_to(to, msg).await.map_err(|e| match e {
            glommio::GlommioError::Closed(glommio::ResourceType::Channel(m)) => m,
            glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(m)) => m,
            other => panic!("unexpected mesh error: {other}"),
        })
    }

    pub fn close(&self) {
        self.senders.close();
    }
}

pub struct ShardReceivers<T: Send>(Receivers<T>);

impl<T: Send + 'static> ShardReceivers<T> {
    /// One stream of messages per other shard.
    pub fn streams(&mut self) -> Vec<(usize, impl futures::Stream<Item = T>)> {
        self.0.streams()
    }
}
