//! Which partition of the internal offsets topic holds a consumer group, as Kafka decides it
//! (GroupCoordinator's partitionFor): Java's `String.hashCode` of the group id, made
//! non-negative as Kafka's `Utils.abs` does, modulo the topic's partition count. The group's
//! coordinator is that partition's leader. Clients do not compute this, but matching Kafka keeps
//! a group's coordinator where operators of a mixed estate expect it.

/// Java's `String.hashCode`: over the UTF-16 code units, h = 31 h + c, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs`: the absolute value, with `i32::MIN` (which has none) as 0.
fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN {
        0
    } else {
        n.abs()
    }
}

/// The offsets-topic partition of `group_id`, out of `partitions` (at least 1).
pub fn offsets_partition(group_id: &str, partitions: i32) -> i32 {
    assert!(
        partitions >= 1,
        "the offsets topic has at least one partition"
    );
    kafka_abs(java_string_hash(group_id)) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_javas_over_utf16_units() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("abc"), 96354);
        // One unit above ASCII, and a character outside the BMP (a surrogate pair in Java).
        assert_eq!(java_string_hash("é"), 233);
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
        // Known values of Java's "...".hashCode(); the second wraps below zero.
        assert_eq!(java_string_hash("hello world"), 1_794_106_052);
        assert_eq!(java_string_hash("Hello World"), -862_545_276);
    }

    #[test]
    fn partitions_are_kafkas() {
        assert_eq!(offsets_partition("abc", 50), 96354 % 50);
        assert_eq!(kafka_abs(i32::MIN), 0);
        assert_eq!(kafka_abs(-7), 7);
        assert_eq!(offsets_partition("Hello World", 50), 862_545_276 % 50);
    }
}
