// kafkagocheck drives Strata with segmentio/kafka-go (Debian's
// golang-github-segmentio-kafka-go-dev, 0.2.1): a 4-partition topic made by CreateTopics,
// 10,000 records written by a Writer, read by a consumer group of two Readers exactly once and
// in partition order with synchronous commits, and a fresh Reader of the group that starts at
// the end of every partition.
//
//	kafkagocheck --bootstrap HOST:PORT
//
// Prints `ok: kafka-go ...` and exits 0, or `FAIL: <what differs>` and exits 1. Built in
// GOPATH mode by scripts/install-clients.sh; driven by shards/tests/clients.rs.
//
// kafka-go 0.2.1 speaks old request versions and does not ask ApiVersions: CreateTopics v0,
// Produce v2 (message format v1), Fetch v2, ListOffsets v1, Metadata v1, JoinGroup v1,
// SyncGroup v0, Heartbeat v0, OffsetCommit v2, OffsetFetch v1, LeaveGroup v0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

const (
	partitions = 4
	total      = 10000
	batch      = 500
)

func keyOf(seq int) string { return fmt.Sprintf("key-%d", seq) }

func valueOf(seq int) string {
	return fmt.Sprintf("value-%d-%s-end", seq, strings.Repeat("z", seq%83))
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func check(what string, err error) {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		fail("%s: %v (the broker closed the connection: its log says why)", what, err)
	}
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// kafka-go 0.2.1 tells a Reader's group membership only in its log: this writer reads the
// generation from "joinGroup succeeded" and the partitions and their starting (committed)
// offsets from "subscribed to partitions: map[p:offset ...]".
type membership struct {
	mu         sync.Mutex
	generation int
	subscribed map[int]int64
	subGen     int
	lines      []string
}

var (
	joinedRe     = regexp.MustCompile(`joinGroup succeeded .*generationID=(\d+)`)
	subscribedRe = regexp.MustCompile(`subscribed to partitions: map\[([^\]]*)\]`)
	pairRe       = regexp.MustCompile(`(\d+):(-?\d+)`)
)

func (m *membership) Write(p []byte) (int, error) {
	line := string(p)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.lines) < 200 {
		m.lines = append(m.lines, strings.TrimSpace(line))
	}
	if g := joinedRe.FindStringSubmatch(line); g != nil {
		m.generation, _ = strconv.Atoi(g[1])
	}
	if s := subscribedRe.FindStringSubmatch(line); s != nil {
		sub := map[int]int64{}
		for _, pair := range pairRe.FindAllStringSubmatch(s[1], -1) {
			p, _ := strconv.Atoi(pair[1])
			o, _ := strconv.ParseInt(pair[2], 10, 64)
			sub[p] = o
		}
		m.subscribed = sub
		m.subGen = m.generation
	}
	return len(p), nil
}

func (m *membership) state() (int, map[int]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := map[int]int64{}
	for p, o := range m.subscribed {
		cp[p] = o
	}
	return m.subGen, cp
}

func (m *membership) log() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.lines, " | ")
}

func reader(bootstrap, group, topic string, m *membership) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{bootstrap},
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           200 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    30 * time.Second,
		RebalanceTimeout:  30 * time.Second,
		CommitInterval:    0, // synchronous commits
		Logger:            log.New(m, "", 0),
		ErrorLogger:       log.New(m, "error: ", 0),
	})
}

type tally struct {
	mu         sync.Mutex
	nextOffset [partitions]int64
	seen       map[int]string
	received   int
	problem    string
}

func (t *tally) record(member string, msg kafka.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.problem != "" {
		return
	}
	p := msg.Partition
	seq := int(msg.Offset)*partitions + p
	switch {
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

func waitFor(d time.Duration, what func() string, probe func() bool) {
	deadline := time.Now().Add(d)
	for !probe() {
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
		fmt.Println("usage: kafkagocheck --bootstrap HOST:PORT")
		os.Exit(2)
	}
	started := time.Now()
	go func() {
		time.Sleep(300 * time.Second)
		fail("kafka-go check did not finish in 300 s")
	}()
	stamp := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	topic := "kafkago-rt-" + stamp
	group := "kafkago-rt-g-" + stamp

	conn, err := kafka.Dial("tcp", *bootstrap)
	check("Dial", err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	check("CreateTopics (v0) of a 4-partition topic", conn.CreateTopics(kafka.TopicConfig{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
	}))
	parts, err := conn.ReadPartitions(topic)
	check("ReadPartitions (Metadata v1)", err)
	var ids []int
	for _, p := range parts {
		if p.Topic != topic || p.Leader.ID != 0 {
			fail("ReadPartitions: %+v", parts)
		}
		ids = append(ids, p.ID)
	}
	sort.Ints(ids)
	if fmt.Sprint(ids) != "[0 1 2 3]" {
		fail("partitions of the new topic: %v, expected [0 1 2 3]", ids)
	}

	// Two members join before any record exists: a rebalance after records were read could
	// legitimately deliver some twice.
	t := &tally{seen: map[int]string{}}
	names := []string{"reader-a", "reader-b"}
	members := map[string]*membership{}
	var readers []*kafka.Reader
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for _, name := range names {
		m := &membership{}
		members[name] = m
		r := reader(*bootstrap, group, topic, m)
		readers = append(readers, r)
		wg.Add(1)
		go func(name string, r *kafka.Reader) {
			defer wg.Done()
			for {
				msg, err := r.FetchMessage(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					errs <- fmt.Sprintf("%s: FetchMessage: %v", name, err)
					return
				}
				t.record(name, msg)
				if err := r.CommitMessages(ctx, msg); err != nil && ctx.Err() == nil {
					errs <- fmt.Sprintf("%s: CommitMessages of partition %d offset %d: %v", name, msg.Partition, msg.Offset, err)
					return
				}
			}
		}(name, r)
	}
	firstError := func() {
		select {
		case e := <-errs:
			fail("%s", e)
		default:
		}
	}
	waitFor(60*time.Second, func() string {
		return fmt.Sprintf("the two readers to share one generation and split 4 partitions; reader-a log: %s; reader-b log: %s",
			members["reader-a"].log(), members["reader-b"].log())
	}, func() bool {
		firstError()
		ga, sa := members["reader-a"].state()
		gb, sb := members["reader-b"].state()
		if ga == 0 || ga != gb || len(sa) != 2 || len(sb) != 2 {
			return false
		}
		var all []int
		for p, o := range sa {
			all = append(all, p)
			if o != kafka.FirstOffset {
				return false
			}
		}
		for p, o := range sb {
			all = append(all, p)
			if o != kafka.FirstOffset {
				return false
			}
		}
		sort.Ints(all)
		return fmt.Sprint(all) == "[0 1 2 3]"
	})

	w := kafka.NewWriter(kafka.WriterConfig{
		Brokers: []string{*bootstrap},
		Topic:   topic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, available ...int) int {
			seq, _ := strconv.Atoi(strings.TrimPrefix(string(m.Key), "key-"))
			return seq % partitions
		}),
		BatchSize:    100,
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: -1,
		MaxAttempts:  3,
	})
	for start := 0; start < total; start += batch {
		var msgs []kafka.Message
		for seq := start; seq < start+batch; seq++ {
			msgs = append(msgs, kafka.Message{Key: []byte(keyOf(seq)), Value: []byte(valueOf(seq))})
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := w.WriteMessages(wctx, msgs...)
		wcancel()
		check(fmt.Sprintf("WriteMessages (Produce v2) of records %d..%d", start, start+batch-1), err)
	}
	check("close the writer", w.Close())
	// Every partition ends at 2,500 (ListOffsets v1).
	for p := 0; p < partitions; p++ {
		pc, err := kafka.DialLeader(context.Background(), "tcp", *bootstrap, topic, p)
		check(fmt.Sprintf("DialLeader partition %d", p), err)
		pc.SetDeadline(time.Now().Add(30 * time.Second))
		first, last, err := pc.ReadOffsets()
		pc.Close()
		check(fmt.Sprintf("ReadOffsets partition %d", p), err)
		if first != 0 || last != total/partitions {
			fail("partition %d holds offsets [%d, %d), expected [0, %d)", p, first, last, total/partitions)
		}
	}

	waitFor(120*time.Second, func() string {
		t.mu.Lock()
		defer t.mu.Unlock()
		return fmt.Sprintf("all %d records; got %d, next offsets %v", total, t.received, t.nextOffset)
	}, func() bool {
		firstError()
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.problem != "" || t.received >= total
	})
	// The last commit of each reader follows its last record: give them a moment, then leave.
	time.Sleep(500 * time.Millisecond)
	cancel()
	for _, r := range readers {
		check("close a reader", r.Close())
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
	if perMember["reader-a"] != total/2 || perMember["reader-b"] != total/2 {
		fail("records read per reader: %v, expected %d each", perMember, total/2)
	}
	t.mu.Unlock()

	// A fresh reader of the group gets all 4 partitions starting at the committed offsets
	// (OffsetFetch v1: 2,500 each, 10,000 in all) and reads nothing more.
	lm := &membership{}
	late := reader(*bootstrap, group, topic, lm)
	waitFor(60*time.Second, func() string { return "the fresh reader to subscribe; its log: " + lm.log() },
		func() bool { g, s := lm.state(); return g != 0 && len(s) == partitions })
	_, committed := lm.state()
	sum := int64(0)
	for _, o := range committed {
		sum += o
	}
	if fmt.Sprint(committed) != fmt.Sprint(map[int]int64{0: 2500, 1: 2500, 2: 2500, 3: 2500}) || sum != total {
		fail("the fresh reader starts at %v (sum %d), expected 2500 on each partition (sum %d)", committed, sum, total)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 3*time.Second)
	msg, err := late.FetchMessage(lctx)
	lcancel()
	if err == nil {
		fail("a fresh reader of the group read partition %d offset %d, expected nothing", msg.Partition, msg.Offset)
	}
	if err != context.DeadlineExceeded {
		fail("the fresh reader: FetchMessage: %v", err)
	}
	if s := late.Stats(); s.Fetches == 0 || s.Errors != 0 {
		fail("the fresh reader made %d fetches with %d errors; its log: %s", s.Fetches, s.Errors, lm.log())
	}
	check("close the fresh reader", late.Close())
	fmt.Printf("ok: kafka-go %d records through a 2-reader group (%.1f s)\n", total, time.Since(started).Seconds())
}
