//! What the leader of a replicated partition knows of its followers (Kafka's `Partition` on
//! the leader): how far each has fetched, when each was last caught up, and from that the high
//! watermark (what every in-sync replica has) and which followers should leave or join the
//! in-sync set. Pure: no I/O, the owner shard feeds it fetches and the clock.

use std::collections::BTreeMap;

use crate::topics::PartitionPlace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Follower {
    /// Its log end as its last fetch said (the offset it fetched from); `None` until it fetches
    /// in this leader epoch.
    log_end: Option<i64>,
    /// The last time its log end reached the leader's (ms).
    caught_up_ms: i64,
    /// The leader's log end at its previous fetch, and when that was.
    previous_fetch: (i64, i64),
}

#[derive(Debug, Clone)]
pub struct LeaderState {
    pub me: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The in-sync replicas as the controller last committed them (this leader among them).
    pub isr: Vec<i32>,
    followers: BTreeMap<i32, Follower>,
    high_watermark: i64,
    /// An in-sync set sent to the controller and not yet committed, and when it was sent.
    pending_isr: Option<(Vec<i32>, i64)>,
    /// `testing_unsafe_high_watermark`: the high watermark ignores the followers.
    pub unsafe_leader_only: bool,
}

impl LeaderState {
    /// The state of a leader that starts leading `place` with `high_watermark` (its own, kept
    /// from before; never lowered from here). Followers have a full lag time to fetch.
    pub fn new(me: i32, place: &PartitionPlace, high_watermark: i64, now_ms: i64) -> LeaderState {
        let followers = place
            .replicas
            .iter()
            .filter(|r| **r != me)
            .map(|r| {
                (
                    *r,
                    Follower {
                        log_end: None,
                        caught_up_ms: now_ms,
                        previous_fetch: (i64::MAX, now_ms),
                    },
                )
            })
            .collect();
        LeaderState {
            me,
            leader_epoch: place.leader_epoch,
            partition_epoch: place.partition_epoch,
            isr: place.isr.clone(),
            followers,
            high_watermark,
            pending_isr: None,
            unsafe_leader_only: false,
        }
    }

    /// Takes a newer committed place of the same leadership (the ISR or the partition epoch
    /// changed): a pending ISR it commits is no longer pending.
    pub fn update(&mut self, place: &PartitionPlace) {
        if self
            .pending_isr
            .as_ref()
            .is_some_and(|(isr, _)| *isr == place.isr)
            || place.partition_epoch != self.partition_epoch
        {
            self.pending_isr = None;
        }
        self.isr = place.isr.clone();
        self.partition_epoch = place.partition_epoch;
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Members the high watermark waits for: the committed ISR and any member a pending change
    /// adds (Kafka's "maximal ISR": a shrink counts only once committed, a growth at once).
    fn maximal_isr(&self) -> Vec<i32> {
        let mut all = self.isr.clone();
        if let Some((pending, _)) = &self.pending_isr {
            for r in pending {
                if !all.contains(r) {
                    all.push(*r);
                }
            }
        }
        all
    }

    /// A follower fetched from `fetch_offset` (its log end) while the leader's log end was
    /// `leader_end`; returns whether the high watermark moved.
    pub fn on_fetch(
        &mut self,
        follower: i32,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> bool {
        let Some(f) = self.followers.get_mut(&follower) else {
            return false;
        };
        f.log_end = Some(fetch_offset);
        if fetch_offset >= leader_end {
            f.caught_up_ms = now_ms;
        } else if fetch_offset >= f.previous_fetch.0 {
            // It has what the leader had at its previous fetch: caught up as of then.
            f.caught_up_ms = f.caught_up_ms.max(f.previous_fetch.1);
        }
        f.previous_fetch = (leader_end, now_ms);
        self.advance(leader_end)
    }

    /// Moves the high watermark to what every member of the maximal ISR has (the leader:
    /// `leader_end`); a member not heard from in this epoch holds it where it is. Never lowers
    /// it. Returns whether it moved.
    pub fn advance(&mut self, leader_end: i64) -> bool {
        let mut hw = leader_end;
        for r in self.maximal_isr() {
            if self.unsafe_leader_only {
                break;
            }
            if r == self.me {
                continue;
            }
            match self.followers.get(&r).and_then(|f| f.log_end) {
                Some(end) => hw = hw.min(end),
                None => hw = hw.min(self.high_watermark),
            }
        }
        if hw > self.high_watermark {
            self.high_watermark = hw;
            true
        } else {
            false
        }
    }

    /// The in-sync set to propose, if it should change: members not caught up for `lag_ms`
    /// leave; followers outside it whose log end reached the high watermark join. `None` while
    /// a proposal is pending (retried after `lag_ms`).
    pub fn isr_change(&self, now_ms: i64, lag_ms: i64) -> Option<Vec<i32>> {
        if let Some((_, sent)) = &self.pending_isr {
            if now_ms - sent < lag_ms {
                return None;
            }
        }
        let mut isr: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|r| {
                *r == self.me
                    || self
                        .followers
                        .get(r)
                        .is_some_and(|f| now_ms - f.caught_up_ms <= lag_ms)
            })
            .collect();
        for (r, f) in &self.followers {
            // Joins on the strength of a recent fetch (Kafka judges it at each fetch): a
            // follower that stopped fetching stays out, however close it had come.
            let fetching = now_ms - f.previous_fetch.1 < lag_ms;
            if !self.isr.contains(r)
                && fetching
                && f.log_end.is_some_and(|end| end >= self.high_watermark)
            {
                isr.push(*r);
            }
        }
        (isr != self.isr).then_some(isr)
    }

    /// Records that `isr` was sent to the controller at `now_ms`.
    pub fn proposed(&mut self, isr: Vec<i32>, now_ms: i64) {
        self.pending_isr = Some((isr, now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn place(isr: &[i32]) -> PartitionPlace {
        PartitionPlace {
            replicas: vec![1, 2, 3],
            leader: 1,
            leader_epoch: 4,
            isr: isr.to_vec(),
            partition_epoch: 7,
        }
    }

    #[test]
    fn the_high_watermark_is_what_every_in_sync_replica_has() {
        let mut s = LeaderState::new(1, &place(&[1, 2, 3]), 0, 0);
        assert!(!s.advance(100), "followers not heard from hold it");
        assert!(!s.on_fetch(2, 80, 100, 1));
        assert!(s.on_fetch(3, 60, 100, 1));
        assert_eq!(s.high_watermark(), 60);
        s.on_fetch(3, 100, 100, 2);
        assert_eq!(s.high_watermark(), 80);
        // A follower outside the ISR does not hold it.
        s.update(&PartitionPlace {
            partition_epoch: 8,
            ..place(&[1, 3])
        });
        s.advance(100);
        assert_eq!(s.high_watermark(), 100);
        // Never lowered, whatever a fetch says.
        s.on_fetch(3, 10, 100, 3);
        assert_eq!(s.high_watermark(), 100);
    }

    #[test]
    fn a_lagging_follower_leaves_the_isr_and_joins_again_once_caught_up() {
        let mut s = LeaderState::new(1, &place(&[1, 2, 3]), 0, 0);
        s.on_fetch(2, 0, 0, 10);
        s.on_fetch(3, 0, 0, 10);
        assert_eq!(s.isr_change(20, 100), None);
        // 2 keeps up with each fetch; 3 stops fetching.
        for t in 1..20 {
            s.on_fetch(2, t * 10, t * 10 + 5, t * 10);
        }
        assert_eq!(s.isr_change(200, 100), Some(vec![1, 2]));
        s.proposed(vec![1, 2], 200);
        assert_eq!(s.isr_change(250, 100), None, "pending");
        // Until committed, 3 still holds the high watermark.
        let hw = s.high_watermark();
        s.on_fetch(2, 300, 300, 260);
        assert_eq!(s.high_watermark(), hw);
        s.update(&PartitionPlace {
            partition_epoch: 8,
            ..place(&[1, 2])
        });
        s.advance(300);
        assert_eq!(s.high_watermark(), 300);
        // 3 returns and reaches the high watermark: it joins.
        // Out of the ISR and silent, 3 does not join again, though it had what the ISR had.
        s.on_fetch(2, 300, 300, 300);
        s.update(&PartitionPlace {
            partition_epoch: 9,
            ..place(&[1, 2])
        });
        assert_eq!(s.isr_change(380, 100), None);
        s.on_fetch(2, 300, 300, 400);
        s.on_fetch(3, 250, 300, 400);
        assert_eq!(s.isr_change(400, 100), None);
        s.on_fetch(3, 300, 300, 410);
        assert_eq!(s.isr_change(410, 100), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_silent_follower_with_all_the_records_stays_out_once_removed() {
        let mut s = LeaderState::new(1, &place(&[1, 2, 3]), 0, 0);
        s.on_fetch(2, 100, 100, 0);
        s.on_fetch(3, 100, 100, 0);
        assert_eq!(s.high_watermark(), 100);
        for t in 1..=15 {
            s.on_fetch(2, 100, 100, t * 10);
        }
        assert_eq!(s.isr_change(150, 100), Some(vec![1, 2]));
        s.update(&PartitionPlace {
            partition_epoch: 8,
            ..place(&[1, 2])
        });
        // 3 has everything up to the high watermark, but has not fetched for 160 ms.
        assert_eq!(s.isr_change(160, 100), None);
        s.on_fetch(3, 100, 100, 170);
        assert_eq!(s.isr_change(170, 100), Some(vec![1, 2, 3]));
    }

    proptest! {
        /// Whatever followers report, the high watermark never passes what any member of the
        /// committed ISR reported nor the leader's end, and never goes down.
        #[test]
        fn the_high_watermark_never_passes_an_in_sync_replica_nor_goes_down(
            fetches in prop::collection::vec((2i32..4, 0i64..1000, 0i64..1000), 1..60)
        ) {
            let mut s = LeaderState::new(1, &place(&[1, 2, 3]), 0, 0);
            let mut last = 0;
            let mut reported = std::collections::BTreeMap::new();
            let mut leader_end = 0;
            for (i, (f, off, grow)) in fetches.into_iter().enumerate() {
                leader_end = leader_end.max(grow);
                let off = off.min(leader_end);
                reported.insert(f, off);
                s.on_fetch(f, off, leader_end, i as i64);
                let hw = s.high_watermark();
                prop_assert!(hw >= last);
                prop_assert!(hw <= leader_end);
                if hw > last {
                    for r in [2, 3] {
                        prop_assert!(reported.get(&r).is_some_and(|end| hw <= *end));
                    }
                }
                last = hw;
            }
        }
    }
}
