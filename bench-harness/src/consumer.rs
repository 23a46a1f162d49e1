//! A consumer: reads every partition from given offsets with long-polling fetches, records
//! end-to-end latency from the stamp in each record, and verifies when asked.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, ResponseKind};
use strata_record::batch;

use crate::record::{values, Stamp};
use crate::stats::Recorder;
use crate::verify::Verifier;
use crate::workload::Params;
use crate::Clock;
use strata_client::{topic_name, ClientError, Connection};

const FETCH_VERSION: i16 = 11;

pub struct ConsumerSetup {
    pub addr: String,
    pub params: Params,
    pub start_offsets: Vec<i64>,
    pub recorder: Rc<RefCell<Recorder>>,
    pub stop: Rc<Cell<bool>>,
    pub clock: Clock,
}

pub async fn run(c: ConsumerSetup) -> Result<Verifier, ClientError> {
    let conn = Connection::connect(&c.addr).await?;
    let mut offsets = c.start_offsets.clone();
    let mut verifier = Verifier::default();
    while !c.stop.get() {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(c.params.fetch_max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(64 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(&c.params.topic))
                .with_partitions(
                    offsets
                        .iter()
                        .enumerate()
                        .map(|(p, &o)| {
                            FetchPartition::default()
                                .with_partition(p as i32)
                                .with_fetch_offset(o)
                                .with_partition_max_bytes(c.params.fetch_partition_max_bytes)
                        })
                        .collect(),
                )]);
        let ResponseKind::Fetch(resp) = conn.request(ApiKey::Fetch, FETCH_VERSION, &req).await?
        else {
            return Err(ClientError::Protocol("not a fetch response".into()));
        };
        let mut consumed = 0u64;
        let mut consumed_bytes = 0u64;
        let mut rec = c.recorder.borrow_mut();
        for part in resp.responses.iter().flat_map(|t| t.partitions.iter()) {
            if part.error_code != 0 {
                rec.errors += 1;
                continue;
            }
            let Some(records) = &part.records else {
                continue;
            };
            let mut rest = &records[..];
            while let Ok(h) = batch::parse_header(rest, usize::MAX) {
                let b = &rest[..h.size_bytes];
                let now = c.clock.now_us();
                for (at, _) in values(b) {
                    if let Some(s) = Stamp::read(&b[at..]) {
                        rec.record_e2e(now.saturating_sub(s.send_us));
                        if c.params.verify {
                            verifier.record(&s);
                        }
                    }
                }
                consumed += h.records_count as u64;
                consumed_bytes += h.size_bytes as u64;
                if let Some(o) = offsets.get_mut(part.partition_index as usize) {
                    *o = (*o).max(h.next_offset());
                }
                rest = &rest[h.size_bytes..];
            }
        }
        rec.consumed_records += consumed;
        rec.consumed_bytes += consumed_bytes;
    }
    Ok(verifier)
}
