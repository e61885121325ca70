package stomp

import (
	"errors"
	"testing"
	"time"
)

func TestHeartBeat(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		in     string
		cx, cy time.Duration
		bad    bool
	}{
		{"", 0, 0, false},
		{"0,0", 0, 0, false},
		{"10000,20000", 10000 * ms, 20000 * ms, false},
		{"1", 0, 0, true},
		{"a,b", 0, 0, true},
		{"-1,0", 0, 0, true},
		{"1,", 0, 0, true},
		{"9999999999,1", 0, 0, true},
	} {
		cx, cy, err := ParseHeartBeat(c.in)
		if c.bad != (err != nil) || cx != c.cx || cy != c.cy {
			t.Errorf("ParseHeartBeat(%q) = %v, %v, %v", c.in, cx, cy, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseHeartBeat(%q): %v is not ErrMalformed", c.in, err)
		}
	}
	h := HeartBeats{MinSend: time.Second, MaxSend: time.Minute, MinRecv: 5 * time.Second}
	for _, c := range []struct{ cx, cy, send, recv time.Duration }{
		{0, 0, 0, 0},
		{10 * ms, 10 * ms, time.Second, 5 * time.Second},
		{time.Hour, time.Hour, time.Minute, time.Hour},
		{10 * time.Second, 0, 0, 10 * time.Second},
	} {
		send, recv := h.Negotiate(c.cx, c.cy)
		if send != c.send || recv != c.recv {
			t.Errorf("Negotiate(%v, %v) = %v, %v; want %v, %v", c.cx, c.cy, send, recv, c.send, c.recv)
		}
	}
	if got := h.Header(time.Second, 0); got != "1000,0" {
		t.Errorf("Header = %q", got)
	}
}
