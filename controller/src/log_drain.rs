//! raft-rs logs through slog; this drain hands its lines to tracing, so that they go where the
//! broker's other lines go, filtered the same way.

use slog::{Drain, Level, OwnedKVList, Record, KV};

pub struct TracingDrain;

/// The key-value pairs of a slog line, as "k=v" text.
struct Pairs(String);

impl slog::Serializer for Pairs {
    fn emit_arguments(&mut self, key: slog::Key, value: &std::fmt::Arguments) -> slog::Result {
        use std::fmt::Write;
        let _ = write!(self.0, " {key}={value}");
        Ok(())
    }
}

impl Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), slog::Never> {
        let mut pairs = Pairs(String::new());
        let _ = record.kv().serialize(record, &mut pairs);
        let _ = values.serialize(record, &mut pairs);
        let message = record.msg();
        let pairs = pairs.0;
        match record.level() {
            Level::Critical | Level::Error => tracing::error!(target: "raft", "{message}{pairs}"),
            Level::Warning => tracing::warn!(target: "raft", "{message}{pairs}"),
            Level::Info => tracing::info!(target: "raft", "{message}{pairs}"),
            Level::Debug | Level::Trace => tracing::debug!(target: "raft", "{message}{pairs}"),
        }
        Ok(())
    }
}

/// A slog logger for raft-rs that writes through tracing.
pub fn logger() -> slog::Logger {
    slog::Logger::root(TracingDrain.fuse(), slog::o!())
}
