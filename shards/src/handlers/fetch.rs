//! Fetch: reads every partition on its owner at once; with too little data, waits (no polling)
//! until an owner reports new data or max_wait_ms passes, then reads again. Stored batches are
//! sent back as they are. Limits: partition_max_bytes per partition and max_bytes in all, but
//! always at least one batch of the first partition with data, as Kafka does.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

use crate::error::partition_error_code;
use crate::router::{PartitionKey, PartitionRead, PartitionReadResult};
use crate::shard::Shard;

/// A fetch waits at most this long whatever it asks, so a shutdown is never held up for long.
const MAX_WAIT_CAP_MS: i32 = 30_000;

/// The response, and the bytes of records in it (for sizing the encode buffer).
pub async fn handle(shard: &Shard, request: FetchRequest, version: i16) -> (FetchResponse, usize) {
    if request.replica_id.0 >= 0 {
        return handle_follower(shard, request, version).await;
    }
    let max_bytes = request_max_bytes(&request);
    let reads: Vec<PartitionRead> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| PartitionRead {
                key: PartitionKey {
                    topic: t.topic.0.to_string(),
                    partition: p.partition,
                },
                offset: p.fetch_offset,
                max_bytes: (p.partition_max_bytes.max(0) as usize).min(max_bytes),
                // current_leader_epoch exists from v9 on (-1 before: not given).
                current_leader_epoch: if version >= 9 {
                    p.current_leader_epoch
                } else {
                    -1
                },
            })
        })
        .collect();
    let min_bytes = request.min_bytes.max(0) as usize;
    let mut results = shard.read(reads.clone()).await;
    let enough = |results: &[PartitionReadResult]| {
        let bytes: usize = results
            .iter()
            .flat_map(|r| r.batches.iter())
            .map(Bytes::len)
            .sum();
        bytes >= min_bytes.max(1) || results.iter().any(|r| r.error.is_some())
    };
    let max_wait_ms = request.max_wait_ms.clamp(0, MAX_WAIT_CAP_MS);
    if max_wait_ms > 0 && !enough(&results) {
        let waits = reads.iter().map(|r| (r.key.clone(), r.offset)).collect();
        let waiting = std::time::Instant::now();
        shard
            .wait_for_data(waits, Duration::from_millis(max_wait_ms as u64), false)
            .await;
        strata_runtime::timings::record_since(crate::latency::FETCH_LONG_POLL, waiting);
        results = shard.read(reads).await;
    }

    let ok = |r: &PartitionReadResult| r.error.is_none();
    assemble(
        &request,
        results,
        max_bytes,
        |p, r: &PartitionReadResult| {
            // log_start_offset exists from v5 on; before, it must stay at its default.
            let data = PartitionData::default()
                .with_partition_index(p.partition)
                .with_error_code(r.error.as_ref().map_or(0, partition_error_code))
                .with_high_watermark(if ok(r) { r.high_watermark } else { -1 })
                .with_last_stable_offset(if ok(r) { r.high_watermark } else { -1 })
                .with_log_start_offset(if ok(r) && version >= 5 {
                    r.log_start_offset
                } else {
                    -1
                });
            (data, &r.batches)
        },
    )
}

/// Fetch's `max_bytes` (0 or less: no bound).
fn request_max_bytes(request: &FetchRequest) -> usize {
    if request.max_bytes <= 0 {
        i32::MAX as usize
    } else {
        request.max_bytes as usize
    }
}

/// The response, in the request's order of topics and partitions, from one result per
/// partition: `answer` gives a partition's data without records and its batches, which are
/// taken within `max_bytes` over the whole response (`take_within`). With the bytes of records
/// in it.
fn assemble<R: Default>(
    request: &FetchRequest,
    results: Vec<R>,
    max_bytes: usize,
    answer: impl for<'r> Fn(&FetchPartition, &'r R) -> (PartitionData, &'r [Bytes]),
) -> (FetchResponse, usize) {
    let mut results = results.into_iter();
    let mut total = 0usize;
    let mut record_bytes = 0usize;
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = results.next().unwrap_or_default();
                    let (data, batches) = answer(p, &r);
                    let records = take_within(batches, &mut total, max_bytes);
                    record_bytes += records.len();
                    data.with_records(Some(records))
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default()
            .with_session_id(0)
            .with_responses(topics),
        record_bytes,
    )
}

/// The batches that fit in what is left of `max_bytes` (all of the first, if nothing was taken
/// yet), as one buffer.
fn take_within(batches: &[Bytes], total: &mut usize, max_bytes: usize) -> Bytes {
    let mut n = 0;
    let mut size = 0;
    for b in batches {
        if *total + size + b.len() > max_bytes && *total + size > 0 {
            break;
        }
        size += b.len();
        n += 1;
    }
    *total += size;
    match &batches[..n] {
        [] => Bytes::new(),
        [one] => one.clone(),
        many => {
            let mut out = BytesMut::with_capacity(size);
            for b in many {
                out.extend_from_slice(b);
            }
            out.freeze()
        }
    }
}

/// A follower's fetch (a replica id): `crate::replication::serve`. It waits, as a consumer's
/// does, for data past its offsets, but data written, not only below the high watermark.
async fn handle_follower(
    shard: &Shard,
    request: FetchRequest,
    version: i16,
) -> (FetchResponse, usize) {
    use crate::replication::serve::{ReplicaFetch, ReplicaFetched};
    use kafka_protocol::messages::fetch_response::EpochEndOffset;
    let follower = request.replica_id.0;
    let max_bytes = request_max_bytes(&request);
    let reads: Vec<ReplicaFetch> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| ReplicaFetch {
                key: PartitionKey {
                    topic: t.topic.0.to_string(),
                    partition: p.partition,
                },
                offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                last_fetched_epoch: if version >= 12 {
                    p.last_fetched_epoch
                } else {
                    -1
                },
                max_bytes: (p.partition_max_bytes.max(0) as usize).min(max_bytes),
            })
        })
        .collect();
    let has_news = |results: &[ReplicaFetched]| {
        results
            .iter()
            .any(|r| !r.read.batches.is_empty() || r.read.error.is_some() || r.diverging.is_some())
    };
    let mut results = shard.replica_read(follower, reads.clone()).await;
    let max_wait_ms = request.max_wait_ms.clamp(0, MAX_WAIT_CAP_MS);
    if max_wait_ms > 0 && !has_news(&results) {
        let waits = reads.iter().map(|r| (r.key.clone(), r.offset)).collect();
        shard
            .wait_for_data(waits, Duration::from_millis(max_wait_ms as u64), true)
            .await;
        results = shard.replica_read(follower, reads).await;
    }
    assemble(&request, results, max_bytes, |p, r: &ReplicaFetched| {
        let mut data = PartitionData::default()
            .with_partition_index(p.partition)
            .with_error_code(r.read.error.as_ref().map_or(0, partition_error_code))
            .with_high_watermark(r.read.high_watermark)
            .with_last_stable_offset(r.read.high_watermark)
            .with_log_start_offset(if version >= 5 {
                r.read.log_start_offset
            } else {
                -1
            });
        if let (Some((epoch, end)), true) = (r.diverging, version >= 12) {
            data = data.with_diverging_epoch(
                EpochEndOffset::default()
                    .with_epoch(epoch)
                    .with_end_offset(end),
            );
        }
        (data, &r.read.batches)
    })
}
