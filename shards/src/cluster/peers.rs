//! Raft messages to the other voters: one connection and one bounded queue per peer, each kept
//! by its own task. A message that finds the queue full, or the peer unreachable, is dropped:
//! Raft sends again (heartbeats, retried appends), so a slow or dead peer never holds the
//! controller up.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use raft::eraftpb::Message;
use strata_controller::wire::{encode_message, Hello};
use strata_runtime::{self as rt, first};

use super::frames;
use super::quorum::Voter;

/// Messages queued per peer before new ones are dropped.
const QUEUE: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RETRY_AFTER: Duration = Duration::from_millis(200);

pub struct RaftPeers {
    queues: BTreeMap<u64, mpsc::Sender<Vec<u8>>>,
}

impl RaftPeers {
    /// Starts a sender task for every voter but `me`.
    pub fn start(me: i32, voters: &[Voter], cluster_id: &str) -> RaftPeers {
        let mut queues = BTreeMap::new();
        for v in voters.iter().filter(|v| v.node_id != me) {
            let (tx, rx) = mpsc::channel(QUEUE);
            queues.insert(strata_controller::replica::raft_id(v.node_id), tx);
            let hello = Hello {
                cluster_id: cluster_id.to_string(),
                node_id: me,
            };
            rt::spawn_detached(keep_sending(v.addr.clone(), hello, rx));
        }
        RaftPeers { queues }
    }

    pub fn send(&self, message: Message) {
        if let Some(queue) = self.queues.get(&message.to) {
            // Full: dropped, Raft sends again.
            let _ = queue.clone().try_send(encode_message(&message));
        }
    }
}

async fn keep_sending(addr: String, hello: Hello, mut queue: mpsc::Receiver<Vec<u8>>) {
    let mut next: Option<Vec<u8>> = None;
    loop {
        let connected = match first(rt::connect(&addr), rt::sleep(CONNECT_TIMEOUT)).await {
            futures::future::Either::Left(Ok(s)) => Some(s),
            _ => None,
        };
        let Some(mut stream) = connected else {
            // Unreachable: what waits is stale by the time it comes back.
            while queue.try_recv().is_ok() {}
            rt::sleep(RETRY_AFTER).await;
            continue;
        };
        if frames::write(&mut stream, frames::HELLO, &hello.encode())
            .await
            .is_err()
        {
            rt::sleep(RETRY_AFTER).await;
            continue;
        }
        loop {
            let message = match next.take() {
                Some(m) => m,
                None => match queue.next().await {
                    Some(m) => m,
                    None => return,
                },
            };
            if let Err(e) = frames::write(&mut stream, frames::RAFT, &message).await {
                tracing::debug!(%addr, "sending to a controller peer: {e}");
                break;
            }
        }
        rt::sleep(RETRY_AFTER).await;
    }
}
