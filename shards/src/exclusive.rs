//! One broker per data directory and per listening address. Two brokers on one directory would
//! write the same segment files and lose acknowledged records; two on one address would split
//! clients between them (the shards bind with SO_REUSEPORT, which the kernel allows any process
//! of the same user to join).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::BrokerError;

/// Takes an exclusive lock (flock) on `<data_dir>/.lock` and writes this process's id in it.
/// The lock lasts as long as the returned file is open, and a killed process drops it.
pub fn lock_data_dir(data_dir: &Path) -> Result<File, BrokerError> {
    let path = data_dir.join(".lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| BrokerError::io(format!("open {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { "unknown" } else { holder };
            return Err(BrokerError::Exclusive(format!(
                "data directory {} is in use by another broker (process {holder}); stop it, or \
                 give this one another --data-dir",
                data_dir.display()
            )));
        }
        Err(TryLockError::Error(e)) => {
            return Err(BrokerError::io(format!("lock {}", path.display()), e))
        }
    }
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(pid.as_bytes()))
        .map_err(|e| BrokerError::io(format!("write {}", path.display()), e))?;
    Ok(file)
}

/// How long a listener may linger after its process died: io_uring tears a dead process's ring
/// down after the process is gone, and an accept still queued there keeps the socket listening
/// until then.
const LINGER_WAIT: Duration = Duration::from_secs(5);

/// Fails if another process listens on `addr`: a plain listening socket (no SO_REUSEPORT) cannot
/// be bound there then. A listener that is still there after `LINGER_WAIT` is another
/// process's. Port 0 asks for a fresh port, which no one holds.
pub fn check_address_free(addr: SocketAddr) -> Result<(), BrokerError> {
    check_address_free_within(addr, LINGER_WAIT)
}

fn check_address_free_within(addr: SocketAddr, wait: Duration) -> Result<(), BrokerError> {
    if addr.port() == 0 {
        return Ok(());
    }
    let deadline = Instant::now() + wait;
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(probe) => {
                drop(probe);
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                if Instant::now() >= deadline {
                    return Err(BrokerError::Exclusive(format!(
                        "address in use: another process listens on {addr}; stop it, or give \
                         this broker another --listen"
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(BrokerError::io(format!("listen on {addr}"), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_data_directory_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_data_dir(dir.path()).unwrap();
        let err = lock_data_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(held);
        lock_data_dir(dir.path()).unwrap();
    }

    #[test]
    fn an_address_someone_listens_on_is_refused() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = check_address_free_within(addr, Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(err.contains("address in use"), "{err}");
        drop(taken);
        check_address_free(addr).unwrap();
    }
}
