package notify_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/notify"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"
)

// TestJobCompletionMessages: a user who logs on over STOMP and subscribes
// to a session's job topic receives one MESSAGE per job of theirs that
// ends, with the spec's headers, numbered per connection; after
// UNSUBSCRIBE nothing more; DISCONNECT is acknowledged and closes.
func TestJobCompletionMessages(t *testing.T) {
	f := newFixture(t)
	ses := f.logon(t, "alice", alicePassword)
	c := f.dial(t)
	c.connect("login", "alice", "passcode", alicePassword)
	c.subscribe("0", ses.JobNotificationTopic)
	if n := f.srv.Feeds(); n != 1 {
		t.Fatalf("%d feeds, want 1", n)
	}
	dest := "/topic/" + ses.JobNotificationTopic
	for i := range 3 {
		uri := f.endJob(t, aliceOwner)
		m := c.Expect(stomp.CmdMessage, "destination", dest, "subscription", "0",
			"notification-type", "job-completion", "job-uri", uri, "session-sequence-nr", strconv.Itoa(i))
		if id, _ := m.Get("message-id"); id == "" || len(m.Body) != 0 {
			t.Fatalf("message-id %q, body %q", id, m.Body)
		}
	}
	c.Send(stomp.CmdUnsubscribe, "id", "0", "receipt", "unsub")
	c.Expect(stomp.CmdReceipt, "receipt-id", "unsub")
	if n := f.srv.Feeds(); n != 0 {
		t.Fatalf("%d feeds after the last unsubscribe, want 0", n)
	}
	f.endJob(t, aliceOwner)
	c.Send(stomp.CmdDisconnect, "receipt", "bye")
	c.Expect(stomp.CmdReceipt, "receipt-id", "bye")
	c.expectClosed()
	// The session the CONNECT logged on ends with the connection; the
	// one logged on elsewhere stays.
	if _, err := f.auth.Sessions.Lookup(context.Background(), ses.ID); err != nil {
		t.Fatalf("the REST session ended with the STOMP connection: %v", err)
	}
	if n := f.auth.Sessions.Len(); n != 1 {
		t.Fatalf("%d sessions after DISCONNECT, want the REST one alone", n)
	}
}

// TestOneFeedPerTopic: any number of connections on a topic cost one
// registry subscription, and each receives every message.
func TestOneFeedPerTopic(t *testing.T) {
	f := newFixture(t)
	ses := f.logon(t, "alice", alicePassword)
	var cs []*client
	for i := range 5 {
		c := f.dial(t)
		c.connect("login", ses.ID, "passcode", ses.Credential)
		c.subscribe(strconv.Itoa(i), ses.JobNotificationTopic)
		cs = append(cs, c)
	}
	if n := f.srv.Feeds(); n != 1 {
		t.Fatalf("%d feeds for one topic, want 1", n)
	}
	uri := f.endJob(t, aliceOwner)
	for i, c := range cs {
		c.Expect(stomp.CmdMessage, "job-uri", uri, "subscription", strconv.Itoa(i), "session-sequence-nr", "0")
	}
}

// TestLoginFailures: every failed login answers the same ERROR frame and
// closes, whichever part was wrong.
func TestLoginFailures(t *testing.T) {
	f := newFixture(t, func(c *notify.Config) { c.Loopback = false })
	ses := f.logon(t, "alice", alicePassword)
	var first []byte
	for name, hdr := range map[string][]string{
		"wrong password":        {"login", "alice", "passcode", "nope"},
		"unknown user":          {"login", "mallory", "passcode", alicePassword},
		"no passcode":           {"login", "alice"},
		"wrong credential":      {"login", ses.ID, "passcode", "nope"},
		"credential as session": {"login", ses.Credential, "passcode", ses.ID},
		"no login, not local":   {},
	} {
		c := f.dial(t)
		c.Send(stomp.CmdConnect, append([]string{"accept-version", "1.2", "host", "x"}, hdr...)...)
		e := c.Expect(stomp.CmdError, "message", "Login failed")
		b, _ := stomp.AppendFrame(nil, e, stomp.V12)
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Errorf("%s: ERROR %q differs from %q", name, b, first)
		}
		c.expectClosed()
	}
	// The right ones work, without the loopback identity.
	c := f.dial(t)
	c.connect("login", ses.ID, "passcode", ses.Credential)
	c = f.dial(t)
	c.connect("login", "bob", "passcode", bobPassword)
}

// TestIsolation: another user and a partition, on their own topics,
// receive nothing of alice's jobs; subscribing to another's topic answers
// exactly as a topic that does not exist.
func TestIsolation(t *testing.T) {
	f := newFixture(t)
	alice := f.logon(t, "alice", alicePassword)
	bob := f.logon(t, "bob", bobPassword)
	lp1Topic := bcpii.PartitionJobTopic(f.auth.Local.Partition())

	ca := f.dial(t)
	ca.connect("login", "alice", "passcode", alicePassword)
	ca.subscribe("a", alice.JobNotificationTopic)
	cb := f.dial(t)
	cb.connect("login", "bob", "passcode", bobPassword)
	cb.subscribe("b", bob.JobNotificationTopic)
	cp := f.dial(t)
	cp.connect() // the local partition, without login
	cp.subscribe("p", lp1Topic)

	uri := f.endJob(t, aliceOwner)
	ca.Expect(stomp.CmdMessage, "job-uri", uri)
	cb.expectNothing()
	cp.expectNothing()

	// Another's topic, and one that does not exist: the same ERROR.
	answer := func(topic string) []byte {
		c := f.dial(t)
		c.connect("login", "bob", "passcode", bobPassword)
		c.Send(stomp.CmdSubscribe, "id", "x", "destination", "/topic/"+topic, "receipt", "r")
		e := c.Expect(stomp.CmdError, "message", "No such destination", "receipt-id", "r")
		c.expectClosed()
		b, _ := stomp.AppendFrame(nil, e, stomp.V12)
		return b
	}
	want := answer("bcpii-gateway.0123456789abcdef.job")
	for _, topic := range []string{alice.JobNotificationTopic, lp1Topic, alice.NotificationTopic, ""} {
		if got := answer(topic); !bytes.Equal(got, want) {
			t.Errorf("topic %q: ERROR %q, want %q", topic, got, want)
		}
	}
	// The partition's own topic carries its jobs only.
	uri = f.endJob(t, lp1Owner)
	cp.Expect(stomp.CmdMessage, "job-uri", uri, "session-sequence-nr", "0")
	f.endJob(t, bobOwner)
	cb.Expect(stomp.CmdMessage, "session-sequence-nr", "0")
	ca.expectNothing()
}

// TestSlowSubscriber: a subscriber that does not read delays no one, and
// once MaxQueue messages wait for it, it is disconnected with an ERROR
// frame after what was written.
func TestSlowSubscriber(t *testing.T) {
	const bound = 4
	f := newFixture(t, func(c *notify.Config) { c.MaxQueue = bound })
	ses := f.logon(t, "alice", alicePassword)
	fast := f.dial(t)
	f.accepted(t)
	fast.connect("login", ses.ID, "passcode", ses.Credential)
	fast.subscribe("f", ses.JobNotificationTopic)
	slow := f.dial(t)
	gc := f.accepted(t)
	slow.connect("login", ses.ID, "passcode", ses.Credential)
	slow.subscribe("s", ses.JobNotificationTopic)

	release := gc.hold(t)
	first := f.endJob(t, aliceOwner)
	select {
	case <-gc.held: // the writer waits in its write of the first message
	case <-time.After(waitLimit): // a bound on the wait, so that a broken feature fails the test
		t.Fatal("the server did not write to the slow subscriber")
	}
	fast.Expect(stomp.CmdMessage, "job-uri", first)
	for i := 1; i <= bound; i++ {
		uri := f.endJob(t, aliceOwner)
		fast.Expect(stomp.CmdMessage, "job-uri", uri, "session-sequence-nr", strconv.Itoa(i))
	}
	// bound messages wait behind the write held: one more is too many.
	f.endJob(t, aliceOwner)
	fast.Expect(stomp.CmdMessage, "session-sequence-nr", strconv.Itoa(bound+1))
	release()
	slow.Expect(stomp.CmdMessage, "job-uri", first, "session-sequence-nr", "0")
	slow.Expect(stomp.CmdError, "message", "Too far behind")
	slow.expectClosed()
}

// TestHeartBeats: the server sends heart-beats as the client asks, on its
// clock, and lets a client go that promised heart-beats and fell silent.
func TestHeartBeats(t *testing.T) {
	f := newFixture(t, func(c *notify.Config) {
		c.HeartBeats = stomp.HeartBeats{MinSend: time.Second, MaxSend: time.Minute, MinRecv: 50 * time.Millisecond}
	})
	c := f.dial(t)
	c.connect("heart-beat", "0,10")
	// Asked for every 10ms, it sends no faster than every second.
	if !f.clock.WaitForTimers(1, nil) {
		t.Fatal("no heart-beat timer")
	}
	f.clock.Advance(time.Second)
	_ = c.Conn.SetReadDeadline(time.Now().Add(waitLimit))
	b := make([]byte, 1)
	if _, err := c.Conn.Read(b); err != nil || b[0] != '\n' {
		t.Fatalf("heart-beat %q, %v", b, err)
	}
	// A client that promised one every 50ms and sends none is closed
	// after twice that, by the socket's read deadline.
	c2 := f.dial(t)
	hb := c2.connect("heart-beat", "50,0")
	if v, _ := hb.Get("heart-beat"); v != "0,50" {
		t.Fatalf("CONNECTED heart-beat %q, want 0,50", v)
	}
	c2.expectClosed()
}

// TestProtocolErrors: what the gateway does not serve, or cannot read,
// answers an ERROR frame and closes.
func TestProtocolErrors(t *testing.T) {
	f := newFixture(t, func(c *notify.Config) {
		// Long enough that a loaded machine sends each case's frames in
		// time; short enough for the last check, which waits it out.
		c.ConnectTimeout = time.Second
		c.Limits = stomp.Limits{MaxLine: 256}
	})
	for _, c := range []struct {
		name, message string
		frames        []string
	}{
		{"version 2.0 only", "Unsupported version", []string{"CONNECT\naccept-version:2.0\nhost:x\n\n\x00"}},
		{"empty accept-version", "Unsupported version", []string{"STOMP\naccept-version:\nhost:x\n\n\x00"}},
		{"NACK in 1.0", "Unknown command", []string{"CONNECT\nhost:x\n\n\x00", "NACK\nmessage-id:1\n\n\x00"}},
		{"NACK in 1.1", "Not supported", []string{"CONNECT\naccept-version:1.1\n\n\x00", "NACK\nmessage-id:1\nsubscription:0\n\n\x00"}},
		{"1.2 escape in 1.1", "Malformed frame", []string{"STOMP\naccept-version:1.0,1.1\n\n\x00", "SUBSCRIBE\nid:\\r\n\n\x00"}},
		{"no id in 1.1", "Missing id", []string{"STOMP\naccept-version:1.1\n\n\x00", "SUBSCRIBE\ndestination:/topic/x\n\n\x00"}},
		{"not CONNECT first", "Expected CONNECT", []string{"SUBSCRIBE\nid:0\ndestination:/topic/x\n\n\x00"}},
		{"bad heart-beat", "Malformed frame", []string{"CONNECT\naccept-version:1.2\nheart-beat:x\n\n\x00"}},
		{"long line", "Frame too large", []string{"CONNECT\naccept-version:1.2\nhost:" + strings.Repeat("x", 300) + "\n\n\x00"}},
		{"SEND", "Not supported", []string{"STOMP\naccept-version:1.1,1.2\n\n\x00", "SEND\ndestination:/topic/x\n\n\x00"}},
		{"ack:client", "Unsupported ack mode", []string{"STOMP\naccept-version:1.2\n\n\x00", "SUBSCRIBE\nid:0\ndestination:/topic/x\nack:client\n\n\x00"}},
		{"no id", "Missing id", []string{"STOMP\naccept-version:1.2\n\n\x00", "SUBSCRIBE\ndestination:/topic/x\n\n\x00"}},
		{"CONNECT twice", "Already connected", []string{"STOMP\naccept-version:1.2\n\n\x00", "CONNECT\naccept-version:1.2\n\n\x00"}},
		{"unknown command", "Unknown command", []string{"STOMP\naccept-version:1.2\n\n\x00", "FOO\n\n\x00"}},
		{"unknown subscription", "Unknown subscription", []string{"STOMP\naccept-version:1.2\n\n\x00", "UNSUBSCRIBE\nid:9\n\n\x00"}},
		{"bad escape", "Malformed frame", []string{"STOMP\naccept-version:1.2\n\n\x00", "SUBSCRIBE\nid:\\t\n\n\x00"}},
	} {
		cl := f.dial(t)
		_ = cl.Conn.SetWriteDeadline(time.Now().Add(waitLimit))
		for _, fr := range c.frames {
			if _, err := cl.Conn.Write([]byte(fr)); err != nil {
				t.Fatal(err)
			}
		}
		for {
			fr := cl.Read()
			if fr.Command == stomp.CmdConnected {
				continue
			}
			if m, _ := fr.Get("message"); fr.Command != stomp.CmdError || m != c.message {
				t.Errorf("%s: %s %v, want ERROR %q", c.name, fr.Command, fr.Headers, c.message)
			}
			break
		}
		cl.expectClosed()
	}
	// Nothing sent: closed at the connect timeout.
	f.dial(t).expectClosed()
}

// TestVersions: a client of each STOMP version is answered in its
// version: CONNECTED says the version settled (1.0's says none, nor any
// heart-beat), and the job-completion message is escaped as the version
// escapes, with a subscription id holding what each version escapes.
func TestVersions(t *testing.T) {
	f := newFixture(t)
	ses := f.logon(t, "alice", alicePassword)
	for _, c := range []struct {
		accept []string // accept-version, if any
		v      stomp.Version
		id     string
		raw    string // the subscription header as written
	}{
		{nil, stomp.V10, "a:b", "subscription:a:b\n"},
		{[]string{"accept-version", "1.0"}, stomp.V10, "a:b", "subscription:a:b\n"},
		{[]string{"accept-version", "1.0,1.1"}, stomp.V11, "a:b\\", `subscription:a\cb\\` + "\n"},
		{[]string{"accept-version", "1.1,1.2,2.0"}, stomp.V12, "a:b\\", `subscription:a\cb\\` + "\n"},
	} {
		cl := f.dial(t)
		cl.Send(stomp.CmdStomp, append(c.accept, "host", "x", "heart-beat", "0,1000", "login", ses.ID, "passcode", ses.Credential)...)
		connected := cl.Expect(stomp.CmdConnected)
		v, hasV := connected.Get("version")
		hb, hasHB := connected.Get("heart-beat")
		if c.v == stomp.V10 {
			if hasV || hasHB {
				t.Errorf("1.0 CONNECTED has version %q, heart-beat %q", v, hb)
			}
		} else if v != c.v.String() || hb != "1000,0" {
			t.Errorf("%v CONNECTED: version %q, heart-beat %q", c.v, v, hb)
		}
		cl.SetVersion(c.v)
		cl.Send(stomp.CmdSubscribe, "id", c.id, "destination", "/topic/"+ses.JobNotificationTopic, "receipt", "s")
		cl.Expect(stomp.CmdReceipt, "receipt-id", "s")
		uri := f.endJob(t, aliceOwner)
		raw := readRaw(t, cl)
		if !strings.Contains(raw, "\n"+c.raw) || !strings.Contains(raw, "\njob-uri:"+uri+"\n") {
			t.Errorf("%v MESSAGE %q lacks %q", c.v, raw, c.raw)
		}
		cl.Send(stomp.CmdDisconnect, "receipt", "bye")
		cl.Expect(stomp.CmdReceipt, "receipt-id", "bye")
		cl.expectClosed()
	}
	// 1.0: SUBSCRIBE without an id, UNSUBSCRIBE by destination; the
	// message names no subscription.
	cl := f.dial(t)
	cl.Send(stomp.CmdConnect, "login", ses.ID, "passcode", ses.Credential)
	cl.Expect(stomp.CmdConnected)
	cl.SetVersion(stomp.V10)
	dest := "/topic/" + ses.JobNotificationTopic
	cl.Send(stomp.CmdSubscribe, "destination", dest, "receipt", "s")
	cl.Expect(stomp.CmdReceipt, "receipt-id", "s")
	uri := f.endJob(t, aliceOwner)
	m := cl.Expect(stomp.CmdMessage, "destination", dest, "job-uri", uri)
	if sub, ok := m.Get("subscription"); ok {
		t.Errorf("1.0 message of a subscription without id names subscription %q", sub)
	}
	cl.Send(stomp.CmdUnsubscribe, "destination", dest, "receipt", "u")
	cl.Expect(stomp.CmdReceipt, "receipt-id", "u")
	f.endJob(t, aliceOwner)
	cl.topic = ses.JobNotificationTopic
	cl.expectNothing()
}

// readRaw reads one frame's bytes, up to its NUL, within the client's limit.
func readRaw(t *testing.T, c *client) string {
	t.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.Limit))
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := c.Conn.Read(one); err != nil {
			t.Fatalf("read %q: %v", b, err)
		}
		if one[0] == 0 {
			return string(b)
		}
		if len(b) > 0 || one[0] != '\n' {
			b = append(b, one[0])
		}
	}
}

// TestShutdown: when the server stops, its connections close.
func TestShutdown(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t)
	c.connect()
	c.subscribe("p", bcpii.PartitionJobTopic(f.auth.Local.Partition()))
	if n := f.srv.Connections(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

// TestConnectionsThatNeverConnect: a connection whose TLS handshake fails,
// and one that closes before CONNECT, each leave a log line naming the
// remote address, so that an operator can see why a client never got in.
func TestConnectionsThatNeverConnect(t *testing.T) {
	var logs apptest.LogBuffer
	dir := t.TempDir()
	cert, _, err := tlsutil.LoadOrCreate(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureTB(t, func(l net.Listener) net.Listener {
		return tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}, func(c *notify.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.ConnectTimeout = 2 * time.Second
	})
	// Plain text where TLS is spoken: the handshake fails.
	nc, err := net.DialTimeout("tcp", f.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = nc.Write([]byte("CONNECT\naccept-version:1.2\n\n\x00"))
	_ = nc.SetReadDeadline(time.Now().Add(waitLimit))
	_, _ = io.ReadAll(nc)
	nc.Close()
	// TLS, then nothing: closed before CONNECT.
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: waitLimit}, "tcp", f.addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test's own server
	if err != nil {
		t.Fatal(err)
	}
	tc.Close()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(logs.String(), "stomp TLS handshake failed") || !strings.Contains(logs.String(), "stomp connection closed without a CONNECT frame") {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the failed connections within %v:\n%s", waitLimit, logs.String())
		}
		time.Sleep(10 * time.Millisecond) // the server's goroutines log; bounded above
	}
	if !strings.Contains(logs.String(), "remote=127.0.0.1:") {
		t.Errorf("the lines do not name the remote address:\n%s", logs.String())
	}
}
