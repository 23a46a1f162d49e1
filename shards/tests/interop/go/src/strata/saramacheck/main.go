// saramacheck drives Strata with sarama (Debian's golang-github-shopify-sarama-dev, 1.22):
// a 4-partition topic made by ClusterAdmin, 10,000 records from an idempotent producer, read
// by a consumer group of two members exactly once and in partition order, and the committed
// offsets at the end of every partition.
//
//	saramacheck --bootstrap HOST:PORT
//
// Prints `ok: sarama ...` and exits 0, or `FAIL: <what differs>` and exits 1. Built in GOPATH
// mode by scripts/install-clients.sh; driven by shards/tests/clients.rs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

const (
	partitions = 4
	total      = 10000
	batch      = 500
)

func keyOf(seq int) string { return fmt.Sprintf("key-%d", seq) }

func valueOf(seq int) string {
	return fmt.Sprintf("value-%d-%s-end", seq, strings.Repeat("y", seq%89))
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func check(what string, err error) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// The client settings of every part of the check. Version 2.1 lets sarama use the idempotent
// producer. With no Consumer.Offsets.Retention set, as by default, sarama 1.22 commits offsets
// with OffsetCommit v1, which Kafka 4.0 removed (KIP-896) and Strata serves (shards/src/legacy).
func config(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = sarama.V2_1_0_0
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	return c
}

// What the members of the group saw, record by record.
type tally struct {
	mu         sync.Mutex
	nextOffset [partitions]int64
	seen       map[int]string // seq -> member
	received   int
	problem    string
	// member -> generation and partitions of its latest session
	sessions map[string]session
}

type session struct {
	generation int32
	partitions []int32
}

func (t *tally) record(member string, msg *sarama.ConsumerMessage, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.problem != "" {
		return
	}
	p := msg.Partition
	seq := int(msg.Offset)*partitions + int(p)
	switch {
	case msg.Topic != topic:
		t.problem = fmt.Sprintf("%s got a record of topic %q", member, msg.Topic)
	case p < 0 || p >= partitions:
		t.problem = fmt.Sprintf("%s got a record of partition %d", member, p)
	case msg.Offset != t.nextOffset[p]:
		t.problem = fmt.Sprintf("%s: partition %d gave offset %d after %d", member, p, msg.Offset, t.nextOffset[p]-1)
	case string(msg.Key) != keyOf(seq):
		t.problem = fmt.Sprintf("partition %d offset %d: key %q, expected %q", p, msg.Offset, msg.Key, keyOf(seq))
	case string(msg.Value) != valueOf(seq):
		t.problem = fmt.Sprintf("partition %d offset %d: value %q, expected %q", p, msg.Offset, msg.Value, valueOf(seq))
	default:
		t.nextOffset[p] = msg.Offset + 1
		t.seen[seq] = member
		t.received++
	}
}

type handler struct {
	name  string
	topic string
	t     *tally
	// counts records read (for the late member, which must read none)
	onMessage func(*sarama.ConsumerMessage)
	// partition -> the offset its claim started at (the committed offset, if any)
	initial sync.Map
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	if h.t != nil {
		ps := append([]int32(nil), s.Claims()[h.topic]...)
		h.t.mu.Lock()
		h.t.sessions[h.name] = session{s.GenerationID(), ps}
		h.t.mu.Unlock()
	}
	return nil
}

func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	h.initial.Store(c.Partition(), c.InitialOffset())
	for msg := range c.Messages() {
		if h.onMessage != nil {
			h.onMessage(msg)
		} else {
			h.t.record(h.name, msg, h.topic)
		}
		s.MarkMessage(msg, "")
	}
	return nil
}

// A member: Consume in a loop (each call is one generation) until ctx ends.
func runMember(ctx context.Context, wg *sync.WaitGroup, g sarama.ConsumerGroup, topic string, h *handler, errs chan<- string) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
				errs <- fmt.Sprintf("%s: Consume: %v", h.name, err)
				return
			}
		}
	}()
	go func() {
		for err := range g.Errors() {
			select {
			case errs <- fmt.Sprintf("%s: %v", h.name, err):
			default:
			}
		}
	}()
}

func waitFor(d time.Duration, what func() string, probe func() bool, errs <-chan string) {
	deadline := time.Now().Add(d)
	for !probe() {
		select {
		case e := <-errs:
			fail("%s", e)
		default:
		}
		if time.Now().After(deadline) {
			fail("timed out after %v: %s", d, what())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func main() {
	bootstrap := flag.String("bootstrap", "", "HOST:PORT of the broker")
	flag.Parse()
	if *bootstrap == "" {
		fmt.Println("usage: saramacheck --bootstrap HOST:PORT")
		os.Exit(2)
	}
	started := time.Now()
	go func() {
		time.Sleep(300 * time.Second)
		fail("sarama check did not finish in 300 s")
	}()
	brokers := []string{*bootstrap}
	stamp := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	topic := "sarama-rt-" + stamp
	group := "sarama-rt-g-" + stamp

	admin, err := sarama.NewClusterAdmin(brokers, config("strata-sarama-admin"))
	check("NewClusterAdmin", err)
	defer admin.Close()
	check("CreateTopic", admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false))
	meta, err := admin.DescribeTopics([]string{topic})
	check("DescribeTopics", err)
	if len(meta) != 1 || meta[0].Err != sarama.ErrNoError || len(meta[0].Partitions) != partitions {
		fail("DescribeTopics of the new topic: %+v", meta)
	}

	// Two members join before any record exists: a rebalance after records were read could
	// legitimately deliver some twice.
	t := &tally{seen: map[int]string{}, sessions: map[string]session{}}
	errs := make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var groups []sarama.ConsumerGroup
	for _, name := range []string{"member-a", "member-b"} {
		c := config("strata-sarama-" + name)
		c.Consumer.Return.Errors = true
		c.Consumer.Offsets.Initial = sarama.OffsetOldest
		c.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
		c.Consumer.MaxWaitTime = 200 * time.Millisecond
		c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
		g, err := sarama.NewConsumerGroup(brokers, group, c)
		check("NewConsumerGroup "+name, err)
		groups = append(groups, g)
		runMember(ctx, &wg, g, topic, &handler{name: name, topic: topic, t: t}, errs)
	}
	waitFor(60*time.Second, func() string {
		t.mu.Lock()
		defer t.mu.Unlock()
		return fmt.Sprintf("the two members to share one generation and split 4 partitions: %+v", t.sessions)
	}, func() bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		a, okA := t.sessions["member-a"]
		b, okB := t.sessions["member-b"]
		if !okA || !okB || a.generation != b.generation || len(a.partitions) != 2 || len(b.partitions) != 2 {
			return false
		}
		all := append(append([]int32(nil), a.partitions...), b.partitions...)
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		return fmt.Sprint(all) == "[0 1 2 3]"
	}, errs)

	// The idempotent producer: one request in flight, acks from all replicas.
	pc := config("strata-sarama-producer")
	pc.Producer.Idempotent = true
	pc.Net.MaxOpenRequests = 1
	pc.Producer.RequiredAcks = sarama.WaitForAll
	pc.Producer.Retry.Max = 5
	pc.Producer.Return.Successes = true
	pc.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer(brokers, pc)
	check("NewSyncProducer (idempotent)", err)
	for start := 0; start < total; start += batch {
		var msgs []*sarama.ProducerMessage
		for seq := start; seq < start+batch; seq++ {
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic:     topic,
				Partition: int32(seq % partitions),
				Key:       sarama.StringEncoder(keyOf(seq)),
				Value:     sarama.StringEncoder(valueOf(seq)),
			})
		}
		check(fmt.Sprintf("SendMessages %d..%d", start, start+batch-1), producer.SendMessages(msgs))
		for i, m := range msgs {
			seq := start + i
			if m.Partition != int32(seq%partitions) || m.Offset != int64(seq/partitions) {
				fail("record %d was written at partition %d offset %d, expected %d/%d", seq, m.Partition, m.Offset, seq%partitions, seq/partitions)
			}
		}
	}

	waitFor(120*time.Second, func() string {
		t.mu.Lock()
		defer t.mu.Unlock()
		return fmt.Sprintf("all %d records; got %d, next offsets %v", total, t.received, t.nextOffset)
	}, func() bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.problem != "" || t.received >= total
	}, errs)
	// Commits run every 200 ms and once more as each session ends: wait for them, then leave.
	offsetsOf := func() map[int32]int64 {
		r, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2, 3}})
		check("ListConsumerGroupOffsets", err)
		got := map[int32]int64{}
		for p, b := range r.Blocks[topic] {
			if b.Err != sarama.ErrNoError {
				fail("ListConsumerGroupOffsets partition %d: %v", p, b.Err)
			}
			got[p] = b.Offset
		}
		return got
	}
	var committed map[int32]int64
	waitFor(30*time.Second, func() string {
		return fmt.Sprintf("committed offsets to reach %d per partition: %v", total/partitions, committed)
	}, func() bool {
		committed = offsetsOf()
		return fmt.Sprint(committed) == fmt.Sprint(map[int32]int64{0: 2500, 1: 2500, 2: 2500, 3: 2500})
	}, errs)
	cancel()
	for _, g := range groups {
		check("close a member", g.Close())
	}
	wg.Wait()
	t.mu.Lock()
	if t.problem != "" {
		fail("%s", t.problem)
	}
	if t.received != total || len(t.seen) != total {
		fail("received %d records (%d distinct), expected %d", t.received, len(t.seen), total)
	}
	perMember := map[string]int{}
	for _, m := range t.seen {
		perMember[m]++
	}
	if perMember["member-a"] != total/2 || perMember["member-b"] != total/2 {
		fail("records read per member: %v, expected %d each", perMember, total/2)
	}
	t.mu.Unlock()

	// The group's committed offsets sum to the records written.
	sum := int64(0)
	for _, o := range offsetsOf() {
		sum += o
	}
	if sum != total {
		fail("committed offsets sum to %d, expected %d", sum, total)
	}

	// A fresh member of the group starts at the committed offsets and reads nothing more: of
	// one record more per partition (seqs 10000..10003, at offset 2500), it reads exactly those.
	lc := config("strata-sarama-late")
	lc.Consumer.Return.Errors = true
	lc.Consumer.Offsets.Initial = sarama.OffsetOldest
	lc.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	lc.Consumer.MaxWaitTime = 200 * time.Millisecond
	late, err := sarama.NewConsumerGroup(brokers, group, lc)
	check("NewConsumerGroup late", err)
	var lateMu sync.Mutex
	var lateRecords []string
	lh := &handler{name: "late", topic: topic, onMessage: func(m *sarama.ConsumerMessage) {
		lateMu.Lock()
		lateRecords = append(lateRecords, fmt.Sprintf("%d/%d/%s/%t", m.Partition, m.Offset, m.Key, string(m.Value) == valueOf(int(m.Offset)*partitions+int(m.Partition))))
		lateMu.Unlock()
	}}
	lctx, lcancel := context.WithCancel(context.Background())
	var lwg sync.WaitGroup
	runMember(lctx, &lwg, late, topic, lh, errs)
	starts := func() string {
		var s []string
		for p := int32(0); p < partitions; p++ {
			v, _ := lh.initial.Load(p)
			s = append(s, fmt.Sprintf("%d:%v", p, v))
		}
		return strings.Join(s, " ")
	}
	waitFor(60*time.Second, func() string { return "the late member's claims to start at 2500: " + starts() },
		func() bool { return starts() == "0:2500 1:2500 2:2500 3:2500" }, errs)
	var more []*sarama.ProducerMessage
	for seq := total; seq < total+partitions; seq++ {
		more = append(more, &sarama.ProducerMessage{Topic: topic, Partition: int32(seq % partitions),
			Key: sarama.StringEncoder(keyOf(seq)), Value: sarama.StringEncoder(valueOf(seq))})
	}
	check("SendMessages of one record more per partition", producer.SendMessages(more))
	check("close the producer", producer.Close())
	want := "[0/2500/key-10000/true 1/2500/key-10001/true 2/2500/key-10002/true 3/2500/key-10003/true]"
	got := func() string {
		lateMu.Lock()
		defer lateMu.Unlock()
		r := append([]string(nil), lateRecords...)
		sort.Strings(r)
		return fmt.Sprint(r)
	}
	waitFor(30*time.Second, func() string { return "the late member to read the 4 new records; it read " + got() },
		func() bool { return len(got()) >= len(want) }, errs)
	// Anything else it might read arrives within a few fetches.
	time.Sleep(1 * time.Second)
	if got() != want {
		fail("a fresh member of the group read %s, expected only %s", got(), want)
	}
	var final map[int32]int64
	waitFor(30*time.Second, func() string { return fmt.Sprintf("the late member's commits: %v", final) }, func() bool {
		final = offsetsOf()
		return fmt.Sprint(final) == fmt.Sprint(map[int32]int64{0: 2501, 1: 2501, 2: 2501, 3: 2501})
	}, errs)
	lcancel()
	check("close the late member", late.Close())
	lwg.Wait()
	check("DeleteTopic", admin.DeleteTopic(topic))
	fmt.Printf("ok: sarama %d records through a 2-member group (%.1f s)\n", total, time.Since(started).Seconds())
}
