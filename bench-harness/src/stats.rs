//! Latency histograms (µs, 3 significant digits) and counters. Each executor records into its own
//! `Recorder`; once a second the recorders' contents go to the main thread as an `Interval`.

use std::io::Write;

use hdrhistogram::Histogram;
use serde::Serialize;

pub const LOWEST_US: u64 = 1;
pub const HIGHEST_US: u64 = 600_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, 3).expect("valid histogram bounds")
}

/// What an executor saw during one interval.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub produce_us: Histogram<u64>,
    pub e2e_us: Histogram<u64>,
    pub produced_records: u64,
    pub produced_bytes: u64,
    pub consumed_records: u64,
    pub consumed_bytes: u64,
    pub errors: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            produce_us: histogram(),
            e2e_us: histogram(),
            produced_records: 0,
            produced_bytes: 0,
            consumed_records: 0,
            consumed_bytes: 0,
            errors: 0,
        }
    }
}

impl Recorder {
    pub fn record_produce(&mut self, us: u64) {
        let _ = self.produce_us.record(us.clamp(LOWEST_US, HIGHEST_US));
    }

    pub fn record_e2e(&mut self, us: u64) {
        let _ = self.e2e_us.record(us.clamp(LOWEST_US, HIGHEST_US));
    }

    pub fn add(&mut self, other: &Recorder) {
        let _ = self.produce_us.add(&other.produce_us);
        let _ = self.e2e_us.add(&other.e2e_us);
        self.produced_records += other.produced_records;
        self.produced_bytes += other.produced_bytes;
        self.consumed_records += other.consumed_records;
        self.consumed_bytes += other.consumed_bytes;
        self.errors += other.errors;
    }
}

/// Percentiles reported everywhere, in µs.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }
}

/// Writes HdrHistogram's percentile distribution text (`.hgrm`), values in milliseconds.
pub fn write_hgrm(h: &Histogram<u64>, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let ms = |us: u64| us as f64 / 1000.0;
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            writeln!(
                out,
                "{:12.3} {:2.12} {:10} {:14.2}",
                ms(v.value_iterated_to()),
                q,
                h.count_between(0, v.value_iterated_to()),
                1.0 / (1.0 - q)
            )?;
        } else {
            writeln!(
                out,
                "{:12.3} {:2.12} {:10}",
                ms(v.value_iterated_to()),
                q,
                h.len()
            )?;
        }
    }
    writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    )?;
    writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        ms(h.max()),
        h.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        h.distinct_values()
    )?;
    Ok(())
}

/// Reads the (percentile, value in ms) points back from a `.hgrm` file, for plots.
pub fn read_hgrm(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(1)?.parse().ok()?, f.first()?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorders_add_up_and_percentiles_follow_the_samples() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        for us in 1..=1000 {
            a.record_produce(us);
        }
        b.record_produce(1_000_000);
        b.produced_records = 7;
        a.add(&b);
        let p = Percentiles::of(&a.produce_us);
        assert_eq!(p.count, 1001);
        assert!((499..=501).contains(&p.p50), "{p:?}");
        assert!((989..=991).contains(&p.p99), "{p:?}");
        assert!((999_000..=1_001_000).contains(&p.max), "{p:?}");
        assert_eq!(a.produced_records, 7);
        // Values out of range are clamped, not lost.
        a.record_e2e(0);
        a.record_e2e(u64::MAX);
        assert_eq!(a.e2e_us.len(), 2);
    }

    #[test]
    fn hgrm_text_round_trips_its_percentile_curve() {
        let mut h = histogram();
        for us in 1..=10_000 {
            h.record(us).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&h, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Percentile") && text.contains("#[Max"));
        let points = read_hgrm(&text);
        assert!(points.len() > 20);
        let p50 = points.iter().find(|(q, _)| *q >= 0.5).unwrap();
        assert!((4.9..=5.1).contains(&p50.1), "{p50:?}");
        assert!(points
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }
}
