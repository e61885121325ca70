package simse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/osmsg"
)

// The simulated operating system's console: an operating LPAR and an
// active DPM partition have one, whose messages List OS Messages reads and
// to which Send OS Command writes. The simulated operating system says it
// started when the LPAR is loaded or the partition started, and answers
// every command by repeating it and saying it was accepted.

// osConsole is an object's operating system messages, and seq the next
// message's sequence number.
type osConsole struct {
	messages []osMessage
	seq      int64
}

// osRunning reports whether an operating system runs in o: an operating
// LPAR, an active partition.
func osRunning(o *object) bool {
	switch o.kind {
	case bcpii.KindLogicalPartition:
		return o.status == "operating"
	case bcpii.KindPartition:
		return o.status == "active"
	}
	return false
}

// osMessage is one message of an LPAR's operating system.
type osMessage struct {
	seq      int64
	text     string
	at       time.Time
	priority bool
}

// maxOSMessages is how many messages an LPAR keeps; older ones are
// dropped, as the HMC drops them.
const maxOSMessages = 1000

// maxOSCommand is the longest command Send OS Command takes, in
// characters.
const maxOSCommand = 200

// osStarted records that o's operating system started. It runs under
// SE.mu.
func (s *SE) osStarted(o *object) {
	what := "logical partition"
	if o.kind == bcpii.KindPartition {
		what = "partition"
	}
	// As an operating system's console shows several lines as it comes
	// up, three.
	s.osSay(o, fmt.Sprintf("%s: the simulated operating system is starting on %s %s.", o.name, what, o.name), false)
	s.osSay(o, fmt.Sprintf("%s: the simulated operating system is running on %s %s.", o.name, what, o.name), false)
	s.osSay(o, fmt.Sprintf("%s: the simulated operating system is ready for commands.", o.name), false)
}

func (s *SE) osSay(o *object, text string, priority bool) {
	l := &o.os
	m := osMessage{seq: l.seq, text: text, at: s.clock.Now(), priority: priority}
	l.messages = append(l.messages, m)
	l.seq++
	if n := len(l.messages) - maxOSMessages; n > 0 {
		l.messages = append(l.messages[:0:0], l.messages[n:]...)
	}
	if s.hub != nil {
		s.hub.Publish(o.uri, []osmsg.Message{m.info(o)})
	}
}

// info is m as the HMC's os-message-info.
func (m osMessage) info(o *object) osmsg.Message {
	return osmsg.Message{SequenceNumber: m.seq, MessageID: m.seq, Text: m.text, Timestamp: m.at.UnixMilli(),
		IsPriority: m.priority, OSName: o.name}
}

// openOSChannel performs Open OS Message Channel on o: a topic of the
// caller's on which the messages o's operating system writes from now on
// are sent (the STOMP notification interface serves it). It answers 409.332
// when o runs no operating system. It runs under SE.mu.
func (s *SE) openOSChannel(owner jobs.Owner, o *object, body []byte) (bcpii.OperationResponse, error) {
	if t := bytes.TrimSpace(body); len(t) > 0 {
		var req struct {
			Refresh *bool `json:"include-refresh-messages"`
		}
		d := json.NewDecoder(bytes.NewReader(t))
		d.DisallowUnknownFields()
		if err := d.Decode(&req); err != nil {
			return bcpii.OperationResponse{}, hmcerr.ErrInvalidField.WithMessage("The request body may hold include-refresh-messages, a boolean, only.")
		}
	}
	if !osRunning(o) || s.hub == nil {
		return bcpii.OperationResponse{}, hmcerr.ErrNoOSMessages
	}
	b, err := json.Marshal(map[string]string{"topic-name": s.hub.Open(owner, o.uri)})
	if err != nil {
		return bcpii.OperationResponse{}, hmcerr.As(err)
	}
	return bcpii.OperationResponse{Status: 200, Body: b}, nil
}

// osMessages answers List OS Messages of o. It runs under SE.mu.
func osMessages(o *object, q query) (any, error) {
	if !osRunning(o) {
		return nil, hmcerr.ErrNoOSMessages
	}
	out := []map[string]any{}
	for _, m := range o.os.messages {
		switch {
		case q.begin >= 0 && m.seq < q.begin, q.end >= 0 && m.seq > q.end:
			continue
		case q.held != nil && *q.held, q.priority != nil && *q.priority != m.priority:
			continue // the simulated operating system holds no message
		}
		out = append(out, map[string]any{
			"sequence-number": m.seq, "message-id": m.seq, "message-text": m.text,
			"timestamp": m.at.UnixMilli(), "sound-alarm": false, "is-priority": m.priority, "is-held": false,
			"prompt-text": "", "os-name": o.name,
		})
		if q.max > 0 && len(out) == q.max {
			break
		}
	}
	return map[string]any{"os-messages": out}, nil
}

// sendOSCommand performs Send OS Command on o: the simulated operating
// system repeats the command and answers it. It runs under SE.mu.
func (s *SE) sendOSCommand(o *object, body []byte) error {
	var req struct {
		Text     *string `json:"operating-system-command-text"`
		Priority *bool   `json:"is-priority"`
	}
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return hmcerr.ErrBodyMissing
	}
	d := json.NewDecoder(bytes.NewReader(t))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		if strings.Contains(err.Error(), "unknown field") {
			return hmcerr.ErrUnknownField.WithMessage("The request body has a field Send OS Command does not take.")
		}
		return hmcerr.ErrInvalidField.WithMessage("The request body must be an object with operating-system-command-text (a string) and is-priority (a boolean).")
	}
	switch {
	case req.Text == nil:
		return hmcerr.ErrFieldMissing.WithMessage("The request body lacks the required field \"operating-system-command-text\".")
	case len([]rune(*req.Text)) < 1 || len([]rune(*req.Text)) > maxOSCommand:
		return hmcerr.ErrInvalidField.WithMessage("The field operating-system-command-text must have 1 to %d characters.", maxOSCommand)
	}
	if !osRunning(o) {
		return hmcerr.ErrNoOSMessages
	}
	priority := req.Priority != nil && *req.Priority
	s.osSay(o, *req.Text, priority)
	s.osSay(o, fmt.Sprintf("%s: command accepted: %s", o.name, *req.Text), priority)
	return nil
}
