//! The broker's latency accounting: the stages of a request it times, and the report of them.
//! Every shard records into its own thread's timings (`strata_runtime::timings`, lock-free);
//! `--latency-report` has each shard print its stages' percentiles every
//! `latency_report_interval_ms` and when it stops, then start afresh.

use kafka_protocol::messages::ApiKey;
use strata_runtime::timings::{self, StageTimings};

/// A frame's first byte to its last (a frame that arrives in pieces takes longer).
pub const FRAME_READ: &str = "request.frame_read";
/// Decoding a frame's header and body.
pub const DECODE: &str = "request.decode";
/// A response ready to its write starting: waiting behind earlier responses of the connection
/// (Kafka's order) and for the connection's writer task to run.
pub const RESPONSE_QUEUED: &str = "response.queued";
/// Writing a response to the socket.
pub const RESPONSE_WRITE: &str = "response.write";
/// A produce forwarded to the owner shard: sent to taken up there (the mesh and the owner's
/// queue).
pub const PRODUCE_FORWARD: &str = "produce.forward";
/// `PartitionLog::append` on the owner: the append lock, a roll, validation, offsets, copies.
pub const PRODUCE_APPEND: &str = "produce.append";
/// Appended to written (acks=1): the flush's queueing and its write.
pub const PRODUCE_WAIT_WRITTEN: &str = "produce.wait_written";
/// Appended to durable (acks=all): flush and fdatasync.
pub const PRODUCE_WAIT_DURABLE: &str = "produce.wait_durable";
/// The write that made an acks=1 produce's batches written to the produce running again: the
/// owner shard's run queue between a flush's completion and its waiters.
pub const PRODUCE_WOKEN: &str = "produce.woken";
/// Durable here to replicated (acks=all on a replicated partition): the ISR's fetches.
pub const PRODUCE_WAIT_REPLICATED: &str = "produce.wait_replicated";
/// A fetch's reads of its partitions on their owners (each call).
pub const FETCH_READ: &str = "fetch.read";
/// A fetch's long poll, from starting to wait to woken (by data or `max_wait_ms`).
pub const FETCH_LONG_POLL: &str = "fetch.long_poll";
/// The write that made data readable to the waiting fetch's owner-side wake-up.
pub const FETCH_WOKEN: &str = "fetch.woken";

/// The stage of a whole request of this API (None: one not decoded as a request): its first
/// byte to its response written.
pub fn request_total(api: Option<ApiKey>) -> &'static str {
    match api {
        Some(ApiKey::Produce) => "produce.total",
        Some(ApiKey::Fetch) => "fetch.total",
        _ => "other.total",
    }
}

/// The stage of a request's handling, decoded to response ready.
pub fn request_handle(api: Option<ApiKey>) -> &'static str {
    match api {
        Some(ApiKey::Produce) => "produce.handle",
        Some(ApiKey::Fetch) => "fetch.handle",
        _ => "other.handle",
    }
}

/// One line per stage: count and percentiles in microseconds, the stages by name.
pub fn report_lines(shard: usize, t: &StageTimings) -> Vec<String> {
    let mut stages: Vec<_> = t.stages().collect();
    stages.sort_by_key(|(name, _)| *name);
    stages
        .into_iter()
        .map(|(name, h)| {
            format!(
                "latency-report shard={shard} stage={name} count={} p50_us={} p90_us={} \
                 p99_us={} p999_us={} max_us={}",
                h.len(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max()
            )
        })
        .collect()
}

/// Prints this shard's timings since the last report to stderr and starts afresh.
pub fn print_report(shard: usize) {
    let lines = report_lines(shard, &timings::take());
    if !lines.is_empty() {
        eprintln!("{}", lines.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_report_line_per_stage_with_its_percentiles() {
        timings::take();
        timings::record(PRODUCE_APPEND, Duration::from_micros(40));
        timings::record(PRODUCE_APPEND, Duration::from_micros(60));
        timings::record(FETCH_WOKEN, Duration::from_micros(7));
        let lines = report_lines(1, &timings::take());
        assert_eq!(
            lines,
            vec![
                "latency-report shard=1 stage=fetch.woken count=1 p50_us=7 p90_us=7 p99_us=7 \
                 p999_us=7 max_us=7",
                "latency-report shard=1 stage=produce.append count=2 p50_us=40 p90_us=60 \
                 p99_us=60 p999_us=60 max_us=60",
            ]
        );
    }
}
