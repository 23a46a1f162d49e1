//! A broker process for tests, and the paths of the real clients the tests drive.
#![allow(dead_code)]

pub mod cluster;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct BrokerProcess {
    child: Option<Child>,
    /// An open-file limit (soft and hard) for the broker process, when a test sets one.
    max_open_files: Option<u64>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Settings for tests: small io_uring memory (tests run two brokers at a time under
/// `ulimit -l`), two shards so that cross-shard paths are always exercised.
pub const TEST_CONFIG: &str =
    "shards = 2\nio_memory_bytes_per_shard = 1048576\nshutdown_grace_ms = 3000\n";

/// What the broker logs once it accepts connections.
const SERVING_LINE: &str = "strata is serving";

impl BrokerProcess {
    pub fn start(data_dir: &Path) -> BrokerProcess {
        Self::start_with(data_dir, "")
    }

    /// Starts `strata serve` with TEST_CONFIG plus `extra` TOML, and waits until it accepts.
    pub fn start_with(data_dir: &Path, extra: &str) -> BrokerProcess {
        Self::start_limited(data_dir, extra, None)
    }

    /// As `start_with`, the broker process limited to `max_open_files` descriptors.
    pub fn start_limited(
        data_dir: &Path,
        extra: &str,
        max_open_files: Option<u64>,
    ) -> BrokerProcess {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let config = data_dir.with_extension("toml");
        std::fs::write(&config, format!("{TEST_CONFIG}{extra}")).unwrap();
        let mut b = BrokerProcess {
            child: None,
            max_open_files,
            addr,
            data_dir: data_dir.to_path_buf(),
            config,
            log: data_dir.with_extension("log"),
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let serving_before = self.log_text().matches(SERVING_LINE).count();
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        if let Some(n) = self.max_open_files {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = command
            .args(["serve", "--config"])
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen", &self.addr.to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("strata starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        // A connection alone proves nothing after a SIGKILL: the killed broker's io_uring
        // listener can outlive the process for a moment and accept. Wait for this process to
        // say that it serves.
        while self.log_text().matches(SERVING_LINE).count() <= serving_before
            || TcpStream::connect(self.addr).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "broker did not start: {}",
                self.log_text()
            );
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("broker exited with {status}: {}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The broker's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and waits for a clean exit (status 0).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "broker exited with {status}: {}",
                self.log_text()
            );
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// SIGKILL, then starts again on the same data directory and address.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A child process killed when the guard drops, so that a test that fails half-way leaves no
/// client running (spinning against a broker that is gone, and slowing every later test).
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl KillOnDrop {
    /// Waits for the process to exit; after `limit` it is killed and None returned, so that a
    /// client stuck in its own shutdown fails the test instead of hanging the suite.
    pub fn wait_at_most(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("waiting for a child") {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        None
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Python with kafka-python and confluent-kafka: STRATA_PYTHON, or the venv that
/// scripts/test.sh makes. A missing one fails the test: it never skips.
pub fn python() -> PathBuf {
    let p = std::env::var_os("STRATA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run ./scripts/test.sh, which installs the Python clients",
        p.display()
    );
    p
}

pub fn kcat() -> PathBuf {
    let p = PathBuf::from("/usr/bin/kcat");
    assert!(
        p.exists(),
        "kcat is missing: run ./scripts/test.sh, which installs it (apt-get install kcat)"
    );
    p
}

pub fn roundtrip_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/roundtrip.py")
}

/// A finished process's standard output, then its standard error.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the round-trip script with these arguments and asserts that it succeeds.
pub fn roundtrip(bootstrap: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(roundtrip_script())
        .args(["--bootstrap", bootstrap])
        .args(args)
        .output()
        .expect("python runs");
    let text = output_text(&out);
    assert!(out.status.success(), "roundtrip {args:?} failed:\n{text}");
    text
}

/// The seed of a randomized test: STRATA_TEST_SEED if set, else the time; printed, so that a
/// failed run can be repeated.
pub fn test_seed() -> u64 {
    let seed = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    println!("STRATA_TEST_SEED={seed}");
    seed
}

/// A consumer-group member (`interop/group_consumer.py`, a real client) writing what it reads
/// to `out` until `stop` exists; its client's log next to `out`.
pub fn group_member(
    broker: &BrokerProcess,
    client: &str,
    group: &str,
    topic: &str,
    out: &Path,
    stop: &Path,
    extra: &[&str],
) -> KillOnDrop {
    KillOnDrop(
        std::process::Command::new(python())
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/interop/group_consumer.py"),
            )
            .args([
                "--client",
                client,
                "--bootstrap",
                &broker.bootstrap(),
                "--topic",
                topic,
                "--group",
                group,
            ])
            .arg("--out")
            .arg(out)
            .arg("--stop")
            .arg(stop)
            .args(extra)
            // librdkafka's log (STRATA_MEMBER_DEBUG=cgrp,... adds its debug contexts), kept
            // next to the member's output for a failure message.
            .env("STRATA_MEMBER_DEBUG", "cgrp")
            .stderr(std::fs::File::create(out.with_extension("log")).expect("member log"))
            .spawn()
            .expect("consumer starts"),
    )
}

/// (partition, offset, value) lines of each output file.
pub fn member_outputs(files: &[PathBuf]) -> Vec<Vec<(i32, i64, String)>> {
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut it = l.splitn(3, ' ');
                    Some((
                        it.next()?.parse().ok()?,
                        it.next()?.parse().ok()?,
                        it.next()?.to_string(),
                    ))
                })
                .collect()
        })
        .collect()
}
