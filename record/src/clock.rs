//! Wall-clock time as Kafka counts it: milliseconds since the Unix epoch (batch timestamps,
//! retention and producer expiry).

/// Now, in ms since the Unix epoch; 0 if the clock reads before 1970.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
