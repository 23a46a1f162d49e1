//! Idempotent producers: librdkafka with enable.idempotence=true produces through a proxy that
//! drops connections after requests reach the broker and before responses return; every record
//! is then found exactly once, in per-partition order. Then the same with a broker restart in
//! the middle.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;

struct Proxy {
    child: Child,
    pub addr: String,
    pub off: std::path::PathBuf,
}

impl Proxy {
    /// Starts the proxy on `port` in front of `upstream`; while `off` does not exist it drops the
    /// connection after a share `drop_probability` of the requests.
    fn start(port: u16, upstream: &str, off: std::path::PathBuf, drop_probability: f64) -> Proxy {
        // A new pattern of drops each run. The seed is printed as a lead for a failure, not an
        // exact replay: which request a drop follows also depends on timing.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos());
        println!("proxy seed {seed}, drop probability {drop_probability}");
        let mut child = Command::new(python())
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/interop/drop_proxy.py"),
            )
            .args(["--listen", &port.to_string(), "--upstream", upstream])
            .args(["--drop-probability", &drop_probability.to_string()])
            .args(["--seed", &seed.to_string()])
            .arg("--off")
            .arg(&off)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Proxy {
            child,
            addr: format!("127.0.0.1:{port}"),
            off,
        }
    }

    /// Stops the proxy and returns how many connections it dropped.
    fn drops(&mut self) -> u64 {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let out = self.child.wait_with_output_ref();
        out.lines()
            .find_map(|l| l.strip_prefix("drops ").and_then(|n| n.trim().parse().ok()))
            .unwrap_or(0)
    }
}

trait WaitRef {
    fn wait_with_output_ref(&mut self) -> String;
}

impl WaitRef for Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        let _ = self.wait();
        s
    }
}

/// The two tests run one at a time: each drives a broker, a proxy and a producer, and together on
/// two cores they starve each other into client timeouts that test nothing.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup(dir: &std::path::Path) -> (BrokerProcess, Proxy) {
    // The broker tells clients to come through the proxy.
    let proxy_port = free_port();
    let broker = BrokerProcess::start_with(
        &dir.join("data"),
        &format!("advertise = \"127.0.0.1:{proxy_port}\"\n"),
    );
    let proxy = Proxy::start(proxy_port, &broker.bootstrap(), dir.join("proxy-off"), 0.05);
    (broker, proxy)
}

#[test]
fn dropped_connections_never_duplicate_or_reorder_idempotent_records() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (broker, mut proxy) = setup(dir.path());
    let common = [
        "--client",
        "confluent",
        "--topic",
        "idem",
        "--partitions",
        "8",
        "--records",
        "200000",
    ];
    roundtrip(
        &proxy.addr,
        &[
            &common[..],
            &["--phase", "produce", "--idempotent", "--pace-ms", "2"],
        ]
        .concat(),
    );
    std::fs::write(&proxy.off, b"").unwrap();
    let out = roundtrip(
        &proxy.addr,
        &[&common[..], &["--phase", "consume"]].concat(),
    );
    assert!(out.contains("ok: 200000 records"), "{out}");
    let drops = proxy.drops();
    println!("the proxy dropped {drops} connections");
    assert!(
        drops > 0,
        "the proxy dropped nothing: the test tested nothing"
    );
    drop(broker);
}

#[test]
fn a_broker_restart_in_the_middle_of_idempotent_production_loses_and_duplicates_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, mut proxy) = setup(dir.path());
    let args: Vec<String> = [
        "--client",
        "confluent",
        "--topic",
        "idem-restart",
        "--partitions",
        "8",
        "--records",
        "200000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut producer = Command::new(python())
        .arg(roundtrip_script())
        .args(["--bootstrap", &proxy.addr])
        .args(&args)
        .args(["--phase", "produce", "--idempotent", "--pace-ms", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    broker.restart();
    let err = producer.wait_with_output_ref();
    assert!(
        producer.wait().map(|s| s.success()).unwrap_or(false) || err.is_empty(),
        "producer failed: {err}"
    );
    std::fs::write(&proxy.off, b"").unwrap();
    let mut consume: Vec<&str> = args.iter().map(String::as_str).collect();
    consume.extend(["--phase", "consume"]);
    let out = roundtrip(&proxy.addr, &consume);
    assert!(out.contains("ok: 200000 records"), "{out}");
    println!("the proxy dropped {} connections", proxy.drops());
}
