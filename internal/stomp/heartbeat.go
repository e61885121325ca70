package stomp

import (
	"strconv"
	"strings"
	"time"
)

// ParseHeartBeat parses a heart-beat header, "cx,cy" in milliseconds: cx
// is the smallest interval at which the sender can send heart-beats, cy
// the interval at which it wants to receive them; 0 is none. An absent
// header is "0,0".
func ParseHeartBeat(v string) (cx, cy time.Duration, err error) {
	if v == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(v, ",")
	if !ok {
		return 0, 0, malformed("heart-beat %q", truncate(v))
	}
	x, err1 := parseMillis(a)
	y, err2 := parseMillis(b)
	if err1 != nil || err2 != nil {
		return 0, 0, malformed("heart-beat %q", truncate(v))
	}
	return x, y, nil
}

func parseMillis(s string) (time.Duration, error) {
	if s == "" || len(s) > 9 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, ErrMalformed
	}
	n, err := strconv.Atoi(s)
	return time.Duration(n) * time.Millisecond, err
}

// HeartBeats are what a server offers: it sends heart-beats no more often
// than every MinSend, and at least every MaxSend to a client that wants
// them; it wants the client's no more often than every MinRecv.
type HeartBeats struct {
	MinSend, MaxSend time.Duration
	MinRecv          time.Duration
}

// Negotiate settles the intervals for a client whose CONNECT said cx,cy:
// send is how often the server sends heart-beats (0: never), recv how often
// the client will send its own (0: it will not). A client that asks for
// none gets none. Sending more often than the client asked is within its
// expectation, so send is capped at MaxSend; recv is the slower of the
// client's offer and MinRecv, exactly as the client computes it from the
// CONNECTED frame's header.
func (h HeartBeats) Negotiate(cx, cy time.Duration) (send, recv time.Duration) {
	if cy > 0 {
		send = min(max(cy, h.MinSend), h.MaxSend)
	}
	if cx > 0 {
		recv = max(cx, h.MinRecv)
	}
	return send, recv
}

// Header is the heart-beat header of the CONNECTED frame for the intervals
// Negotiate settled.
func (h HeartBeats) Header(send, recv time.Duration) string {
	return strconv.FormatInt(send.Milliseconds(), 10) + "," + strconv.FormatInt(recv.Milliseconds(), 10)
}
