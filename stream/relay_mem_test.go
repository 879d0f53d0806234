package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// memRelay is an in-process OrderedRelay shared by the hubs and brokers
// of a test, standing in for Redis. Publish delivers to the subscribers
// of a topic through a queue and goroutine each; Append adds to a log
// with IDs "<n>-0" that followers deliver in order. Tests can make calls
// fail, make Publish lose messages, pause a follower and trim a log.
type memRelay struct {
	mu        sync.Mutex
	subs      map[string][]*memSub
	logs      map[string][]RelayMessage
	followers map[string][]*memFollower
	n         uint64
	fail      int // calls of Publish and Append left to fail
	noFollow  bool
	lose      int // Publish calls left to accept and deliver to nobody
	wg        sync.WaitGroup
}

type memSub struct {
	ch chan []byte
}

type memFollower struct {
	pos    int // index in the log of the next message to deliver
	paused bool
	wake   chan struct{}
}

var errMemRelayDown = errors.New("memrelay: down")

func newMemRelay() *memRelay {
	return &memRelay{
		subs:      make(map[string][]*memSub),
		logs:      make(map[string][]RelayMessage),
		followers: make(map[string][]*memFollower),
	}
}

// failNext makes the next n calls of Publish and Append fail.
func (m *memRelay) failNext(n int) {
	m.mu.Lock()
	m.fail = n
	m.mu.Unlock()
}

// failFollow makes Follow fail while on.
func (m *memRelay) failFollow(on bool) {
	m.mu.Lock()
	m.noFollow = on
	m.mu.Unlock()
}

// loseNext makes the next n Publish calls succeed without delivering.
func (m *memRelay) loseNext(n int) {
	m.mu.Lock()
	m.lose = n
	m.mu.Unlock()
}

func (m *memRelay) Publish(ctx context.Context, topic string, msg []byte) error {
	return m.PublishBatch(ctx, topic, [][]byte{msg})
}

// PublishBatch makes memRelay a RelayBatcher: a failure fails the whole
// batch, and loseNext counts messages.
func (m *memRelay) PublishBatch(ctx context.Context, topic string, msgs [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return errMemRelayDown
	}
	for _, msg := range msgs {
		m.publishLocked(topic, msg)
	}
	return nil
}

func (m *memRelay) publishLocked(topic string, msg []byte) {
	if m.lose > 0 {
		m.lose--
		return
	}
	for _, s := range m.subs[topic] {
		select {
		case s.ch <- slices.Clone(msg):
		default: // a full queue loses it, like an at-most-once relay
		}
	}
}

func (m *memRelay) Subscribe(ctx context.Context, topic string, deliver func([]byte)) error {
	s := &memSub{ch: make(chan []byte, 4096)}
	m.mu.Lock()
	m.subs[topic] = append(m.subs[topic], s)
	m.mu.Unlock()
	m.wg.Go(func() {
		defer func() {
			m.mu.Lock()
			m.subs[topic] = slices.DeleteFunc(m.subs[topic], func(x *memSub) bool { return x == s })
			m.mu.Unlock()
		}()
		for {
			select {
			case msg := <-s.ch:
				deliver(msg)
			case <-ctx.Done():
				return
			}
		}
	})
	return nil
}

func (m *memRelay) Append(ctx context.Context, topic string, msg []byte) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return "", errMemRelayDown
	}
	return m.appendLocked(topic, msg), nil
}

func (m *memRelay) AppendBatch(ctx context.Context, topic string, msgs [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return errMemRelayDown
	}
	for _, msg := range msgs {
		m.appendLocked(topic, msg)
	}
	return nil
}

func (m *memRelay) appendLocked(topic string, msg []byte) string {
	m.n++
	id := fmt.Sprintf("%d-0", m.n)
	m.logs[topic] = append(m.logs[topic], RelayMessage{ID: id, Data: slices.Clone(msg)})
	for _, f := range m.followers[topic] {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	return id
}

// index returns the position of id in topic's log; m.mu is held.
func (m *memRelay) index(topic, id string) int {
	return slices.IndexFunc(m.logs[topic], func(x RelayMessage) bool { return x.ID == id })
}

func (m *memRelay) Follow(ctx context.Context, topic, after string, deliver func(RelayMessage)) (string, error) {
	f := &memFollower{wake: make(chan struct{}, 1)}
	m.mu.Lock()
	if m.noFollow {
		m.mu.Unlock()
		return "", errMemRelayDown
	}
	log := m.logs[topic]
	from := after
	if after == "" {
		f.pos = len(log)
		if len(log) > 0 {
			from = log[len(log)-1].ID
		}
	} else {
		f.pos = m.index(topic, after) + 1
	}
	m.followers[topic] = append(m.followers[topic], f)
	m.mu.Unlock()
	m.wg.Go(func() {
		for {
			m.mu.Lock()
			log := m.logs[topic]
			var msg RelayMessage
			ok := !f.paused && f.pos < len(log)
			if ok {
				msg = log[f.pos]
				f.pos++
			}
			m.mu.Unlock()
			if ok {
				deliver(msg)
				continue
			}
			select {
			case <-f.wake:
			case <-ctx.Done():
				return
			}
		}
	})
	return from, nil
}

func (m *memRelay) Read(ctx context.Context, topic, after, through string, limit int) ([]RelayMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return nil, errMemRelayDown
	}
	i := m.index(topic, after)
	if i < 0 {
		return nil, fmt.Errorf("memrelay: read after %s: %w", after, ErrRelayGap)
	}
	if through == "" {
		return nil, nil
	}
	j := m.index(topic, through)
	var out []RelayMessage
	for k := i + 1; k <= j && len(out) < limit; k++ {
		out = append(out, m.logs[topic][k])
	}
	return out, nil
}

// pause stops or restarts the delivery of the follower numbered i of
// topic (in the order they started following).
func (m *memRelay) pause(topic string, i int, paused bool) {
	m.mu.Lock()
	f := m.followers[topic][i]
	f.paused = paused
	m.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// trim keeps only the newest keep messages of topic's log; followers keep
// their place.
func (m *memRelay) trim(topic string, keep int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	log := m.logs[topic]
	cut := max(len(log)-keep, 0)
	m.logs[topic] = slices.Clone(log[cut:])
	for _, f := range m.followers[topic] {
		f.pos = max(f.pos-cut, 0)
	}
}

// plainRelay hides the ordered and batch methods of a relay.
type plainRelay struct{ Relay }

var _ RelayBatcher = (*memRelay)(nil)
