//! One client connection: frames are read, each request is handled in its own task as soon as it
//! arrives, and the responses are written back in request order (Kafka clients rely on it).
//! Requests in flight are bounded in count (a bounded queue) and in bytes (per connection and
//! per shard), so a slow client stalls only itself and memory stays bounded.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::{SinkExt, StreamExt};
use strata_engine::rt;

use crate::codec::{decode_request, encode_response, frame_len, Decoded};
use crate::error::BrokerError;
use crate::handlers;
use crate::rt_net::{Budget, Stream};
use crate::shard::Shard;

/// Completes when the broker is asked to stop.
pub type ShutdownSignal = Shared<futures::channel::oneshot::Receiver<()>>;

type PendingResponse = LocalBoxFuture<'static, Result<Option<Bytes>, BrokerError>>;

pub async fn serve(
    shard: Rc<Shard>,
    stream: Stream,
    shard_bytes: Budget,
    shutdown: ShutdownSignal,
) {
    let peer = stream.peer_addr().ok();
    let (mut reader, mut writer) = stream.split();
    let config = shard.config.clone();
    let (mut queue, mut responses) =
        mpsc::channel::<PendingResponse>(config.max_in_flight_requests_per_connection);
    let connection_bytes = Budget::new(config.max_frame_bytes as u64 * 2);

    let writing = rt::spawn(async move {
        while let Some(pending) = responses.next().await {
            match pending.await {
                Ok(Some(frame)) => {
                    if let Err(e) = writer.write_all(&frame).await {
                        tracing::debug!(?peer, "write failed: {e}");
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(?peer, "closing connection: {e}");
                    break;
                }
            }
        }
        let _ = writer.close().await;
    });

    let mut shutdown = shutdown;
    loop {
        let mut prefix = [0u8; 4];
        let read = reader.read_exact(&mut prefix).fuse();
        futures::pin_mut!(read);
        futures::select! {
            r = read => if r.is_err() { break },
            _ = shutdown => break,
        }
        let len = match frame_len(prefix, config.max_frame_bytes) {
            Ok(len) => len,
            Err(e) => {
                tracing::warn!(?peer, "closing connection: {e}");
                break;
            }
        };
        let shard_permit = shard_bytes.take(len as u64).await;
        let connection_permit = connection_bytes.take(len as u64).await;
        let mut frame = BytesMut::zeroed(len);
        if reader.read_exact(&mut frame).await.is_err() {
            break;
        }
        let pending = match decode_request(frame.freeze()) {
            Ok(decoded) => {
                let shard = shard.clone();
                // Detached: a request runs to its end even if the client goes away, so that no
                // append, flush or sync is cut off half-way; its answer is then dropped.
                let (tx, rx) = futures::channel::oneshot::channel();
                rt::spawn_detached(async move {
                    let _permits = (shard_permit, connection_permit);
                    let _ = tx.send(respond(&shard, decoded).await);
                });
                async move {
                    rx.await.unwrap_or_else(|_| {
                        Err(BrokerError::BadRequest(
                            "request task ended without an answer".into(),
                        ))
                    })
                }
                .boxed_local()
            }
            Err(e) => {
                // Earlier responses still go out; then the connection closes.
                log_bad_request(peer, &e);
                let _ = queue
                    .send(futures::future::ready(Err(e)).boxed_local())
                    .await;
                break;
            }
        };
        if queue.send(pending).await.is_err() {
            break;
        }
    }
    drop(queue);
    writing.await;
}

fn log_bad_request(peer: Option<SocketAddr>, e: &BrokerError) {
    tracing::warn!(?peer, "bad request, closing the connection: {e}");
}

async fn respond(shard: &Shard, decoded: Decoded) -> Result<Option<Bytes>, BrokerError> {
    match decoded {
        Decoded::ApiVersionsTooNew { correlation_id } => {
            let body = handlers::api_versions::unsupported_version();
            encode_response(
                kafka_protocol::messages::ApiKey::ApiVersions,
                0,
                correlation_id,
                &body,
                0,
            )
            .map(Some)
        }
        Decoded::Request(request) => {
            let (api, version, correlation_id) = (
                request.api,
                request.header.request_api_version,
                request.header.correlation_id,
            );
            match handlers::handle(shard, *request).await? {
                Some((body, hint)) => {
                    encode_response(api, version, correlation_id, &body, hint).map(Some)
                }
                None => Ok(None),
            }
        }
    }
}
