//! The controller quorum as configured: `controller_quorum = "0@host:port,1@host:port,..."`
//! (KRaft's `controller.quorum.voters`). Empty means a node alone: its own one-voter quorum.

use crate::error::BrokerError;

/// A voter of the controller quorum: its node id and the address of its controller listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub node_id: i32,
    pub addr: String,
}

/// The voters named in `text`, checked: ids distinct and >= 0, every address HOST:PORT.
pub fn parse(text: &str) -> Result<Vec<Voter>, BrokerError> {
    let bad = |why: String| BrokerError::Config(format!("controller_quorum = {text:?}: {why}"));
    let mut voters: Vec<Voter> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('@')
            .ok_or_else(|| bad(format!("{part:?} is not ID@HOST:PORT")))?;
        let node_id: i32 = id
            .trim()
            .parse()
            .map_err(|_| bad(format!("{id:?} is not a node id")))?;
        if node_id < 0 {
            return Err(bad(format!("node id {node_id} is negative")));
        }
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(bad(format!("{addr:?} is not HOST:PORT")));
        }
        if voters.iter().any(|v| v.node_id == node_id) {
            return Err(bad(format!("node {node_id} is named twice")));
        }
        voters.push(Voter {
            node_id,
            addr: addr.trim().to_string(),
        });
    }
    if voters.is_empty() && !text.trim().is_empty() {
        return Err(bad("no voter named".into()));
    }
    Ok(voters)
}

/// The cluster id every node of a quorum derives alike from its voters, so that nodes started
/// apart agree without a formatting step (KRaft's `kafka-storage format --cluster-id`).
pub fn cluster_id_of(voters: &[Voter]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in voters {
        for b in format!("{}@{};", v.node_id, v.addr).bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("strata-{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorums_parse_and_bad_ones_are_refused_naming_the_fault() {
        let v = parse("0@127.0.0.1:9093, 1@localhost:9094,2@[::1]:9095").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].addr, "localhost:9094");
        assert!(parse("").unwrap().is_empty());
        for (bad, says) in [
            ("0@127.0.0.1", "HOST:PORT"),
            ("x@h:1", "not a node id"),
            ("-1@h:1", "negative"),
            ("0@h:1,0@h:2", "twice"),
            ("0h:1", "ID@HOST:PORT"),
            (",", "no voter"),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert_eq!(
            cluster_id_of(&parse("0@a:1,1@b:2").unwrap()),
            cluster_id_of(&parse("0@a:1, 1@b:2").unwrap())
        );
    }
}
