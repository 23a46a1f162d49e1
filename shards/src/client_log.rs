//! What a shard logs about its clients' misbehaviour (bad frames, stalled uploads, idle
//! connections), at most `lines_per_minute` lines per client address: a client sending garbage
//! in a loop must not fill the disk with logs. Every event is counted; the next line logged for
//! that client says how many were left out.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Client addresses tracked at once; past this, windows that are over are dropped, then all.
const MAX_CLIENTS_TRACKED: usize = 4096;
const WINDOW: Duration = Duration::from_secs(60);

/// Why a connection was closed by the broker, for the log and the shard's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// A frame that could not be read or decoded.
    BadFrame,
    /// A request whose bytes did not all arrive within `request_read_timeout_ms`.
    Stalled,
    /// No request for `connections_max_idle_ms`.
    Idle,
}

struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
}

/// Per-shard counters and the rate limit of log lines per client address.
pub struct ClientLog {
    lines_per_minute: u32,
    windows: RefCell<HashMap<IpAddr, Window>>,
    bad_frames: Cell<u64>,
    stalled: Cell<u64>,
    idle: Cell<u64>,
}

impl ClientLog {
    pub fn new(lines_per_minute: u32) -> Self {
        ClientLog {
            lines_per_minute,
            windows: RefCell::new(HashMap::new()),
            bad_frames: Cell::new(0),
            stalled: Cell::new(0),
            idle: Cell::new(0),
        }
    }

    /// Counts the event and logs `message` unless this client has had its lines this minute.
    pub fn event(&self, peer: Option<SocketAddr>, event: ConnectionEvent, message: &str) {
        let counter = match event {
            ConnectionEvent::BadFrame => &self.bad_frames,
            ConnectionEvent::Stalled => &self.stalled,
            ConnectionEvent::Idle => &self.idle,
        };
        counter.set(counter.get() + 1);
        let Some(suppressed) = self.admit(peer.map(|p| p.ip()), Instant::now()) else {
            return;
        };
        let (bad, stalled, idle) = self.counts();
        let level_is_warn = event != ConnectionEvent::Idle;
        if level_is_warn {
            tracing::warn!(?peer, suppressed, bad, stalled, idle, "{message}");
        } else {
            tracing::info!(?peer, suppressed, bad, stalled, idle, "{message}");
        }
    }

    /// (bad frames, stalled requests, idle connections) closed so far on this shard.
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.bad_frames.get(), self.stalled.get(), self.idle.get())
    }

    /// `Some(lines left out since the last one)` when a line for `client` may be logged now.
    fn admit(&self, client: Option<IpAddr>, now: Instant) -> Option<u64> {
        let client = client.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mut windows = self.windows.borrow_mut();
        if windows.len() >= MAX_CLIENTS_TRACKED && !windows.contains_key(&client) {
            windows.retain(|_, w| now.duration_since(w.start) < WINDOW);
            if windows.len() >= MAX_CLIENTS_TRACKED {
                windows.clear();
            }
        }
        let w = windows.entry(client).or_insert(Window {
            start: now,
            logged: 0,
            suppressed: 0,
        });
        if now.duration_since(w.start) >= WINDOW {
            w.start = now;
            w.logged = 0;
        }
        if w.logged >= self.lines_per_minute {
            w.suppressed += 1;
            return None;
        }
        w.logged += 1;
        Some(std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_its_lines_per_minute_and_the_rest_are_counted() {
        let log = ClientLog::new(3);
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        let t0 = Instant::now();
        let got: Vec<_> = (0..5).map(|_| log.admit(a, t0)).collect();
        assert_eq!(got, [Some(0), Some(0), Some(0), None, None]);
        assert_eq!(
            log.admit(b, t0),
            Some(0),
            "another client has its own lines"
        );
        // A minute later: lines again, the first saying how many were left out.
        assert_eq!(log.admit(a, t0 + WINDOW), Some(2));
        assert_eq!(log.admit(a, t0 + WINDOW), Some(0));
    }

    #[test]
    fn the_table_of_clients_stays_bounded() {
        let log = ClientLog::new(1);
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS_TRACKED as u32 + 10) {
            log.admit(Some(IpAddr::from(i.to_be_bytes())), t0);
        }
        assert!(log.windows.borrow().len() <= MAX_CLIENTS_TRACKED);
    }
}
