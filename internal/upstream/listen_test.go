package upstream

import (
	"crypto/tls"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
)

// refusingSTOMP is a STOMP listener, on the fake HMC's certificate, that
// answers every CONNECT with an ERROR frame and counts them.
func refusingSTOMP(t *testing.T, hmc *fakeHMC) (addr string, connects *atomic.Int64) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", hmc.srv.TLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	connects = &atomic.Int64{}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				f, err := stomp.NewReader(nc, stomp.Limits{}).ReadFrame()
				if err != nil || f.Command != stomp.CmdConnect {
					return
				}
				connects.Add(1)
				_ = stomp.WriteFrame(nc, &stomp.Frame{Command: stomp.CmdError, Headers: []stomp.Header{{Key: "message", Value: "login refused"}}}, stomp.V12)
			}()
		}
	}()
	return l.Addr().String(), connects
}

// An upstream that refuses the STOMP login: the first refusal of a session
// makes the client log on anew (the upstream may have forgotten it), a
// refusal of that fresh session does not, and the client keeps polling.
// A client that logged on at every attempt would leave a session behind
// upstream every thirty seconds.
func TestRefusedSTOMPLoginLogsOnOncePerSession(t *testing.T) {
	hmc := newFakeHMC(t)
	hmc.notifications = true
	addr, connects := refusingSTOMP(t, hmc)
	h := newHarness(t, hmc, func(c *Config) { c.NotificationAddr = addr })
	bound := timeoutChan(t)
	waitConnects := func(n int64) {
		t.Helper()
		for connects.Load() < n {
			// The client's next attempt waits on the fake clock: move it
			// past the longest retry wait once its timer is armed.
			if !h.clk.WaitForTimerWithin(noteRetryMax, bound) {
				t.Fatalf("no retry armed; %d CONNECTs so far", connects.Load())
			}
			h.clk.Advance(noteRetryMax)
			select {
			case <-bound:
				t.Fatalf("%d CONNECTs within 10s, want %d", connects.Load(), n)
			default:
			}
		}
	}
	waitConnects(4)
	// The first logon, and one more for the refused first session.
	if n := hmc.count("POST /api/sessions"); n != 2 {
		t.Fatalf("%d logons after %d refused STOMP logins, want 2", n, connects.Load())
	}
	// Polling goes on meanwhile: a job still ends.
	j := h.start(partition, false)
	hmc.end(jobIDOf(t, j), `{"status":"complete","job-status-code":200}`)
	h.tick(2) // the poll's timer and the next STOMP attempt's
	if got := h.waitEnded(j); got.StatusCode != 200 {
		t.Fatalf("job ended %+v", got)
	}
}
