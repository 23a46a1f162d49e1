//! A producer: one connection (to the broker leading its partitions), one pre-encoded produce
//! request holding a batch for each of its partitions, patched and resent; up to
//! `max_in_flight` requests outstanding. Closed loop sends as fast as acknowledgements allow;
//! open loop sends on the schedule and counts latency from when each record was due.
//! Each request's acknowledgement is taken by a task of its own the moment it arrives: a
//! latency taken only when the window of requests fills would add the window's time to it.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ResponseKind};
use strata_runtime as rt;

use crate::record::{BatchTemplate, Stamp};
use crate::schedule::Schedule;
use crate::stats::Recorder;
use crate::workload::Params;
use crate::Clock;
use strata_client::conn::{decode_response, strip_header};
use strata_client::{init_producer_id, topic_name, ClientError, Connection};

const PRODUCE_VERSION: i16 = 7;

pub struct ProducerSetup {
    pub id: u32,
    pub addr: String,
    pub params: Params,
    /// The partitions this connection produces to (all led by `addr`).
    pub partitions: Vec<i32>,
    pub recorder: Rc<RefCell<Recorder>>,
    pub stop: Rc<Cell<bool>>,
    pub clock: Clock,
}

/// Per partition, how many of this producer's records were acknowledged (sequences 0..n).
pub type Acked = HashMap<(u32, u32), u64>;

struct InFlight {
    rx: Option<futures::channel::oneshot::Receiver<Result<bytes::Bytes, ClientError>>>,
    /// When the first record was due (closed loop: sent), and the spacing of the others.
    first_due: Instant,
    spacing: Duration,
    records: u64,
    bytes: u64,
    seq_end: Vec<u64>,
}

pub async fn run(p: ProducerSetup) -> Result<Acked, ClientError> {
    let conn = Connection::connect(&p.addr).await?;
    let producer = if p.params.idempotent {
        Some(init_producer_id(&conn).await?)
    } else {
        None
    };
    let template = BatchTemplate::new(p.params.records_per_batch(), p.params.record_bytes);
    let req = ProduceRequest::default()
        .with_acks(p.params.acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(&p.params.topic))
            .with_partition_data(
                p.partitions
                    .iter()
                    .map(|&i| {
                        PartitionProduceData::default()
                            .with_index(i)
                            .with_records(Some(template.bytes.clone().into()))
                    })
                    .collect(),
            )]);
    let mut frame: BytesMut = Connection::encode(ApiKey::Produce, PRODUCE_VERSION, 0, &req)?;
    let positions = batch_positions(&frame, &template.bytes, p.partitions.len())?;
    let batch_len = template.bytes.len();
    let records_per_request = (template.records() * p.partitions.len()) as u64;
    let bytes_per_request = (batch_len * p.partitions.len()) as u64;

    let open_loop = p.params.rate > 0;
    let rate = p.params.rate as f64 / p.params.producers.max(1) as f64;
    let mut schedule = Schedule::new(Instant::now(), rate.max(1.0));
    let spacing = if open_loop {
        Duration::from_secs_f64(1.0 / rate.max(1.0))
    } else {
        Duration::ZERO
    };
    let mut seq = vec![0u64; p.partitions.len()];
    let mut acked = Acked::new();
    let mut pending: VecDeque<Completion> = VecDeque::new();

    while !p.stop.get() {
        let first_due = if open_loop {
            let mut first = None;
            let last_due = schedule.take(records_per_request, |i, due| {
                if i == 0 {
                    first = Some(due);
                }
            });
            let now = Instant::now();
            if last_due > now {
                rt::sleep(last_due - now).await;
            }
            first.unwrap_or(last_due)
        } else {
            Instant::now()
        };
        let now_ms = (p.clock.now_us() / 1000) as i64;
        let mut record_index = 0u64;
        for (part, &at) in positions.iter().enumerate() {
            let batch = &mut frame[at..at + batch_len];
            for i in 0..template.records() {
                let due = first_due + spacing.mul_f64(record_index as f64);
                let stamp = Stamp {
                    send_us: if open_loop {
                        p.clock.us_at(due)
                    } else {
                        p.clock.now_us()
                    },
                    producer: p.id,
                    partition: p.partitions[part] as u32,
                    seq: seq[part] + i as u64,
                };
                template.stamp(batch, i, &stamp);
                record_index += 1;
            }
            if let Some((id, epoch)) = producer {
                // Sequences count records and wrap at 2^31.
                let base_sequence = (seq[part] % (1 << 31)) as i32;
                BatchTemplate::set_producer(batch, id, epoch, base_sequence);
            }
            BatchTemplate::seal(batch, now_ms);
            seq[part] += template.records() as u64;
        }
        let correlation = conn.next_correlation();
        frame[8..12].copy_from_slice(&correlation.to_be_bytes());
        let rx = conn
            .send_frame(correlation, &frame, p.params.acks != 0)
            .await?;
        let f = InFlight {
            rx,
            first_due,
            spacing,
            records: records_per_request,
            bytes: bytes_per_request,
            seq_end: seq.clone(),
        };
        pending.push_back(Box::pin(rt::spawn(complete(p.recorder.clone(), f))));
        while pending.len() >= p.params.max_in_flight {
            if let Some(c) = pending.pop_front() {
                note_acked(&p, c.await, &mut acked);
            }
        }
    }
    while let Some(c) = pending.pop_front() {
        note_acked(&p, c.await, &mut acked);
    }
    Ok(acked)
}

/// A request's acknowledgement being taken: its sequence ends per partition once it is in.
type Completion = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<u64>>>>>;

fn note_acked(p: &ProducerSetup, seq_end: Option<Vec<u64>>, acked: &mut Acked) {
    for (part, &end) in seq_end.iter().flatten().enumerate() {
        acked.insert((p.id, p.partitions[part] as u32), end);
    }
}

/// Waits for one request's acknowledgement and records its records' latencies at once; the
/// sequence ends it covered when it succeeded.
async fn complete(recorder: Rc<RefCell<Recorder>>, f: InFlight) -> Option<Vec<u64>> {
    let ok = match f.rx {
        None => true,
        Some(rx) => match rx.await {
            Ok(Ok(mut frame)) => match strip_header(ApiKey::Produce, PRODUCE_VERSION, &mut frame)
                .and_then(|_| decode_response(ApiKey::Produce, PRODUCE_VERSION, &mut frame))
            {
                Ok(ResponseKind::Produce(r)) => {
                    let errors = r
                        .responses
                        .iter()
                        .flat_map(|t| t.partition_responses.iter())
                        .filter(|x| x.error_code != 0)
                        .count();
                    errors == 0
                }
                _ => false,
            },
            _ => false,
        },
    };
    let done = Instant::now();
    let mut rec = recorder.borrow_mut();
    if !ok {
        rec.errors += 1;
        return None;
    }
    for i in 0..f.records {
        let due = f.first_due + f.spacing.mul_f64(i as f64);
        rec.record_produce(done.saturating_duration_since(due).as_micros() as u64);
    }
    rec.produced_records += f.records;
    rec.produced_bytes += f.bytes;
    Some(f.seq_end)
}

/// Where each partition's copy of `batch` sits in the encoded request (in partition order).
fn batch_positions(
    frame: &[u8],
    batch: &[u8],
    partitions: usize,
) -> Result<Vec<usize>, ClientError> {
    let mut out = Vec::with_capacity(partitions);
    let mut from = 0;
    while out.len() < partitions {
        let at = frame[from..]
            .windows(batch.len())
            .position(|w| w == batch)
            .ok_or_else(|| {
                ClientError::Protocol("batch not found in the encoded request".into())
            })?;
        out.push(from + at);
        from += at + batch.len();
    }
    Ok(out)
}
