//! Per-thread stage timings: how long each named stage of the work on this executor took, in
//! HdrHistograms (microseconds, 3 significant digits). Each shard records into its own thread's
//! set, so the hot path takes no lock and shares no cache line; a report takes a shard's set
//! and starts it afresh. Cheap enough to leave on: one clock read and one histogram increment
//! per stage.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Longest duration kept exactly; longer ones count as this (an hour).
const MAX_US: u64 = 3_600_000_000;

/// The stage timings of one thread: each stage's histogram, in the order first recorded.
#[derive(Default)]
pub struct StageTimings {
    stages: Vec<(&'static str, Histogram<u64>)>,
}

thread_local! {
    static TIMINGS: RefCell<StageTimings> = RefCell::new(StageTimings::default());
}

impl StageTimings {
    fn histogram(&mut self, stage: &'static str) -> &mut Histogram<u64> {
        // Few stages (tens): a scan by the name's address first finds the usual constant at once.
        let at = self
            .stages
            .iter()
            .position(|(s, _)| std::ptr::eq(*s, stage))
            .or_else(|| self.stages.iter().position(|(s, _)| *s == stage));
        let at = at.unwrap_or_else(|| {
            let h = Histogram::new_with_max(MAX_US, 3).expect("valid histogram bounds");
            self.stages.push((stage, h));
            self.stages.len() - 1
        });
        &mut self.stages[at].1
    }

    /// Each stage with its histogram.
    pub fn stages(&self) -> impl Iterator<Item = (&'static str, &Histogram<u64>)> {
        self.stages.iter().map(|(s, h)| (*s, h))
    }
}

/// Records that `stage` took `took` on this thread.
pub fn record(stage: &'static str, took: Duration) {
    let us = (took.as_micros() as u64).min(MAX_US);
    TIMINGS.with(|t| t.borrow_mut().histogram(stage).saturating_record(us));
}

/// Records that `stage` began at `since` and ends now.
pub fn record_since(stage: &'static str, since: Instant) {
    record(stage, since.elapsed());
}

/// This thread's timings so far; the thread starts afresh.
pub fn take() -> StageTimings {
    TIMINGS.with(|t| std::mem::take(&mut *t.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_kept_apart_and_taking_them_starts_afresh() {
        record("a", Duration::from_micros(10));
        record("b", Duration::from_micros(2000));
        record("a", Duration::from_micros(30));
        // The same name from another address is the same stage.
        let other = String::from("a").leak();
        record(other, Duration::from_micros(20));
        let t = take();
        let got: Vec<_> = t.stages().map(|(s, h)| (s, h.len(), h.max())).collect();
        assert_eq!(got, vec![("a", 3, 30), ("b", 1, 2000)]);
        assert_eq!(take().stages().count(), 0);
    }

    #[test]
    fn durations_beyond_the_bound_count_as_the_bound() {
        record("long", Duration::from_secs(7200));
        let t = take();
        let (_, h) = t.stages().next().unwrap();
        assert!(h.max() >= MAX_US && h.max() <= MAX_US + MAX_US / 500);
    }
}
