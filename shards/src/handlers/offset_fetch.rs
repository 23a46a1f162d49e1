//! OffsetFetch: a group's committed offsets (all, or of the partitions asked), -1 where none.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error::group_error_code;
use crate::groups::offsets::Committed;
use crate::router::{GroupAnswer, GroupOp};
use crate::shard::Shard;

pub async fn handle(shard: &Shard, r: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let committed: BTreeMap<(String, i32), Committed> =
        match shard.group(&r.group_id.0, GroupOp::Fetch).await {
            GroupAnswer::Offsets(list) => list.into_iter().map(|(t, p, c)| ((t, p), c)).collect(),
            GroupAnswer::Done(outcome) => {
                let code = group_error_code(outcome);
                return OffsetFetchResponse::default().with_error_code(if version >= 2 {
                    code
                } else {
                    0
                });
            }
            _ => BTreeMap::new(),
        };
    let wanted: Vec<(String, Vec<i32>)> = match &r.topics {
        Some(topics) => topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect(),
        None => {
            let mut all: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in committed.keys() {
                all.entry(t.clone()).or_default().push(*p);
            }
            all.into_iter().collect()
        }
    };
    let topics = wanted
        .into_iter()
        .map(|(name, partitions)| {
            let parts = partitions
                .into_iter()
                .map(|p| {
                    let r = OffsetFetchResponsePartition::default().with_partition_index(p);
                    match committed.get(&(name.clone(), p)) {
                        Some(c) => {
                            let r = r.with_committed_offset(c.offset).with_metadata(Some(
                                StrBytes::from_string(c.metadata.clone().unwrap_or_default()),
                            ));
                            if version >= 5 {
                                r.with_committed_leader_epoch(c.leader_epoch)
                            } else {
                                r
                            }
                        }
                        None => r
                            .with_committed_offset(-1)
                            .with_metadata(Some(StrBytes::from_static_str(""))),
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(parts)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
