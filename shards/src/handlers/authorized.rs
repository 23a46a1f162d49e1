//! The authorized-operations bit sets that Metadata, DescribeGroups and DescribeCluster return
//! when a client asks (KIP-430). There is no authorizer yet, so every operation that applies to
//! a resource is allowed, as in Kafka without one. Bit `n` is Kafka's AclOperation code `n`.

/// What Kafka sends when the client did not ask.
pub const NOT_REQUESTED: i32 = i32::MIN;

const READ: i32 = 3;
const WRITE: i32 = 4;
const CREATE: i32 = 5;
const DELETE: i32 = 6;
const ALTER: i32 = 7;
const DESCRIBE: i32 = 8;
const CLUSTER_ACTION: i32 = 9;
const DESCRIBE_CONFIGS: i32 = 10;
const ALTER_CONFIGS: i32 = 11;
const IDEMPOTENT_WRITE: i32 = 12;
const CREATE_TOKENS: i32 = 13;
const DESCRIBE_TOKENS: i32 = 14;

fn bits(ops: &[i32]) -> i32 {
    ops.iter().fold(0, |set, op| set | (1 << op))
}

fn when(asked: bool, ops: &[i32]) -> i32 {
    if asked {
        bits(ops)
    } else {
        NOT_REQUESTED
    }
}

pub fn topic(asked: bool) -> i32 {
    let ops = [
        READ,
        WRITE,
        CREATE,
        DELETE,
        ALTER,
        DESCRIBE,
        DESCRIBE_CONFIGS,
        ALTER_CONFIGS,
    ];
    when(asked, &ops)
}

pub fn cluster(asked: bool) -> i32 {
    let ops = [
        CREATE,
        ALTER,
        DESCRIBE,
        CLUSTER_ACTION,
        DESCRIBE_CONFIGS,
        ALTER_CONFIGS,
        IDEMPOTENT_WRITE,
        CREATE_TOKENS,
        DESCRIBE_TOKENS,
    ];
    when(asked, &ops)
}

pub fn group(asked: bool) -> i32 {
    when(asked, &[READ, DELETE, DESCRIBE])
}
