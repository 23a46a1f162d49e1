//! InitProducerId for idempotent producers: a new producer id with epoch 0, or, when a producer
//! presents its id and epoch (v3+, KIP-360), the same id with the next epoch. The new epoch
//! fences the old one on every partition as soon as it writes there; a producer presenting an
//! epoch that was already superseded is fenced here (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH
//! before v4). Transactional ids are not served.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::producer_ids::Bump;
use crate::shard::Shard;

pub async fn handle(
    shard: &Shard,
    r: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    if r.transactional_id.is_some() {
        return refuse(ResponseError::UnsupportedVersion);
    }
    if r.producer_id.0 >= 0 && r.producer_epoch >= 0 {
        match shard
            .bump_producer_epoch(r.producer_id.0, r.producer_epoch)
            .await
        {
            Ok(Bump::Epoch(epoch)) => {
                return InitProducerIdResponse::default()
                    .with_producer_id(r.producer_id)
                    .with_producer_epoch(epoch)
            }
            Ok(Bump::Fenced { current }) => {
                tracing::info!(
                    producer_id = r.producer_id.0,
                    epoch = r.producer_epoch,
                    current,
                    "fenced a producer re-initialising a superseded epoch"
                );
                return refuse(if version >= 4 {
                    ResponseError::ProducerFenced
                } else {
                    ResponseError::InvalidProducerEpoch
                });
            }
            // Its epochs are used up: a new id below.
            Ok(Bump::Exhausted) => {}
            Err(e) => {
                tracing::error!("re-initialising producer id {}: {e}", r.producer_id.0);
                return refuse(ResponseError::KafkaStorageError);
            }
        }
    }
    match shard.allocate_producer_id().await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!("allocating a producer id: {e}");
            refuse(ResponseError::KafkaStorageError)
        }
    }
}

fn refuse(error: ResponseError) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(error.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
