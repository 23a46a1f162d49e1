//! Manual replica assignments (CreateTopics and CreatePartitions with explicit broker lists):
//! accepted when valid for this cluster, refused with the reason otherwise, as Kafka's
//! INVALID_REPLICA_ASSIGNMENT. Replicas are placed by the cluster itself today (one node), so a
//! valid assignment changes nothing beyond being checked.

use std::collections::BTreeSet;

/// Checks one partition's replica list against the cluster's brokers.
pub fn check_replicas(partition: i32, replicas: &[i32], brokers: &[i32]) -> Result<(), String> {
    if replicas.is_empty() {
        return Err(format!("partition {partition} has no replicas"));
    }
    let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
    if distinct.len() != replicas.len() {
        return Err(format!(
            "partition {partition} names a broker twice: {replicas:?}"
        ));
    }
    if let Some(unknown) = replicas.iter().find(|b| !brokers.contains(b)) {
        return Err(format!(
            "partition {partition} is assigned to broker {unknown}, which is not in the \
             cluster (brokers: {brokers:?})"
        ));
    }
    Ok(())
}

/// Checks a new topic's assignment (partition index, replicas): every partition from 0 on
/// exactly once, each valid, all with the same replication factor. Returns the partition count.
pub fn check_topic(assignment: &[(i32, Vec<i32>)], brokers: &[i32]) -> Result<i32, String> {
    let indexes: BTreeSet<i32> = assignment.iter().map(|(p, _)| *p).collect();
    let count = assignment.len() as i32;
    if indexes.len() != assignment.len() || indexes.iter().copied().ne(0..count) {
        return Err(format!(
            "partitions must be numbered 0 to {} once each; got {:?}",
            count - 1,
            assignment.iter().map(|(p, _)| *p).collect::<Vec<_>>()
        ));
    }
    for (p, replicas) in assignment {
        check_replicas(*p, replicas, brokers)?;
    }
    let factors: BTreeSet<usize> = assignment.iter().map(|(_, r)| r.len()).collect();
    if factors.len() > 1 {
        return Err(format!(
            "all partitions must have the same number of replicas; got {factors:?}"
        ));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_assignments_pass_and_each_mistake_is_named() {
        assert_eq!(check_topic(&[(0, vec![0]), (1, vec![0])], &[0]), Ok(2));
        assert!(check_topic(&[(0, vec![1])], &[0])
            .unwrap_err()
            .contains("broker 1"));
        assert!(check_topic(&[(1, vec![0])], &[0])
            .unwrap_err()
            .contains("numbered"));
        assert!(check_topic(&[(0, vec![0, 0])], &[0])
            .unwrap_err()
            .contains("twice"));
        assert!(check_topic(&[(0, vec![])], &[0])
            .unwrap_err()
            .contains("no replicas"));
        assert!(check_topic(&[(0, vec![0]), (1, vec![0, 1])], &[0, 1])
            .unwrap_err()
            .contains("same number"));
    }
}
