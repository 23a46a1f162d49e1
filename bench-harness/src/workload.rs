//! What a run does: the standard presets of shared/BENCHMARKS.md, each parameter overridable
//! with `--set key=value`.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub topic: String,
    pub partitions: i32,
    /// Bytes of each record value (at least the 24-byte stamp).
    pub record_bytes: usize,
    /// Bytes of records per partition batch.
    pub batch_bytes: usize,
    /// Open loop: how long records gather before a batch goes (the batch interval), in
    /// microseconds (`--set linger_ms=N` sets whole milliseconds).
    pub linger_us: u64,
    pub acks: i16,
    /// Idempotent producing: each producer gets a producer id and numbers its batches.
    pub idempotent: bool,
    pub compression: String,
    pub producers: usize,
    /// Consumers reading every partition (each its own reader: fan-out).
    pub consumers: usize,
    /// Records per second for all producers together; 0 is closed loop (as fast as acks allow).
    pub rate: u64,
    pub duration_s: u64,
    pub warmup_s: u64,
    pub max_in_flight: usize,
    pub fetch_max_wait_ms: i32,
    pub fetch_partition_max_bytes: i32,
    /// Check that every produced record arrives once, in order per partition.
    pub verify: bool,
    /// Executors (threads, one per core) the generator uses.
    pub threads: usize,
    /// First core to pin the executors to (then the next ones); none: not pinned.
    pub first_core: Option<usize>,
    /// catch-up: bytes of backlog written before it is read back.
    pub backlog_bytes: u64,
    /// log-size: the two log sizes measured.
    pub small_log_bytes: u64,
    pub large_log_bytes: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            topic: "strata-bench".into(),
            partitions: 8,
            record_bytes: 100,
            batch_bytes: 64 * 1024,
            linger_us: 2000,
            acks: 1,
            idempotent: false,
            compression: "none".into(),
            producers: 1,
            consumers: 0,
            rate: 0,
            duration_s: 30,
            warmup_s: 5,
            max_in_flight: 5,
            fetch_max_wait_ms: 100,
            fetch_partition_max_bytes: 1 << 20,
            verify: false,
            threads: 1,
            first_core: None,
            backlog_bytes: 4 << 30,
            small_log_bytes: 1 << 30,
            large_log_bytes: 32 << 30,
        }
    }
}

pub const PRESETS: &[&str] = &[
    "throughput",
    "throughput-1k",
    "latency",
    "durable",
    "catch-up",
    "fan-out",
    "log-size",
];

/// The parameters of a preset, or why it cannot be run.
pub fn preset(name: &str) -> Result<Params, String> {
    let base = Params::default();
    Ok(match name {
        "throughput" => Params {
            topic: "bench-throughput".into(),
            ..base
        },
        "throughput-1k" => Params {
            topic: "bench-throughput-1k".into(),
            record_bytes: 1024,
            ..base
        },
        // 50% of the throughput median measured on the development machine; set `rate` to half
        // of your own `throughput` median.
        // What a user tuning a client for latency sets: linger 0.5 ms, and requests pipelined
        // as librdkafka does by default (its max.in.flight is 1,000,000) rather than 5, so that
        // a busy broker's answer time does not cap the rate.
        "latency" => Params {
            topic: "bench-latency".into(),
            rate: 500_000,
            consumers: 1,
            linger_us: 500,
            max_in_flight: 32,
            ..base
        },
        "durable" => Params {
            topic: "bench-durable".into(),
            acks: -1,
            record_bytes: 1024,
            ..base
        },
        "fan-out" => Params {
            topic: "bench-fan-out".into(),
            consumers: 4,
            rate: 200_000,
            ..base
        },
        "catch-up" => Params {
            topic: "bench-catch-up".into(),
            duration_s: 10,
            ..base
        },
        "log-size" => Params {
            topic: "bench-log-size".into(),
            duration_s: 10,
            ..base
        },
        other => {
            return Err(format!(
                "unknown preset {other}: one of {}",
                PRESETS.join(", ")
            ))
        }
    })
}

impl Params {
    /// Applies one `key=value` override.
    pub fn set(&mut self, kv: &str) -> Result<(), String> {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--set {kv}: expected key=value"))?;
        fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("--set {k}={v}: not a valid number"))
        }
        match k {
            "topic" => self.topic = v.to_string(),
            "partitions" => self.partitions = num(k, v)?,
            "record_bytes" => self.record_bytes = num(k, v)?,
            "batch_bytes" => self.batch_bytes = num(k, v)?,
            "linger_ms" => self.linger_us = num::<u64>(k, v)?.saturating_mul(1000),
            "linger_us" => self.linger_us = num(k, v)?,
            "acks" => self.acks = num(k, v)?,
            "idempotent" => self.idempotent = num(k, v)?,
            "compression" => self.compression = v.to_string(),
            "producers" => self.producers = num(k, v)?,
            "consumers" => self.consumers = num(k, v)?,
            "rate" => self.rate = num(k, v)?,
            "duration_s" => self.duration_s = num(k, v)?,
            "warmup_s" => self.warmup_s = num(k, v)?,
            "max_in_flight" => self.max_in_flight = num(k, v)?,
            "fetch_max_wait_ms" => self.fetch_max_wait_ms = num(k, v)?,
            "fetch_partition_max_bytes" => self.fetch_partition_max_bytes = num(k, v)?,
            "verify" => self.verify = num(k, v)?,
            "threads" => self.threads = num(k, v)?,
            "first_core" => self.first_core = Some(num(k, v)?),
            "backlog_bytes" => self.backlog_bytes = num(k, v)?,
            "small_log_bytes" => self.small_log_bytes = num(k, v)?,
            "large_log_bytes" => self.large_log_bytes = num(k, v)?,
            other => return Err(format!("--set {other}: unknown parameter")),
        }
        self.validate()
    }

    pub fn validate(&self) -> Result<(), String> {
        let bad = |m: &str| Err(m.to_string());
        if self.record_bytes < crate::record::STAMP_BYTES {
            return bad("record_bytes must be at least 24 (the stamp)");
        }
        if self.partitions < 1 || self.producers + self.consumers == 0 || self.threads == 0 {
            return bad("partitions, producers + consumers and threads must be positive");
        }
        if !matches!(self.acks, -1..=1) {
            return bad("acks must be -1, 0 or 1");
        }
        if self.compression != "none" {
            return bad("compression: only none is generated so far");
        }
        if self.max_in_flight == 0 || self.batch_bytes < self.record_bytes {
            return bad("max_in_flight must be positive and batch_bytes at least record_bytes");
        }
        if self.idempotent && (self.acks == 0 || self.max_in_flight > 5) {
            return bad(
                "idempotent needs acks 1 or -1 and max_in_flight at most 5 (what brokers remember)",
            );
        }
        if self.verify && self.acks == 0 {
            return bad("verify needs acks 1 or -1");
        }
        Ok(())
    }

    /// Records in each partition's batch.
    pub fn records_per_batch(&self) -> usize {
        if self.rate == 0 {
            (self.batch_bytes / (self.record_bytes + 10)).max(1)
        } else {
            // Open loop: what one producer's share of the rate gathers in `linger_us` per partition.
            let per_producer = self.rate as f64 / self.producers.max(1) as f64;
            ((per_producer * self.linger_us as f64 / 1e6 / self.partitions as f64).round() as usize)
                .clamp(1, (self.batch_bytes / (self.record_bytes + 10)).max(1))
        }
    }
}
