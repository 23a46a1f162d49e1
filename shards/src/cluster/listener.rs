//! The controller listener of a voter: peers' Raft messages go to the node, calls get answered.
//! A connection must open with a hello of this cluster; Raft messages are decoded only from
//! voters (raft-rs's protobuf decoder has a stack-exhaustion advisory, RUSTSEC-2024-0437).

use std::net::SocketAddr;
use std::rc::Rc;

use strata_controller::wire::{decode_message, Hello};
use strata_runtime::{self as rt, Listener};

use super::calls::Call;
use super::frames;
use crate::error::BrokerError;
use crate::shard::Shard;

/// Binds `addr` and serves it until the shard stops.
pub fn start(shard: Rc<Shard>, addr: &str) -> Result<(), BrokerError> {
    let parsed: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            BrokerError::Config(format!("controller address {addr:?} does not resolve"))
        })?;
    let listener = Listener::bind(parsed, 128)
        .map_err(|e| BrokerError::io(format!("listen for controller peers on {addr}"), e))?;
    tracing::info!(%addr, "the controller listens");
    rt::spawn_detached(async move {
        loop {
            match listener.accept().await {
                Ok(stream) => {
                    rt::spawn_detached(serve(shard.clone(), stream));
                }
                Err(e) => {
                    tracing::warn!("accepting a controller peer: {e}");
                    rt::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}

async fn serve(shard: Rc<Shard>, mut stream: rt::Stream) {
    let Some(cluster) = shard.cluster() else {
        return;
    };
    let max = shard.config.max_frame_bytes;
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let hello = match frames::read(&mut stream, 1024).await {
        Ok(Some((frames::HELLO, bytes))) => match Hello::decode(&bytes) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(%peer, "a controller peer's hello: {e}");
                return;
            }
        },
        _ => return,
    };
    if hello.cluster_id != cluster.cluster_id {
        tracing::warn!(
            %peer,
            theirs = %hello.cluster_id,
            ours = %cluster.cluster_id,
            "a node of another cluster called; closing"
        );
        return;
    }
    let voter = cluster.is_voter(hello.node_id);
    loop {
        let (kind, body) = match frames::read(&mut stream, max).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(%peer, "a controller peer's connection: {e}");
                return;
            }
        };
        match kind {
            frames::RAFT if voter => match decode_message(&body, max) {
                Ok(message) => {
                    if let Some(node) = &cluster.node {
                        node.raft(message);
                    }
                }
                Err(e) => {
                    tracing::warn!(%peer, "a Raft message: {e}");
                    return;
                }
            },
            frames::CALL => {
                let answer = match Call::decode(&body) {
                    Ok(call) => cluster.answer(&shard, call).await,
                    Err(e) => {
                        tracing::warn!(%peer, "a call: {e}");
                        return;
                    }
                };
                if frames::write(&mut stream, frames::ANSWER, &answer.encode())
                    .await
                    .is_err()
                {
                    return;
                }
            }
            other => {
                tracing::warn!(%peer, kind = other, voter, "an unexpected frame; closing");
                return;
            }
        }
    }
}
