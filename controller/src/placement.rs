//! Where a new topic's partitions go: over the unfenced brokers, each partition's leader the
//! broker leading the fewest partitions so far (across the cluster), ties broken by a start
//! that rotates with the topic, so that topics of one partition do not all land on one broker.
//! Followers (replication factor above one) are the brokers after the leader in that order.
//!
//! Racks (Kafka's `broker.rack`): when live brokers name racks, the order is Kafka's
//! rack-alternating one (the first broker of each rack, then the second of each, ...; brokers
//! without a rack count as one more rack), and a partition's followers are taken on racks it
//! does not have yet before any rack is used twice, so its replicas span as many racks as the
//! replication factor and the racks allow.

use std::collections::BTreeMap;

use crate::image::MetadataImage;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("replication factor {wanted} is larger than the {live} live brokers")]
    NotEnoughBrokers { wanted: usize, live: usize },
    #[error("replication factor must be at least 1, not {0}")]
    BadReplicationFactor(i32),
}

/// Replicas for `partitions` new partitions, leader first. `seed` rotates the tie-break (the
/// topic's id hashed, say): the same inputs always give the same answer.
pub fn place(
    image: &MetadataImage,
    partitions: usize,
    replication_factor: i32,
    seed: u64,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    if replication_factor < 1 {
        return Err(PlacementError::BadReplicationFactor(replication_factor));
    }
    let live: Vec<i32> = image
        .brokers
        .iter()
        .filter(|(_, b)| !b.fenced)
        .map(|(id, _)| *id)
        .collect();
    let live = rack_alternating(image, &live);
    let rack = |b: &i32| image.brokers.get(b).and_then(|x| x.rack.as_deref());
    let wanted = replication_factor as usize;
    if wanted > live.len() {
        return Err(PlacementError::NotEnoughBrokers {
            wanted,
            live: live.len(),
        });
    }
    let mut leading: BTreeMap<i32, usize> = live.iter().map(|b| (*b, 0)).collect();
    for topic in image.topics.values() {
        for p in topic.partitions.values() {
            if let Some(n) = leading.get_mut(&p.leader) {
                *n += 1;
            }
        }
    }
    let start = (seed % live.len() as u64) as usize;
    let mut out = Vec::with_capacity(partitions);
    for _ in 0..partitions {
        // The fewest leaderships; among equals, the first from the rotating start.
        let order = |b: &i32| {
            let pos = live.iter().position(|x| x == b).expect("a live broker");
            (leading[b], (pos + live.len() - start) % live.len())
        };
        let leader = *live
            .iter()
            .min_by_key(|b| order(b))
            .expect("brokers are live");
        *leading.get_mut(&leader).expect("a live broker") += 1;
        let at = live
            .iter()
            .position(|b| *b == leader)
            .expect("a live broker");
        // Walking on from the leader: first brokers on racks the partition has not got, then
        // the rest in order (without racks, simply the next brokers).
        let walk: Vec<i32> = (0..live.len())
            .map(|i| live[(at + i) % live.len()])
            .collect();
        let mut replicas = vec![leader];
        for b in &walk[1..] {
            if replicas.len() < wanted && !replicas.iter().any(|r| rack(r) == rack(b)) {
                replicas.push(*b);
            }
        }
        for b in &walk[1..] {
            if replicas.len() < wanted && !replicas.contains(b) {
                replicas.push(*b);
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

/// `live` in rack-alternating order (racks by name, the brokers without one as one more rack);
/// unchanged when they are all on one rack, or none names one.
fn rack_alternating(image: &MetadataImage, live: &[i32]) -> Vec<i32> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for b in live {
        let rack = image.brokers.get(b).and_then(|x| x.rack.as_deref());
        by_rack.entry(rack).or_default().push(*b);
    }
    if by_rack.len() <= 1 {
        return live.to_vec();
    }
    let mut out = Vec::with_capacity(live.len());
    let mut round = 0;
    while out.len() < live.len() {
        out.extend(by_rack.values().filter_map(|brokers| brokers.get(round)));
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::image::{BrokerImage, PartitionImage, TopicImage};
    use crate::records::Endpoint;

    fn cluster(brokers: &[(i32, bool)], existing_leaders: &[i32]) -> MetadataImage {
        let racks: Vec<(i32, bool, Option<&str>)> =
            brokers.iter().map(|(id, f)| (*id, *f, None)).collect();
        racked(&racks, existing_leaders)
    }

    fn racked(brokers: &[(i32, bool, Option<&str>)], existing_leaders: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for (id, fenced, rack) in brokers {
            image.brokers.insert(
                *id,
                BrokerImage {
                    epoch: 1,
                    incarnation: String::new(),
                    endpoint: Endpoint {
                        host: "h".into(),
                        port: 1,
                    },
                    rack: rack.map(str::to_string),
                    shards: 2,
                    fenced: *fenced,
                },
            );
        }
        let partitions = existing_leaders
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let p = PartitionImage {
                    replicas: vec![*l],
                    isr: vec![*l],
                    leader: *l,
                    leader_epoch: 0,
                    partition_epoch: 0,
                };
                (i as i32, p)
            })
            .collect();
        image.topics.insert(
            "old".into(),
            TopicImage {
                name: "old".into(),
                topic_id: "old".into(),
                partitions,
                configs: BTreeMap::new(),
            },
        );
        image
    }

    #[test]
    fn twelve_partitions_over_three_brokers_are_four_each_and_fenced_brokers_get_none() {
        let image = cluster(&[(0, false), (1, false), (2, false), (3, true)], &[]);
        let placed = place(&image, 12, 1, 7).unwrap();
        let mut per: BTreeMap<i32, usize> = BTreeMap::new();
        for r in &placed {
            *per.entry(r[0]).or_default() += 1;
        }
        assert_eq!(per, BTreeMap::from([(0, 4), (1, 4), (2, 4)]));
        let replicated = place(&image, 3, 3, 0).unwrap();
        assert!(replicated.iter().all(|r| {
            let mut s = r.clone();
            s.sort_unstable();
            s == [0, 1, 2]
        }));
        assert_eq!(
            place(&image, 1, 4, 0),
            Err(PlacementError::NotEnoughBrokers { wanted: 4, live: 3 })
        );
        assert_eq!(
            place(&image, 1, 0, 0),
            Err(PlacementError::BadReplicationFactor(0))
        );
    }

    #[test]
    fn new_partitions_go_to_the_brokers_that_lead_fewest() {
        // Broker 0 leads three partitions already, broker 1 one, broker 2 (new) none.
        let image = cluster(&[(0, false), (1, false), (2, false)], &[0, 0, 0, 1]);
        let leaders: Vec<i32> = place(&image, 5, 1, 0)
            .unwrap()
            .iter()
            .map(|r| r[0])
            .collect();
        let mut sorted = leaders.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [1, 1, 2, 2, 2], "{leaders:?}");
    }

    #[test]
    fn replicas_span_racks_and_leaders_stay_even() {
        // Racks a: 0, 1; b: 2, 3; c: 4, 5 (ids not in rack order on purpose: 1 is on a).
        let brokers = [
            (0, false, Some("a")),
            (1, false, Some("a")),
            (2, false, Some("b")),
            (3, false, Some("b")),
            (4, false, Some("c")),
            (5, false, Some("c")),
        ];
        let image = racked(&brokers, &[]);
        let rack = |b: i32| brokers[b as usize].2.unwrap();
        for rf in 1..=3 {
            let placed = place(&image, 12, rf, 3).unwrap();
            let mut per: BTreeMap<i32, usize> = BTreeMap::new();
            for r in &placed {
                *per.entry(r[0]).or_default() += 1;
                let racks: std::collections::BTreeSet<&str> = r.iter().map(|b| rack(*b)).collect();
                assert_eq!(racks.len(), rf as usize, "{r:?}: one replica per rack");
            }
            assert!(per.values().all(|n| *n == 2), "{per:?}");
        }
        // Four replicas over three racks: every rack, one of them twice.
        for r in place(&image, 6, 4, 0).unwrap() {
            let racks: std::collections::BTreeSet<&str> = r.iter().map(|b| rack(*b)).collect();
            assert_eq!(racks.len(), 3, "{r:?}");
        }
        // Brokers without a rack are a rack of their own.
        let mixed = racked(
            &[
                (0, false, Some("a")),
                (1, false, Some("a")),
                (2, false, None),
            ],
            &[],
        );
        for r in place(&mixed, 4, 2, 0).unwrap() {
            assert!(r.contains(&2), "{r:?} spans both racks");
        }
    }

    proptest! {
        /// Replicas span min(replication factor, racks) racks, whatever the racks.
        #[test]
        fn replicas_span_as_many_racks_as_they_can(
            racks in proptest::collection::vec(proptest::option::of(0u8..3), 1..7),
            partitions in 1usize..20,
            rf in 1i32..5,
            seed in any::<u64>(),
        ) {
            let names: Vec<Option<String>> = racks.iter().map(|r| r.map(|r| format!("r{r}"))).collect();
            let brokers: Vec<(i32, bool, Option<&str>)> = names
                .iter()
                .enumerate()
                .map(|(i, r)| (i as i32, false, r.as_deref()))
                .collect();
            let image = racked(&brokers, &[]);
            let distinct = |bs: &mut dyn Iterator<Item = &i32>| {
                bs.map(|b| names[*b as usize].clone()).collect::<std::collections::BTreeSet<_>>().len()
            };
            let all_racks = distinct(&mut brokers.iter().map(|b| &b.0));
            match place(&image, partitions, rf, seed) {
                Err(PlacementError::NotEnoughBrokers { .. }) => prop_assert!(rf as usize > brokers.len()),
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
                Ok(placed) => {
                    for r in &placed {
                        prop_assert_eq!(distinct(&mut r.iter()), all_racks.min(rf as usize));
                        let mut d = r.clone();
                        d.sort_unstable();
                        d.dedup();
                        prop_assert_eq!(d.len(), r.len());
                    }
                }
            }
        }

        /// After placing, leaderships over live brokers differ by at most one more than they
        /// did before (new partitions never make the spread worse), replicas are distinct live
        /// brokers, and the answer depends only on its inputs.
        #[test]
        fn placement_evens_out_leadership_over_live_brokers(
            fenced in proptest::collection::vec(any::<bool>(), 1..6),
            existing in proptest::collection::vec(0i32..6, 0..20),
            partitions in 1usize..40,
            rf in 1i32..4,
            seed in any::<u64>(),
        ) {
            let brokers: Vec<(i32, bool)> = fenced.iter().enumerate().map(|(i, f)| (i as i32, *f)).collect();
            let image = cluster(&brokers, &existing);
            let live: Vec<i32> = brokers.iter().filter(|(_, f)| !f).map(|(i, _)| *i).collect();
            match place(&image, partitions, rf, seed) {
                Err(PlacementError::NotEnoughBrokers { .. }) => prop_assert!(rf as usize > live.len()),
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
                Ok(placed) => {
                    prop_assert_eq!(placed.len(), partitions);
                    prop_assert_eq!(&placed, &place(&image, partitions, rf, seed).unwrap());
                    let count = |leaders: &mut dyn Iterator<Item = i32>| {
                        let mut per: BTreeMap<i32, i64> = live.iter().map(|b| (*b, 0)).collect();
                        for l in leaders {
                            if let Some(n) = per.get_mut(&l) { *n += 1; }
                        }
                        let max = *per.values().max().unwrap();
                        let min = *per.values().min().unwrap();
                        (max, min)
                    };
                    let (max_before, min_before) = count(&mut existing.iter().copied());
                    let mut after = existing.iter().copied().chain(placed.iter().map(|r| r[0]));
                    let (max_after, min_after) = count(&mut after);
                    prop_assert!(max_after - min_after <= (max_before - min_before).max(1));
                    for r in &placed {
                        prop_assert_eq!(r.len(), rf as usize);
                        let mut d = r.clone();
                        d.sort_unstable();
                        d.dedup();
                        prop_assert_eq!(d.len(), r.len());
                        prop_assert!(r.iter().all(|b| live.contains(b)));
                    }
                }
            }
        }
    }
}
