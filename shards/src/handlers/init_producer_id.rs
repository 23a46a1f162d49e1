//! InitProducerId for idempotent producers: a new producer id with epoch 0, or, when a producer
//! presents its id and epoch (v3+, KIP-360), the same id with the next epoch, which fences the
//! old epoch on every partition. Transactional ids are not served.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::shard::Shard;

pub fn handle(shard: &Shard, r: InitProducerIdRequest) -> InitProducerIdResponse {
    if r.transactional_id.is_some() {
        return InitProducerIdResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_producer_id(ProducerId(-1));
    }
    if r.producer_id.0 >= 0 && r.producer_epoch >= 0 && r.producer_epoch < i16::MAX - 1 {
        return InitProducerIdResponse::default()
            .with_producer_id(r.producer_id)
            .with_producer_epoch(r.producer_epoch + 1);
    }
    match shard.producer_ids.allocate() {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!("allocating a producer id: {e}");
            InitProducerIdResponse::default()
                .with_error_code(ResponseError::KafkaStorageError.code())
                .with_producer_id(ProducerId(-1))
        }
    }
}
