//! The open-loop schedule: records are due at a fixed rate from the start, whatever the broker
//! does. A send that falls behind still counts latency from when its records were due, so a
//! stall shows up in the histogram instead of hiding (coordinated omission).

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Schedule {
    start: Instant,
    /// Records per second for this sender.
    rate: f64,
    sent: u64,
}

impl Schedule {
    pub fn new(start: Instant, rate: f64) -> Schedule {
        Schedule {
            start,
            rate,
            sent: 0,
        }
    }

    /// When record number `n` (from 0) is due.
    pub fn due(&self, n: u64) -> Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.rate)
    }

    /// The next `count` records: when the last of them is due (the earliest they can go), and
    /// when each is due, through `each`. Advances the schedule.
    pub fn take(&mut self, count: u64, mut each: impl FnMut(u64, Instant)) -> Instant {
        for i in 0..count {
            each(i, self.due(self.sent + i));
        }
        self.sent += count;
        self.due(self.sent - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_due_at_the_rate_from_the_start_even_when_taken_late() {
        let start = Instant::now();
        let mut s = Schedule::new(start, 1000.0);
        let mut dues = Vec::new();
        let last = s.take(5, |_, t| dues.push(t));
        assert_eq!(dues[0], start);
        assert_eq!(last - start, Duration::from_millis(4));
        // Taken late or not, the next batch is due where the rate says.
        let last = s.take(5, |_, _| {});
        assert_eq!(last - start, Duration::from_millis(9));
    }
}
