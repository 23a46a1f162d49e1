//! DescribeQuorum: the controller quorum behind the metadata log (`__cluster_metadata`,
//! partition 0, as KRaft names it): its leader, leader epoch (the Raft term), high watermark
//! (the last entry applied here) and voters, with each voter's log end while this node leads.
//! What `kafka-metadata-quorum describe` and `strata cluster describe` show.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::shard::Shard;

/// The metadata log's name, as Kafka's.
const METADATA_TOPIC: &str = "__cluster_metadata";

pub async fn handle(
    shard: &Shard,
    request: DescribeQuorumRequest,
    version: i16,
) -> DescribeQuorumResponse {
    let asked = request.topics.iter().any(|t| {
        t.topic_name.0.as_str() == METADATA_TOPIC
            && t.partitions.iter().any(|p| p.partition_index == 0)
    });
    if !asked {
        return DescribeQuorumResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message((version >= 2).then(|| {
                StrBytes::from_static_str("only __cluster_metadata partition 0 has a quorum")
            }));
    }
    let q = shard.quorum_state().await;
    let log_end = |id: i32| -> i64 {
        q.log_ends
            .iter()
            .chain(q.own_log_end.iter())
            .find(|(n, _)| *n == id)
            .map_or(-1, |(_, end)| *end as i64)
    };
    let voters = q
        .voters
        .iter()
        .map(|&id| {
            let state = ReplicaState::default()
                .with_replica_id(BrokerId(id))
                .with_log_end_offset(log_end(id));
            if version >= 1 {
                state
                    .with_last_fetch_timestamp(-1)
                    .with_last_caught_up_timestamp(-1)
            } else {
                state
            }
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(q.leader))
        .with_leader_epoch(q.term as i32)
        .with_high_watermark(q.high_watermark as i64)
        .with_current_voters(voters);
    DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![partition])])
}
