//! InitProducerId and the partitions' producer state, through the wire: a re-init bumps the
//! epoch, the new epoch fences the old one on a partition, a producer presenting a superseded
//! epoch is fenced, all of it also after a restart; idle producers are forgotten.

mod common;
#[path = "common/raw.rs"]
mod raw;

use common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use raw::RawConn;
use strata_bench::record::BatchTemplate;
use strata_client::topic_name;

const INVALID_PRODUCER_EPOCH: i16 = 47;
const UNKNOWN_PRODUCER_ID: i16 = 59;
const PRODUCER_FENCED: i16 = 90;

fn create(conn: &mut RawConn, name: &str) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    match conn.request(ApiKey::CreateTopics, 5, &req) {
        ResponseKind::CreateTopics(r) => assert_eq!(r.topics[0].error_code, 0),
        other => panic!("unexpected {other:?}"),
    }
}

/// InitProducerId v4: (error code, producer id, epoch).
fn init(conn: &mut RawConn, presented: Option<(i64, i16)>) -> (i16, i64, i16) {
    let (id, epoch) = presented.unwrap_or((-1, -1));
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch);
    match conn.request(ApiKey::InitProducerId, 4, &req) {
        ResponseKind::InitProducerId(r) => (r.error_code, r.producer_id.0, r.producer_epoch),
        other => panic!("unexpected {other:?}"),
    }
}

/// Produces 5 records as producer (id, epoch) from sequence `seq`, acks=all: (error, base offset).
fn produce(conn: &mut RawConn, name: &str, id: i64, epoch: i16, seq: i32) -> (i16, i64) {
    let template = BatchTemplate::new(5, 30);
    let mut batch = template.bytes.clone();
    BatchTemplate::set_producer(&mut batch, id, epoch, seq);
    BatchTemplate::seal(&mut batch, 1_700_000_000_000);
    conn.produce(name, 0, batch, -1)
}

#[test]
fn a_reinit_bumps_the_epoch_and_zombies_are_fenced_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::start(&dir.path().join("data"));
    let mut c = RawConn::connect(broker.addr);
    create(&mut c, "fence");
    let (code, id, epoch) = init(&mut c, None);
    assert_eq!((code, epoch), (0, 0));
    assert!(id >= 0);
    assert_eq!(produce(&mut c, "fence", id, 0, 0), (0, 0));

    // The producer re-initialises: same id, next epoch, sequences from 0 again.
    assert_eq!(init(&mut c, Some((id, 0))), (0, id, 1));
    assert_eq!(produce(&mut c, "fence", id, 1, 0), (0, 5));
    // Once the new epoch has written here, the old one is refused.
    assert_eq!(produce(&mut c, "fence", id, 0, 5).0, INVALID_PRODUCER_EPOCH);
    // A re-init presenting epoch 0 again may be a retry whose answer was lost: epoch 1 again.
    assert_eq!(init(&mut c, Some((id, 0))), (0, id, 1));
    // The producer re-initialises once more; now a producer still holding epoch 0 is a zombie.
    assert_eq!(init(&mut c, Some((id, 1))), (0, id, 2));
    assert_eq!(init(&mut c, Some((id, 0))).0, PRODUCER_FENCED);
    assert_eq!(produce(&mut c, "fence", id, 2, 0), (0, 10));

    // Connections land on either shard; whichever one takes the request, the id's own shard
    // answers (8 connections: both shards all but surely served some).
    for _ in 0..8 {
        assert_eq!(
            init(&mut RawConn::connect(broker.addr), Some((id, 0))).0,
            PRODUCER_FENCED
        );
    }

    broker.restart();
    for _ in 0..8 {
        assert_eq!(
            init(&mut RawConn::connect(broker.addr), Some((id, 0))).0,
            PRODUCER_FENCED
        );
    }
    let mut c = RawConn::connect(broker.addr);
    // A retry from before the restart is recognised: its first offsets, nothing appended.
    assert_eq!(produce(&mut c, "fence", id, 2, 0), (0, 10));
    assert_eq!(produce(&mut c, "fence", id, 2, 5), (0, 15));
    assert_eq!(produce(&mut c, "fence", id, 1, 5).0, INVALID_PRODUCER_EPOCH);
    // New ids never repeat one handed out before the restart.
    let (code, other, epoch) = init(&mut c, None);
    assert_eq!((code, epoch), (0, 0));
    assert_ne!(other, id);
    // And the current holder of the id can still bump it.
    assert_eq!(init(&mut c, Some((id, 2))), (0, id, 3));
}

#[test]
fn idle_producers_are_forgotten_after_the_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(
        &dir.path().join("data"),
        "producer_id_expiry_ms = 1000\nretention_check_interval_ms = 100\n",
    );
    let mut c = RawConn::connect(broker.addr);
    create(&mut c, "expiry");
    let (_, id, _) = init(&mut c, None);
    let (_, busy, _) = init(&mut c, None);
    assert_eq!(produce(&mut c, "expiry", id, 0, 0).0, 0);
    assert_eq!(produce(&mut c, "expiry", busy, 0, 0).0, 0);
    // `busy` keeps producing; `id` goes quiet for longer than the expiry.
    for i in 1..=6 {
        std::thread::sleep(std::time::Duration::from_millis(400));
        assert_eq!(produce(&mut c, "expiry", busy, 0, i * 5).0, 0, "round {i}");
    }
    // Forgotten: its next sequence is no longer known to follow anything.
    assert_eq!(
        produce(&mut c, "expiry", id, 0, 5).0,
        UNKNOWN_PRODUCER_ID,
        "{}",
        broker.log_text()
    );
}
