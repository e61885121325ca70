// Package osmsg carries the operating-system messages of logical
// partitions from the backend that makes them (the simulated SE) to the
// STOMP notification server, for the HMC's OS message channels: Open OS
// Message Channel names a topic of the caller's for one partition, and
// every message that partition's operating system writes afterwards is
// sent on it as an os-message notification. It knows neither STOMP nor the
// SE: a Hub keeps which topic is whose, and hands messages to whoever
// listens.
package osmsg

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Message is one message of an operating system, with the fields of the
// HMC's os-message-info.
type Message struct {
	SequenceNumber int64  `json:"sequence-number"`
	MessageID      int64  `json:"message-id"`
	Text           string `json:"message-text"`
	Timestamp      int64  `json:"timestamp"` // milliseconds since the epoch
	SoundAlarm     bool   `json:"sound-alarm"`
	IsPriority     bool   `json:"is-priority"`
	IsHeld         bool   `json:"is-held"`
	PromptText     string `json:"prompt-text"`
	OSName         string `json:"os-name"`
}

// Channel is an open message channel: the topic its owner subscribes to,
// and the partition (object URI) whose messages it carries.
type Channel struct {
	Topic  string
	Owner  jobs.Owner
	Object string
}

// maxChannels bounds the channels kept: the oldest are forgotten first.
const maxChannels = 4096

// Hub keeps the open channels and hands each message of a partition to the
// listeners of that partition. The zero value is not ready: use New.
type Hub struct {
	mu        sync.Mutex
	channels  map[string]Channel // by topic
	order     []string           // topics, oldest first
	listeners map[string]map[*listener]struct{}
}

type listener struct{ f func([]Message) }

// New returns an empty Hub.
func New() *Hub {
	return &Hub{channels: map[string]Channel{}, listeners: map[string]map[*listener]struct{}{}}
}

// Open opens a channel for owner on the partition at object and returns its
// topic. An owner opening a channel on a partition again gets the same
// topic, as long as the hub keeps it.
func (h *Hub) Open(owner jobs.Owner, object string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.channels {
		if c.Owner == owner && c.Object == object {
			return c.Topic
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	topic := "bcpii-gateway.os." + hex.EncodeToString(b[:])
	h.channels[topic] = Channel{Topic: topic, Owner: owner, Object: object}
	h.order = append(h.order, topic)
	if len(h.order) > maxChannels {
		delete(h.channels, h.order[0])
		h.order = h.order[1:]
	}
	return topic
}

// Lookup returns the channel of topic, if it is open.
func (h *Hub) Lookup(topic string) (Channel, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.channels[topic]
	return c, ok
}

// Listen calls f with every batch of messages the partition at object
// writes, until stop is called. f must not block.
func (h *Hub) Listen(object string, f func([]Message)) (stop func()) {
	l := &listener{f: f}
	h.mu.Lock()
	if h.listeners[object] == nil {
		h.listeners[object] = map[*listener]struct{}{}
	}
	h.listeners[object][l] = struct{}{}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.listeners[object], l)
		if len(h.listeners[object]) == 0 {
			delete(h.listeners, object)
		}
		h.mu.Unlock()
	}
}

// Publish hands msgs, written by the partition at object, to its
// listeners.
func (h *Hub) Publish(object string, msgs []Message) {
	h.mu.Lock()
	ls := make([]*listener, 0, len(h.listeners[object]))
	for l := range h.listeners[object] {
		ls = append(ls, l)
	}
	h.mu.Unlock()
	for _, l := range ls {
		l.f(msgs)
	}
}
