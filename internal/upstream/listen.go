package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
)

// Bounds of the notification connection.
const (
	// noteHeartBeat is how often the client asks the upstream for a
	// heart-beat; three missed ones end the connection.
	noteHeartBeat = 20 * time.Second
	// noteRetryMin and noteRetryMax bound the wait before connecting
	// again; it doubles from the first to the second while attempts fail.
	noteRetryMin = time.Second
	noteRetryMax = 30 * time.Second
)

// noteLimits bound the frames read from the upstream: its messages carry
// a few headers and an empty body.
var noteLimits = stomp.Limits{MaxLine: 4096, MaxHeaders: 64, MaxHeaderBytes: 16 << 10, MaxBody: 64 << 10}

// noteSession is what a logon answered for the notifications.
type noteSession struct {
	session, credential, topic string
}

// errNoTopic: the upstream's logon answer names no job topic or no
// session credential, so it offers no notifications to subscribe to.
var errNoTopic = errors.New("upstream: the logon answer names no job-notification-topic and session-credential")

// listen keeps a subscription to the session's job topic on the upstream's
// STOMP interface until ctx ends, connecting again (with a new logon when
// the session was refused) whenever the connection ends. While subscribed,
// followers poll only as a safety net.
func (c *Client) listen(ctx context.Context) {
	wait := noteRetryMin
	failures := 0
	renewedFor := "" // the session a refused login made the client replace
	for {
		wasLive, err := c.subscribe(ctx)
		c.notes.setLive(false)
		if ctx.Err() != nil {
			return
		}
		if wasLive {
			wait, failures = noteRetryMin, 0
		}
		var refused loginRefused
		if errors.As(err, &refused) {
			if string(refused) != renewedFor {
				// The upstream may have forgotten the session: log on anew,
				// once per session, not at every attempt.
				if s, lerr := c.logon(ctx, string(refused)); lerr == nil {
					renewedFor = s
				}
			} else {
				wait = noteRetryMax // refused with a fresh session too
			}
		}
		failures++
		log := c.log.DebugContext
		if failures == 1 {
			log = c.log.WarnContext
		}
		log(ctx, "upstream notifications unavailable; polling every interval", "addr", c.noteAddr,
			"poll_interval", c.cfg.PollInterval, "retry_in", wait, "err", err)
		t := c.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		wait = min(2*wait, noteRetryMax)
	}
}

// loginRefused is the error of a STOMP login the upstream refused: the
// session it was made with.
type loginRefused string

func (e loginRefused) Error() string { return "upstream: STOMP login refused" }

// subscribe connects, subscribes and hands notifications on until the
// connection ends. It reports whether the subscription was live.
func (c *Client) subscribe(ctx context.Context) (bool, error) {
	if _, err := c.currentSession(ctx); err != nil {
		return false, err
	}
	c.sessMu.Lock()
	ns, renewed := c.noteSess, c.renewed
	c.sessMu.Unlock()
	if ns.session == "" {
		return false, errors.New("upstream: no session")
	}
	if ns.topic == "" || ns.credential == "" {
		return false, errNoTopic
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: c.cfg.RequestTimeout, KeepAlive: 15 * time.Second},
		Config: c.transport.TLSClientConfig}
	nc, err := d.DialContext(ctx, "tcp", c.noteAddr)
	if err != nil {
		return false, err
	}
	// The connection ends with ctx, or when the session it logged in with
	// is replaced.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-renewed:
		case <-done:
		}
		nc.Close()
	}()
	s := &noteConn{nc: nc, idle: c.cfg.RequestTimeout}
	s.r = stomp.NewReader(s, noteLimits)
	if err := c.connectSTOMP(s, ns); err != nil {
		return false, err
	}
	sub := &stomp.Frame{Command: stomp.CmdSubscribe, Headers: []stomp.Header{
		{Key: "id", Value: "0"}, {Key: "destination", Value: "/topic/" + ns.topic},
		{Key: "ack", Value: "auto"}, {Key: "receipt", Value: "subscribed"},
	}}
	if err := s.write(sub); err != nil {
		return false, err
	}
	live := false
	for {
		f, err := s.r.ReadFrame()
		if err != nil {
			return live, err
		}
		switch f.Command {
		case stomp.CmdReceipt:
			if id, _ := f.Get("receipt-id"); id == "subscribed" && !live {
				live = true
				c.log.InfoContext(ctx, "following upstream job completions over STOMP", "addr", c.noteAddr)
				c.notes.setLive(true)
			}
		case stomp.CmdMessage:
			if t, _ := f.Get("notification-type"); t == "job-completion" {
				if uri, ok := f.Get("job-uri"); ok {
					c.notes.arrived(uri)
				}
			}
		case stomp.CmdError:
			msg, _ := f.Get("message")
			return live, fmt.Errorf("upstream: STOMP error: %s", cleanMessage(msg))
		}
	}
}

// connectSTOMP logs in with the session's credential and sets the read
// deadline from the heart-beats agreed; a refused login is a loginRefused.
func (c *Client) connectSTOMP(s *noteConn, ns noteSession) error {
	host, _, _ := net.SplitHostPort(c.noteAddr)
	connect := &stomp.Frame{Command: stomp.CmdConnect, Headers: []stomp.Header{
		{Key: "accept-version", Value: "1.1,1.2"}, {Key: "host", Value: host},
		{Key: "login", Value: ns.session}, {Key: "passcode", Value: ns.credential},
		{Key: "heart-beat", Value: "0," + fmt.Sprint(noteHeartBeat.Milliseconds())},
	}}
	if err := s.write(connect); err != nil {
		return err
	}
	f, err := s.r.ReadFrame()
	if err != nil {
		return err
	}
	if f.Command == stomp.CmdError {
		return loginRefused(ns.session)
	}
	if f.Command != stomp.CmdConnected {
		return fmt.Errorf("upstream: STOMP answered %s to CONNECT", f.Command)
	}
	switch v, _ := f.Get("version"); v {
	case "1.1":
		s.version = stomp.V11
	case "1.2":
		s.version = stomp.V12
	default:
		return fmt.Errorf("upstream: STOMP version %q, not 1.1 or 1.2", v)
	}
	s.r.SetVersion(s.version)
	hb, _ := f.Get("heart-beat")
	sx, _, err := stomp.ParseHeartBeat(hb)
	if err != nil {
		return err
	}
	s.idle = 0 // no heart-beats: the TCP keep-alive finds a dead peer
	if sx > 0 {
		s.idle = 3 * max(sx, noteHeartBeat)
	}
	return nil
}

// noteConn is the notification connection: each read must complete within
// idle (none when zero), so that a silent peer is noticed.
type noteConn struct {
	nc      net.Conn
	r       *stomp.Reader
	idle    time.Duration
	version stomp.Version // settled by CONNECTED; CONNECT is the same in every version
}

func (s *noteConn) Read(p []byte) (int, error) {
	var deadline time.Time
	if s.idle > 0 {
		deadline = time.Now().Add(s.idle)
	}
	if err := s.nc.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	return s.nc.Read(p)
}

func (s *noteConn) write(f *stomp.Frame) error {
	if err := s.nc.SetWriteDeadline(time.Now().Add(noteHeartBeat)); err != nil {
		return err
	}
	return stomp.WriteFrame(s.nc, f, s.version)
}

var _ io.Reader = (*noteConn)(nil)

// notificationAddr is where the upstream's STOMP interface listens: addr,
// or the URL's host on the HMC's port 61612 when addr is empty; "" for
// none when addr is "-".
func notificationAddr(addr, hostname string) string {
	switch addr {
	case "-":
		return ""
	case "":
		return net.JoinHostPort(strings.Trim(hostname, "[]"), DefaultNotificationPort)
	}
	return addr
}
