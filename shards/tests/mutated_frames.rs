//! Thousands of mutated request frames, made from real clients' frames (tests/corpus/, recorded
//! from librdkafka, confluent-kafka and kafka-python by interop/capture_frames.py), sent over
//! real connections: the broker stays up, keeps answering a normal client throughout, and holds
//! its memory and descriptors within a bound afterwards. Reproduce a run with STRATA_TEST_SEED.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use kafka_protocol::messages::*;
use raw::RawConn;
use strata_record::testkit::splitmix;

const MUTATED_FRAMES: u64 = 4000;

fn corpus() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// One mutation of `frame` (a request without its length prefix), chosen by `r`.
fn mutate(frame: &[u8], r: u64) -> Vec<u8> {
    let mut f = frame.to_vec();
    let len = f.len().max(1) as u64;
    let at = |k: u64| (splitmix(r ^ k) % len) as usize;
    match r % 6 {
        // Flip a few bits anywhere, the header included.
        0 | 1 => {
            for k in 0..1 + r % 4 {
                let i = at(k);
                if i < f.len() {
                    f[i] ^= 1 << (splitmix(r + k) % 8);
                }
            }
        }
        // Cut it short.
        2 => f.truncate(at(7)),
        // A run of 0xff or 0x00 (lengths and counts become huge or zero).
        3 => {
            let i = at(3);
            let fill = if r & 64 == 0 { 0xff } else { 0 };
            for b in f.iter_mut().skip(i).take(8) {
                *b = fill;
            }
        }
        // Another API version in the header.
        4 => {
            if f.len() >= 4 {
                f[2] = 0;
                f[3] = (splitmix(r) % 20) as u8;
            }
        }
        // Random bytes appended.
        _ => f.extend((0..at(5) % 64).map(|k| splitmix(r ^ k as u64) as u8)),
    }
    let mut out = (f.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&f);
    out
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// (sockets, other descriptors) the process holds.
fn open_fds(pid: u32) -> (usize, usize) {
    let links: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|l| l.to_string_lossy().to_string())
        .collect();
    let sockets = links.iter().filter(|l| l.starts_with("socket:")).count();
    (sockets, links.len() - sockets)
}

/// Partition directories in the data directory (mutated requests may create topics).
fn partitions(data: &std::path::Path) -> usize {
    std::fs::read_dir(data)
        .unwrap()
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.')
            })
        })
        .count()
}

fn normal_client_is_served(broker: &BrokerProcess, n: u64) {
    let mut c = RawConn::connect(broker.addr);
    match c.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()) {
        ResponseKind::ApiVersions(r) => assert_eq!(r.error_code, 0),
        other => panic!("unexpected {other:?}"),
    }
    let batch = strata_record::batch::build(&[format!("normal {n}").as_bytes()], 1);
    assert_eq!(
        c.produce("normal", 0, batch, 1).0,
        0,
        "produce after {n} frames"
    );
}

#[test]
fn mutated_real_frames_never_take_the_broker_down() {
    let seed = test_seed();
    let frames = corpus();
    assert!(frames.len() >= 40, "corpus of {} frames", frames.len());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut broker = BrokerProcess::start_with(
        &data,
        "request_read_timeout_ms = 2000\nlog_lines_per_client_per_minute = 5\n",
    );
    let pid = broker.pid().unwrap();
    normal_client_is_served(&broker, 0);
    let (rss_before, fds_before, partitions_before) =
        (rss_kib(pid), open_fds(pid), partitions(&data));
    let mut conn: Option<TcpStream> = None;
    let mut reconnects = 0;
    for n in 0..MUTATED_FRAMES {
        let r = splitmix(seed ^ n);
        let frame = mutate(&frames[(r % frames.len() as u64) as usize], splitmix(r));
        let s = conn.get_or_insert_with(|| {
            reconnects += 1;
            let s = TcpStream::connect(broker.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            s
        });
        let mut sink = [0u8; 65536];
        let closed = s.write_all(&frame).is_err() || matches!(s.read(&mut sink), Ok(0));
        if closed || n % 50 == 49 {
            conn = None;
        }
        if n % 200 == 199 {
            assert!(broker.alive(), "the broker died after frame {n}");
            normal_client_is_served(&broker, n);
        }
    }
    drop(conn);
    assert!(broker.alive());
    normal_client_is_served(&broker, MUTATED_FRAMES);
    // Connections the mutations left open are closed by the read deadline; give it time.
    std::thread::sleep(Duration::from_millis(2500));
    let (rss_after, fds_after, partitions_after) = (rss_kib(pid), open_fds(pid), partitions(&data));
    println!(
        "{MUTATED_FRAMES} frames over {reconnects} connections; RSS {rss_before} -> {rss_after} \
         KiB; (sockets, files) {fds_before:?} -> {fds_after:?}; partitions {partitions_before} \
         -> {partitions_after}"
    );
    assert!(
        fds_after.0 <= fds_before.0 + 8,
        "sockets {} -> {}: connections left open",
        fds_before.0,
        fds_after.0
    );
    // Mutated requests may create topics (auto-creation, CreateTopics, CreatePartitions): four
    // files for each new partition, nothing more.
    let new_partitions = partitions_after - partitions_before;
    assert!(
        fds_after.1 <= fds_before.1 + 4 * new_partitions + 8,
        "files {} -> {} with {new_partitions} new partitions",
        fds_before.1,
        fds_after.1
    );
    assert!(
        rss_after <= rss_before + 256 * 1024,
        "RSS {rss_before} -> {rss_after} KiB"
    );
    let log = broker.log_text();
    assert!(!log.contains("panicked"), "{log}");
    broker.stop();
}
