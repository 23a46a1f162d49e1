#!/usr/bin/env node
// Client-compatibility checks of Strata with kafkajs, a client nobody on the team wrote.
//
//   node kafkajs_check.js --bootstrap HOST:PORT CASE
//
// Prints `ok: CASE` and exits 0, or prints `FAIL: <what differs>` and exits 1.
// Cases: roundtrip, pipelined_commits, admin, topic_rules, commit_during_rebalance. Driven by
// shards/tests/clients.rs.
'use strict'

const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs')

class CheckFailed extends Error {}

function fail(msg) {
  throw new CheckFailed(msg)
}

function expectEqual(what, got, want) {
  const g = JSON.stringify(got)
  const w = JSON.stringify(want)
  if (g !== w) fail(`${what}: got ${g}, expected ${w}`)
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// Polls `probe` until it returns a truthy value; fails with `what()` after `ms`.
async function waitFor(ms, what, probe) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v) return v
    if (Date.now() > deadline) fail(`timed out after ${ms} ms: ${what()}`)
    await sleep(100)
  }
}

let counter = 0
function fresh(prefix) {
  counter += 1
  return `${prefix}-${process.pid}-${Date.now()}-${counter}`
}

function client(bootstrap, clientId) {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5 },
  })
}

// The record with sequence number `seq`: its partition, key and value, all derived from `seq`.
const PARTITIONS = 4
const keyOf = seq => `key-${seq}`
const valueOf = seq => `value-${seq}-${'x'.repeat(seq % 97)}-end`

// Two consumers of one group read 20,000 records written by an idempotent producer, each
// exactly once and in partition order; their commits leave the group at the end of the log.
async function roundtrip(bootstrap) {
  const TOTAL = 20000
  const kafka = client(bootstrap, 'strata-js-roundtrip')
  const admin = kafka.admin()
  await admin.connect()
  const topic = fresh('js-rt')
  const groupId = fresh('js-rt-g')
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] })
  expectEqual('createTopics result', created, true)

  // (partition, offset) -> seq seen; each record must come exactly once, in offset order.
  const seen = new Map()
  const nextOffset = new Array(PARTITIONS).fill(0)
  let received = 0
  let problem = null
  const joins = new Map() // consumer name -> { generationId, partitions }

  const makeConsumer = name => {
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: 30000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 200,
    })
    consumer.on(consumer.events.GROUP_JOIN, e => {
      const assigned = e.payload.memberAssignment[topic] || []
      joins.set(name, { generationId: e.payload.generationId, partitions: assigned })
    })
    return consumer
  }

  const onMessage = name => async ({ topic: t, partition, message }) => {
    if (problem) return
    const offset = Number(message.offset)
    const seq = offset * PARTITIONS + partition
    const key = message.key && message.key.toString()
    const value = message.value && message.value.toString()
    if (t !== topic) {
      problem = `${name} got a record of topic ${t}`
    } else if (offset !== nextOffset[partition]) {
      problem =
        `${name}: partition ${partition} gave offset ${offset} after ` +
        `${nextOffset[partition] - 1} (a record ${offset < nextOffset[partition] ? 'again' : 'skipped'})`
    } else if (key !== keyOf(seq)) {
      problem = `partition ${partition} offset ${offset}: key ${JSON.stringify(key)}, expected ${keyOf(seq)}`
    } else if (value !== valueOf(seq)) {
      problem = `partition ${partition} offset ${offset}: value ${JSON.stringify(value)}, expected ${JSON.stringify(valueOf(seq))}`
    } else {
      nextOffset[partition] = offset + 1
      seen.set(seq, name)
      received += 1
    }
  }

  const consumers = [makeConsumer('consumer-a'), makeConsumer('consumer-b')]
  try {
    for (const [i, c] of consumers.entries()) {
      await c.connect()
      await c.subscribe({ topics: [topic], fromBeginning: true })
      await c.run({
        autoCommit: true,
        autoCommitInterval: 500,
        eachMessage: onMessage(i === 0 ? 'consumer-a' : 'consumer-b'),
      })
    }
    // Produce only once both members share one generation and split the 4 partitions: a
    // rebalance after records were read could legitimately deliver some twice.
    await waitFor(
      60000,
      () => `the two consumers to share one generation; joins: ${JSON.stringify([...joins])}`,
      async () => {
        const a = joins.get('consumer-a')
        const b = joins.get('consumer-b')
        if (!a || !b || a.generationId !== b.generationId) return false
        const all = [...a.partitions, ...b.partitions].sort()
        return (
          JSON.stringify(all) === JSON.stringify([0, 1, 2, 3]) &&
          a.partitions.length === 2 &&
          b.partitions.length === 2
        )
      }
    )

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    // The producer really is idempotent: it asked for a producer id before producing.
    const producerRequests = []
    producer.on(producer.events.REQUEST, e => producerRequests.push(e.payload.apiName))
    await producer.connect()
    const BATCH = 1000
    for (let start = 0; start < TOTAL; start += BATCH) {
      const messages = []
      for (let seq = start; seq < start + BATCH; seq++) {
        messages.push({ partition: seq % PARTITIONS, key: keyOf(seq), value: valueOf(seq) })
      }
      const results = await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 })
      // Each partition got BATCH / PARTITIONS records, at the offsets their seqs imply.
      const bases = results
        .map(r => [r.partition, r.errorCode, Number(r.baseOffset)])
        .sort((x, y) => x[0] - y[0])
      const want = [0, 1, 2, 3].map(p => [p, 0, start / PARTITIONS])
      expectEqual(`sendBatch of records ${start}..${start + BATCH - 1}: [partition, error, baseOffset]`, bases, want)
    }
    await producer.disconnect()
    const firstProduce = producerRequests.indexOf('Produce')
    const initPid = producerRequests.indexOf('InitProducerId')
    if (initPid < 0 || initPid > firstProduce) {
      fail(`the idempotent producer sent no InitProducerId before Produce: ${JSON.stringify(producerRequests.slice(0, 10))}`)
    }

    await waitFor(
      120000,
      () => `all ${TOTAL} records; got ${received}, next offsets ${JSON.stringify(nextOffset)}`,
      async () => problem || received >= TOTAL
    )
    if (problem) fail(problem)
    // Both members read: the group really split the work.
    const byMember = {}
    for (const name of seen.values()) byMember[name] = (byMember[name] || 0) + 1
    expectEqual('records read per member', Object.entries(byMember).sort(), [
      ['consumer-a', TOTAL / 2],
      ['consumer-b', TOTAL / 2],
    ])

    // The automatic commits reach the end of every partition.
    const committed = async () => {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
      return offsets[0].partitions
        .map(p => [p.partition, Number(p.offset)])
        .sort((x, y) => x[0] - y[0])
    }
    let last = null
    await waitFor(
      30000,
      () => `committed offsets to reach 5000 each; committed ${JSON.stringify(last)}`,
      async () => {
        last = await committed()
        return JSON.stringify(last) === JSON.stringify([[0, 5000], [1, 5000], [2, 5000], [3, 5000]])
      }
    )
  } finally {
    for (const c of consumers) await c.disconnect()
  }
  if (problem) fail(problem)
  // A few records more could arrive after the count was reached (a duplicate): none may.
  expectEqual('records received', received, TOTAL)
  expectEqual('distinct records received', seen.size, TOTAL)

  // A fresh member of the group starts at the committed offsets and so reads nothing more.
  const late = kafka.consumer({ groupId, maxWaitTimeInMs: 200 })
  let lateRecords = 0
  let lateFetches = 0
  let lateJoined = null
  late.on(late.events.GROUP_JOIN, e => {
    lateJoined = e.payload.memberAssignment[topic] || []
  })
  late.on(late.events.FETCH, () => {
    if (lateJoined) lateFetches += 1
  })
  try {
    await late.connect()
    await late.subscribe({ topics: [topic], fromBeginning: true })
    await late.run({ autoCommit: false, eachMessage: async () => { lateRecords += 1 } })
    await waitFor(60000, () => `the fresh consumer to join and fetch 5 times (fetched ${lateFetches})`,
      async () => lateFetches >= 5)
    expectEqual('partitions of the fresh consumer', [...lateJoined].sort(), [0, 1, 2, 3])
  } finally {
    await late.disconnect()
  }
  expectEqual('records read by a fresh member of the group', lateRecords, 0)
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
  const sum = offsets[0].partitions.reduce((s, p) => s + Number(p.offset), 0)
  expectEqual('sum of committed offsets', sum, TOTAL)
  await admin.disconnect()
}

// 50 OffsetCommit requests for one partition, sent without waiting for each other on one
// connection: the committed offset is the last one sent (50), never an earlier one applied late.
async function pipelinedCommits(bootstrap) {
  const kafka = client(bootstrap, 'strata-js-pipelined')
  const admin = kafka.admin()
  await admin.connect()
  const topic = fresh('js-pc')
  expectEqual('createTopics result', await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] }), true)
  // Records up to offset 60, so that every committed offset is a real position.
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({
    topic,
    messages: Array.from({ length: 60 }, (_, i) => ({ value: `r${i}` })),
  })
  await producer.disconnect()

  const maxInFlight = []
  for (let round = 0; round < 3; round++) {
    const groupId = fresh('js-pc-g')
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 })
    let joined = false
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true
    })
    // The intervals during which each OffsetCommit was in flight.
    const commits = []
    consumer.on(consumer.events.REQUEST, e => {
      if (e.payload.apiName === 'OffsetCommit') {
        commits.push([e.payload.sentAt, e.payload.sentAt + e.payload.duration])
      }
    })
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({ autoCommit: false, eachMessage: async () => {} })
      consumer.pause([{ topic }])
      await waitFor(30000, () => 'the consumer to join its group', async () => joined)
      const before = commits.length
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          consumer.commitOffsets([{ topic, partition: 0, offset: String(i + 1) }])
        )
      )
      const mine = commits.slice(before)
      expectEqual(`round ${round}: OffsetCommit requests sent`, mine.length, 50)
      // At least two were in flight at once, or nothing was pipelined.
      const overlap = Math.max(
        ...mine.map(([start]) => mine.filter(([s, e]) => s <= start && start < e).length)
      )
      if (overlap < 2) fail(`round ${round}: the 50 commits were not pipelined (max ${overlap} in flight)`)
      maxInFlight.push(overlap)
    } finally {
      await consumer.disconnect()
    }
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
    expectEqual(
      `round ${round}: committed offsets`,
      offsets.map(t => [t.topic, t.partitions.map(p => [p.partition, p.offset])]),
      [[topic, [[0, '50']]]]
    )
  }
  await admin.disconnect()
  return `most OffsetCommits in flight at once per round: ${maxInFlight.join(', ')}`
}

async function admin(bootstrap) {
  const kafka = client(bootstrap, 'strata-js-admin')
  const admin = kafka.admin()
  await admin.connect()
  try {
    // A manual replica assignment on the only broker, node 0.
    const assigned = fresh('js-ra')
    expectEqual(
      'createTopics with replicaAssignment',
      await admin.createTopics({
        topics: [
          {
            topic: assigned,
            replicaAssignment: [
              { partition: 0, replicas: [0] },
              { partition: 1, replicas: [0] },
            ],
          },
        ],
      }),
      true
    )
    const meta = await admin.fetchTopicMetadata({ topics: [assigned] })
    expectEqual(
      'metadata of the assigned topic: [partition, leader, replicas, isr]',
      meta.topics[0].partitions
        .map(p => [p.partitionId, p.leader, p.replicas, p.isr])
        .sort((x, y) => x[0] - y[0]),
      [
        [0, 0, [0], [0]],
        [1, 0, [0], [0]],
      ]
    )

    // The cluster: one broker, node 0, at the address the client dialled, and a cluster id.
    const cluster = await admin.describeCluster()
    const [host, port] = bootstrap.split(':')
    expectEqual(
      'describeCluster brokers',
      cluster.brokers.map(b => [b.nodeId, b.host, b.port]),
      [[0, host, Number(port)]]
    )
    expectEqual('describeCluster controller', cluster.controller, 0)
    if (typeof cluster.clusterId !== 'string' || cluster.clusterId.length === 0) {
      fail(`describeCluster clusterId: ${JSON.stringify(cluster.clusterId)}`)
    }

    // A config set at creation is described, altered and described again.
    const configured = fresh('js-cfg')
    await admin.createTopics({
      topics: [
        {
          topic: configured,
          numPartitions: 1,
          configEntries: [{ name: 'retention.ms', value: '123456789' }],
        },
      ],
    })
    const retention = async () => {
      const d = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: configured, configNames: ['retention.ms'] }],
      })
      expectEqual('describeConfigs resources', d.resources.map(r => [r.errorCode, r.resourceName]), [[0, configured]])
      return d.resources[0].configEntries.map(e => [e.configName, e.configValue, e.isDefault])
    }
    expectEqual('retention.ms set at creation', await retention(), [['retention.ms', '123456789', false]])
    const altered = await admin.alterConfigs({
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: configured,
          configEntries: [{ name: 'retention.ms', value: '987654321' }],
        },
      ],
    })
    expectEqual('alterConfigs result', altered.resources.map(r => [r.errorCode, r.resourceName]), [[0, configured]])
    expectEqual('retention.ms after alterConfigs', await retention(), [['retention.ms', '987654321', false]])

    // ListOffsets by a timestamp inside one batch of four records.
    const timed = fresh('js-ts')
    await admin.createTopics({ topics: [{ topic: timed, numPartitions: 1 }] })
    const producer = kafka.producer()
    await producer.connect()
    const base = Date.now() - 60000
    const sent = await producer.send({
      topic: timed,
      messages: [0, 10, 20, 30].map((d, i) => ({ partition: 0, value: `t${i}`, timestamp: String(base + d) })),
    })
    await producer.disconnect()
    expectEqual('send of the timed batch: [partition, error, baseOffset]',
      sent.map(r => [r.partition, r.errorCode, r.baseOffset]), [[0, 0, '0']])
    for (const [ts, want] of [[base, '0'], [base + 10, '1'], [base + 11, '2'], [base + 30, '3']]) {
      expectEqual(
        `fetchTopicOffsetsByTimestamp(base + ${ts - base})`,
        await admin.fetchTopicOffsetsByTimestamp(timed, ts),
        [{ partition: 0, offset: want }]
      )
    }

    // DeleteRecords moves the log start offset (the low watermark) and keeps the high one.
    expectEqual('fetchTopicOffsets before deleteTopicRecords', await admin.fetchTopicOffsets(timed),
      [{ partition: 0, offset: '4', high: '4', low: '0' }])
    await admin.deleteTopicRecords({ topic: timed, partitions: [{ partition: 0, offset: '2' }] })
    expectEqual('fetchTopicOffsets after deleteTopicRecords', await admin.fetchTopicOffsets(timed),
      [{ partition: 0, offset: '4', high: '4', low: '2' }])

    // DescribeGroups names each member's client id; DeleteGroups removes an empty group.
    const groupId = fresh('js-dg')
    const memberKafka = client(bootstrap, 'strata-js-member')
    const consumer = memberKafka.consumer({ groupId, maxWaitTimeInMs: 200 })
    let joined = false
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true
    })
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [timed], fromBeginning: true })
      await consumer.run({ autoCommit: false, eachMessage: async () => {} })
      await waitFor(30000, () => 'the consumer to join its group', async () => joined)
      await consumer.commitOffsets([{ topic: timed, partition: 0, offset: '3' }])
      const { groups } = await admin.describeGroups([groupId])
      expectEqual(
        'describeGroups: [group, error, state, protocolType, protocol, members [clientId, clientHost]]',
        groups.map(g => [g.groupId, g.errorCode, g.state, g.protocolType, g.protocol, g.members.map(m => [m.clientId, m.clientHost])]),
        [[groupId, 0, 'Stable', 'consumer', 'RoundRobinAssigner', [['strata-js-member', '/127.0.0.1']]]]
      )
    } finally {
      await consumer.disconnect()
    }
    const empty = await admin.describeGroups([groupId])
    expectEqual('describeGroups after the member left: [state, members]',
      empty.groups.map(g => [g.state, g.members.length]), [['Empty', 0]])
    expectEqual('committed offsets before deleteGroups',
      (await admin.fetchOffsets({ groupId, topics: [timed] }))[0].partitions.map(p => p.offset), ['3'])
    const deleted = await admin.deleteGroups([groupId])
    expectEqual('deleteGroups result', deleted.map(r => [r.groupId, r.errorCode]), [[groupId, 0]])
    const listed = (await admin.listGroups()).groups.map(g => g.groupId)
    if (listed.includes(groupId)) fail(`listGroups still lists the deleted group: ${JSON.stringify(listed)}`)
    expectEqual('committed offsets after deleteGroups',
      (await admin.fetchOffsets({ groupId, topics: [timed] }))[0].partitions.map(p => p.offset), ['-1'])
    // Deleting it again: Kafka answers GROUP_ID_NOT_FOUND, which kafkajs throws.
    let again = null
    try {
      again = await admin.deleteGroups([groupId])
    } catch (e) {
      again = (e.groups || []).map(g => [g.groupId, g.error && g.error.type])
    }
    expectEqual('deleteGroups of a deleted group', again, [[groupId, 'GROUP_ID_NOT_FOUND']])
  } finally {
    await admin.disconnect()
  }
}

// Topic configs that change what is stored, and a commit to an unknown topic: compacted topics
// refuse records without a key; LogAppendTime has the broker stamp batches (and say so in the
// produce answer); setOffsets on a topic that does not exist is refused.
async function topicRules(bootstrap) {
  const kafka = client(bootstrap, 'strata-js-rules')
  const admin = kafka.admin()
  await admin.connect()
  const compacted = fresh('js-compact')
  const stamped = fresh('js-stamped')
  expectEqual('createTopics', await admin.createTopics({
    topics: [
      { topic: compacted, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      { topic: stamped, numPartitions: 1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] },
    ],
  }), true)
  const producer = kafka.producer({ retry: { retries: 0 } })
  await producer.connect()
  await producer.send({ topic: compacted, messages: [{ key: 'k', value: 'keyed' }] })
  let refused = null
  try {
    await producer.send({ topic: compacted, messages: [{ value: 'no key' }] })
  } catch (e) {
    refused = e
  }
  const type = refused && (refused.type || (refused.cause && refused.cause.type))
  if (type !== 'INVALID_RECORD') fail(`a record without a key on a compacted topic: ${refused && refused.message} (${type})`)

  const before = Date.now()
  const sent = await producer.send({ topic: stamped, messages: [{ value: 'old', timestamp: '1000' }] })
  const appendTime = Number(sent[0].logAppendTime)
  if (!(appendTime >= before)) fail(`produce answer's logAppendTime: ${JSON.stringify(sent)}`)
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: fresh('js-rules-g') })
  await consumer.connect()
  await consumer.subscribe({ topic: stamped, fromBeginning: true })
  let got = null
  await consumer.run({ eachMessage: async ({ message }) => { got = message } })
  await waitFor(30000, () => 'the stamped record was never read', async () => got)
  await consumer.disconnect()
  if (Number(got.timestamp) !== appendTime) fail(`stored timestamp ${got.timestamp}, append time ${appendTime}`)

  let unknown = null
  try {
    await admin.setOffsets({ groupId: fresh('js-rules-u'), topic: 'js-no-such-topic', partitions: [{ partition: 0, offset: '5' }] })
  } catch (e) {
    unknown = e
  }
  const utype = unknown && (unknown.type || (unknown.cause && unknown.cause.type))
  await admin.disconnect()
  if (utype !== 'UNKNOWN_TOPIC_OR_PARTITION') fail(`setOffsets on an unknown topic: ${unknown && unknown.message} (${utype})`)
}

// A member that is still processing when another joins commits what it processed (kafkajs
// commits after each batch) while the group prepares the rebalance; Kafka accepts that commit.
// Refused, the records would be read again by whoever owns the partition after the rebalance.
async function commitDuringRebalance(bootstrap) {
  const kafka = client(bootstrap, 'strata-js-rebalance-commit')
  const admin = kafka.admin()
  await admin.connect()
  const topic = fresh('js-rc')
  const groupId = fresh('js-rc-g')
  const COUNT = 200
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: COUNT }, (_, i) => ({ value: `r${i}` })) })
  await producer.disconnect()

  const settings = { groupId, sessionTimeout: 30000, rebalanceTimeout: 30000, heartbeatInterval: 300, maxWaitTimeInMs: 200 }
  const first = kafka.consumer(settings)
  const second = kafka.consumer(settings)
  let release
  const released = new Promise(resolve => {
    release = resolve
  })
  let blocked = false
  let read = 0
  const states = []
  try {
    await first.connect()
    await first.subscribe({ topics: [topic], fromBeginning: true })
    await first.run({
      autoCommit: true,
      autoCommitInterval: 600000,
      eachMessage: async () => {
        blocked = true
        await released
        read += 1
      },
    })
    await waitFor(30000, () => 'the first member to hold its first batch', async () => blocked)
    // The second member's join puts the group into PreparingRebalance; the first one is still
    // in its batch, so its commit after the batch comes in that state.
    await second.connect()
    await second.subscribe({ topics: [topic], fromBeginning: true })
    // Not awaited: run() returns when the join is done, which waits for the first member.
    const secondRunning = second.run({ autoCommit: true, eachMessage: async () => { read += 1 } })
    await waitFor(30000, () => `the group to prepare a rebalance (states ${states})`, async () => {
      const { groups } = await admin.describeGroups([groupId])
      states.push(groups[0].state)
      return groups[0].state === 'PreparingRebalance'
    })
    const before = await admin.fetchOffsets({ groupId, topics: [topic] })
    expectEqual('offset committed before the rebalance', before[0].partitions[0].offset, '-1')
    // The first member's next heartbeat hears of the rebalance; it commits what it has read
    // (kafkajs commits on REBALANCE_IN_PROGRESS), then rejoins.
    release()
    await secondRunning
    const committed = await waitFor(30000, () => 'the commit made during the rebalance', async () => {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
      const o = offsets[0].partitions[0].offset
      return o !== '-1' && Number(o)
    })
    if (!(committed >= 1 && committed <= COUNT)) fail(`committed offset ${committed}`)
    // Whoever owns the partition after the rebalance starts at that commit: nothing is read
    // twice, and the group ends at the end of the log.
    await waitFor(30000, () => `${COUNT} records read (read ${read})`, async () => read >= COUNT)
    await waitFor(30000, () => 'the final commit', async () => {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
      return offsets[0].partitions[0].offset === String(COUNT)
    })
    expectEqual('records read by both members', read, COUNT)
    return `first commit at ${committed}, made while the group prepared its rebalance`
  } finally {
    release()
    await Promise.all([first.disconnect(), second.disconnect()])
    await admin.disconnect()
  }
}

const CASES = {
  roundtrip,
  pipelined_commits: pipelinedCommits,
  admin,
  topic_rules: topicRules,
  commit_during_rebalance: commitDuringRebalance,
}

async function main() {
  const args = process.argv.slice(2)
  const at = args.indexOf('--bootstrap')
  if (at < 0 || at + 1 >= args.length) {
    console.log(`usage: node kafkajs_check.js --bootstrap HOST:PORT (${Object.keys(CASES).join('|')})`)
    process.exit(2)
  }
  const bootstrap = args[at + 1]
  const rest = args.filter((_, i) => i !== at && i !== at + 1)
  if (rest.length !== 1 || !CASES[rest[0]]) {
    console.log(`FAIL: unknown case ${JSON.stringify(rest)}; cases: ${Object.keys(CASES).join(', ')}`)
    process.exit(2)
  }
  const name = rest[0]
  const started = Date.now()
  // A hung client must not hang the test: the whole case has five minutes.
  const timer = setTimeout(() => {
    console.log(`FAIL: ${name} did not finish in 300 s`)
    process.exit(1)
  }, 300000)
  let note
  try {
    note = await CASES[name](bootstrap)
  } catch (e) {
    if (e instanceof CheckFailed) {
      console.log(`FAIL: ${e.message}`)
    } else {
      console.log(`FAIL: ${name} threw ${e && e.stack ? e.stack : e}`)
      if (e && e.errors) console.log(`  errors: ${JSON.stringify(e.errors)}`)
      if (e && e.groups) console.log(`  groups: ${JSON.stringify(e.groups)}`)
    }
    process.exit(1)
  }
  clearTimeout(timer)
  console.log(`ok: ${name} (${((Date.now() - started) / 1000).toFixed(1)} s${note ? `; ${note}` : ''})`)
  process.exit(0)
}

main()
