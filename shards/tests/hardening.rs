//! One broker per data directory and per address; stalled, trickled, idle and half-open
//! connections are closed on time and never starve other clients; floods of bad frames are
//! logged a few lines per client, not one per frame.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::*;
use raw::RawConn;

/// Runs `strata serve` expecting it to refuse to start: its exit status and stderr.
fn serve_expecting_refusal(data_dir: &std::path::Path, listen: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--shards", "1", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut child = KillOnDrop(out);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        assert!(Instant::now() < deadline, "the second broker kept running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_broker_on_the_same_data_directory_exits_naming_it_and_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data);
    let (code, err) = serve_expecting_refusal(&data, &format!("127.0.0.1:{}", free_port()));
    assert_ne!(code, 0);
    assert!(err.contains(&data.display().to_string()), "{err}");
    assert!(err.contains("in use by another broker"), "{err}");
    assert!(err.contains("process"), "{err}");
    drop(broker);
}

#[test]
fn a_second_broker_on_the_same_address_exits_with_address_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(&dir.path().join("a"));
    let (code, err) = serve_expecting_refusal(&dir.path().join("b"), &broker.bootstrap());
    assert_ne!(code, 0);
    assert!(err.contains("address in use"), "{err}");
    // The first broker still serves everyone.
    let mut c = RawConn::connect(broker.addr);
    c.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
}

/// Sends a length prefix declaring `declared` bytes, then one byte every `every` until a write
/// fails (the broker closed the connection): true then, false if `stop` passes first.
fn trickle(addr: std::net::SocketAddr, declared: u32, every: Duration, stop: Instant) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&declared.to_be_bytes()).unwrap();
    while Instant::now() < stop {
        std::thread::sleep(every);
        if s.write_all(&[0]).is_err() {
            return true;
        }
    }
    false
}

#[test]
fn stalled_uploads_hold_nothing_others_need_and_are_closed_at_the_read_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(
        &dir.path().join("data"),
        "request_read_timeout_ms = 3000\nmax_frame_bytes = 104857600\n",
    );
    let addr = broker.addr;
    let started = Instant::now();
    // 16 connections declare 100 MB each and trickle a byte every 100 ms.
    let trickles: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                trickle(
                    addr,
                    100_000_000,
                    Duration::from_millis(100),
                    Instant::now() + Duration::from_secs(8),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile another client is served at once, 20 times.
    let mut c = RawConn::connect(addr);
    for n in 0..20 {
        let t = Instant::now();
        let records = strata_record::testkit::batch_of(1, n, 3, 100, 1).to_vec();
        let (code, _) = c.produce("stall", 0, records, 1);
        assert_eq!(code, 0);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a request waited {:?} behind stalled uploads",
            t.elapsed()
        );
    }
    let closed: Vec<bool> = trickles.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        closed.iter().all(|c| *c),
        "stalled connections left open: {closed:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    let log = broker.log_text();
    assert!(log.contains("request_read_timeout_ms"), "{log}");
}

#[test]
fn idle_and_half_open_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(
        &dir.path().join("data"),
        "connections_max_idle_ms = 2000\nrequest_read_timeout_ms = 1000\nlog_lines_per_client_per_minute = 1000\n",
    );
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(broker.addr).unwrap())
        .collect();
    let half: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(broker.addr).unwrap();
            s.write_all(&[0, 0]).unwrap();
            s
        })
        .collect();
    // A connection in use stays open past the idle limit.
    let mut busy = RawConn::connect(broker.addr);
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        busy.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        std::thread::sleep(Duration::from_millis(300));
    }
    let closed = |streams: &[TcpStream]| {
        streams
            .iter()
            .filter(|s| {
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                matches!((&**s).read(&mut [0u8; 1]), Ok(0))
            })
            .count()
    };
    assert_eq!(
        closed(&half),
        50,
        "half-sent requests closed at the read deadline"
    );
    assert_eq!(closed(&idle), 300, "idle connections closed");
    busy.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let log = broker.log_text();
    assert!(log.contains("connections_max_idle_ms"), "{log}");
}

#[test]
fn a_flood_of_bad_frames_is_logged_a_few_lines_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_with(
        &dir.path().join("data"),
        "log_lines_per_client_per_minute = 5\n",
    );
    for n in 0..400u32 {
        let mut c = RawConn::connect(broker.addr);
        // A frame of 12 bytes: an unknown API key.
        let mut frame = 12u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0x7f, 0x7f, 0, 0]);
        frame.extend_from_slice(&n.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]);
        c.send_raw(&frame);
        assert!(c.closed_by_broker());
    }
    let mut c = RawConn::connect(broker.addr);
    c.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let log = broker.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("closing the connection"))
        .count();
    // Two shards, five lines each per minute.
    assert!((1..=10).contains(&lines), "{lines} lines:\n{log}");
}
