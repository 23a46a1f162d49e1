//! strata-bench: a load generator for Kafka-compatible brokers (ours or any other), with latency
//! histograms and side-by-side comparison of runs.
//!
//! It speaks only the Kafka wire protocol through the lean `strata-client`, runs one
//! executor per core it is given, and builds batches once and patches them, so that on a small
//! machine it leaves most of the CPU to the broker. It must never depend on the broker's code.

pub mod compare;
pub mod consumer;
pub mod phases;
pub mod producer;
pub mod record;
pub mod runner;
pub mod schedule;
pub mod stats;
pub mod verify;
pub mod workload;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock microseconds shared by the producers and consumers of a run (same host), taken
/// from one reading of the system clock and advanced by the monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    start_epoch_us: u64,
}

impl Clock {
    pub fn new() -> Clock {
        let start_epoch_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Clock {
            start: Instant::now(),
            start_epoch_us,
        }
    }

    pub fn now_us(&self) -> u64 {
        self.us_at(Instant::now())
    }

    pub fn us_at(&self, at: Instant) -> u64 {
        self.start_epoch_us + at.saturating_duration_since(self.start).as_micros() as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
