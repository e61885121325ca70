package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/osmsg"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
)

// conn is one STOMP connection. Its reader (serve) handles the client's
// frames; its writer (writeLoop) alone writes to the socket, from a queue
// that the reader and the topic feeds fill without waiting.
type conn struct {
	srv       *Server
	nc        net.Conn
	id        string
	principal bcpii.Principal
	logoff    string // the session the CONNECT logged on, ended with the connection
	version   stomp.Version

	mu        sync.Mutex
	queue     []item
	queued    int          // messages in queue
	last      bool         // the queue ends with the connection's last frame
	failed    *stomp.Frame // an ERROR to send instead of what is queued
	abandoned bool         // the client is gone: write nothing more
	wake      chan struct{}
	done      chan struct{} // closed when the writer has ended

	subs map[string]*subscription // by id; the reader's alone
	seq  int64                    // session-sequence-nr; the writer's alone
}

// item is a frame to write: a control frame, or a job-completion message
// for a subscription.
type item struct {
	frame  *stomp.Frame
	sub    *subscription
	jobURI string
	// An os-message notification: the partition's URI and the body.
	object string
	osBody []byte
}

// serve runs the connection until the client leaves, breaks the protocol,
// falls behind, or the server stops.
func (c *conn) serve(ctx context.Context) {
	defer c.nc.Close()
	r, send, ok := c.connect(ctx)
	if !ok {
		return
	}
	defer c.release()
	go c.writeLoop(send)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			if !errors.Is(err, stomp.ErrMalformed) && !errors.Is(err, stomp.ErrTooLarge) {
				c.abandon() // the client is gone, or went silent
				<-c.done
				return
			}
			c.fail(errorFrame(errFrame(err), nil))
			break
		}
		if !c.handle(ctx, f) {
			break
		}
	}
	// The last frame is queued: the writer writes it, within
	// WriteTimeout, and ends.
	<-c.done
}

// release ends the connection's subscriptions and the session its CONNECT
// logged on. The reader calls it, once the connection is over or before
// it acknowledges DISCONNECT.
func (c *conn) release() {
	for id, sub := range c.subs {
		c.srv.unsubscribe(sub)
		delete(c.subs, id)
	}
	if c.logoff != "" {
		_ = c.srv.auth.Sessions.Logoff(context.Background(), c.logoff) // the connection's context may have ended
		c.logoff = ""
	}
}

// deadlineReader gives every read of the socket a deadline idle from now,
// so that a client that promised heart-beats and went silent is let go;
// any byte, frame or heart-beat, counts.
type deadlineReader struct {
	nc   net.Conn
	idle time.Duration // zero: no deadline
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.idle > 0 {
		_ = d.nc.SetReadDeadline(time.Now().Add(d.idle))
	}
	return d.nc.Read(p)
}

// connect completes the TLS handshake, reads and answers CONNECT, within
// ConnectTimeout. It reports how often to send heart-beats.
func (c *conn) connect(ctx context.Context) (*stomp.Reader, time.Duration, bool) {
	s := c.srv
	_ = c.nc.SetDeadline(time.Now().Add(s.cfg.ConnectTimeout))
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			s.log.Info("stomp TLS handshake failed", "remote", c.nc.RemoteAddr().String(), "err", err)
			return nil, 0, false
		}
	}
	dr := &deadlineReader{nc: c.nc}
	r := stomp.NewReader(dr, s.cfg.Limits)
	f, err := r.ReadFrame()
	if err != nil {
		if errors.Is(err, stomp.ErrMalformed) || errors.Is(err, stomp.ErrTooLarge) {
			c.writeNow(errorFrame(errFrame(err), nil))
		}
		s.log.Info("stomp connection closed without a CONNECT frame", "remote", c.nc.RemoteAddr().String(), "err", err)
		return nil, 0, false
	}
	cx, cy, ferr := c.checkConnect(f)
	if ferr == nil {
		r.SetVersion(c.version)
	}
	if ferr == nil {
		c.principal, c.logoff, err = s.authenticate(ctx, s.credentialsOf(c.nc), f)
		if err != nil {
			s.log.Info("stomp login failed", "remote", c.nc.RemoteAddr().String(), "err", err)
			ferr = errLogin
		}
	}
	if ferr != nil {
		c.writeNow(errorFrame(ferr, f))
		return nil, 0, false
	}
	send, recv := s.cfg.HeartBeats.Negotiate(cx, cy)
	connected := &stomp.Frame{Command: stomp.CmdConnected}
	if c.version.HeartBeats() {
		connected.Add("version", c.version.String())
		connected.Add("heart-beat", s.cfg.HeartBeats.Header(send, recv))
	}
	connected.Add("server", "bcpii-gateway")
	connected.Add("session", c.id)
	if !c.writeNow(connected) {
		return nil, 0, false
	}
	_ = c.nc.SetDeadline(time.Time{})
	if recv > 0 {
		dr.idle = 2 * recv
	}
	s.log.Debug("stomp connected", "conn", c.id, "principal", c.principal.String(), "version", c.version.String())
	return r, send, true
}

// checkConnect checks the CONNECT frame, settles the connection's version
// and returns the client's heart-beat (none in 1.0, which has no
// heart-beating).
func (c *conn) checkConnect(f *stomp.Frame) (cx, cy time.Duration, err *frameError) {
	if f.Command != stomp.CmdConnect && f.Command != stomp.CmdStomp {
		return 0, 0, &frameError{"Expected CONNECT", "The first frame must be CONNECT or STOMP, not " + f.Command + "."}
	}
	v, ok := stomp.NegotiateVersion(f.Get("accept-version"))
	if !ok {
		return 0, 0, errVersion
	}
	c.version = v
	if !v.HeartBeats() {
		return 0, 0, nil
	}
	hb, _ := f.Get("heart-beat")
	cx, cy, perr := stomp.ParseHeartBeat(hb)
	if perr != nil {
		return 0, 0, errFrame(perr)
	}
	return cx, cy, nil
}

// authenticate decides who connects, by bcpii.Authenticator's one rule. A
// login and passcode are a session and its session-credential, or else an
// API user's userid and password, logged on here as SessionService.Logon
// does (the session is returned, to be logged off when the connection
// ends); without a login the connection's own facts decide: a partition's
// client certificate, or a local connection. Every failure is the same to
// the client.
func (s *Server) authenticate(ctx context.Context, facts bcpii.Credentials, f *stomp.Frame) (bcpii.Principal, string, error) {
	login, ok := f.Get("login")
	if !ok {
		id, err := s.auth.Authenticate(ctx, facts)
		return id.Principal, "", err
	}
	passcode, _ := f.Get("passcode")
	id, err := s.auth.Authenticate(ctx, bcpii.Credentials{Session: login, SessionPresent: true,
		SessionCredential: passcode, CredentialPresent: true})
	if err == nil {
		return id.Principal, "", nil
	}
	if s.auth.Sessions == nil {
		return bcpii.Principal{}, "", bcpii.ErrLogonFailed
	}
	ses, err := s.auth.Sessions.Logon(ctx, login, passcode)
	if err != nil {
		return bcpii.Principal{}, "", err
	}
	// The session just made is the principal's: no lookup is needed.
	return ses.Principal(), ses.ID, nil
}

// writeNow writes f at once, before the writer runs, within WriteTimeout.
func (c *conn) writeNow(f *stomp.Frame) bool {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	return stomp.WriteFrame(c.nc, f, c.version) == nil
}

// handle acts on one frame after CONNECT; it reports whether to go on.
func (c *conn) handle(ctx context.Context, f *stomp.Frame) bool {
	var err *frameError
	switch f.Command {
	case stomp.CmdSubscribe:
		err = c.subscribe(ctx, f)
	case stomp.CmdUnsubscribe:
		err = c.unsubscribe(f)
	case stomp.CmdDisconnect:
		c.release()
		c.send(receipt(f), true)
		return false
	case stomp.CmdConnect, stomp.CmdStomp:
		err = &frameError{"Already connected", "The connection is established; CONNECT comes once."}
	case stomp.CmdNack:
		if c.version == stomp.V10 {
			err = errUnknownCommand(f.Command, c.version)
			break
		}
		fallthrough
	case stomp.CmdSend, stomp.CmdAck, stomp.CmdBegin, stomp.CmdCommit, stomp.CmdAbort:
		err = &frameError{"Not supported", f.Command + " is not supported: the job topics are read-only and acknowledged automatically."}
	default:
		err = errUnknownCommand(f.Command, c.version)
	}
	if err != nil {
		c.fail(errorFrame(err, f))
		return false
	}
	if r := receipt(f); r != nil {
		c.send(r, false)
	}
	return true
}

// receipt is the RECEIPT f asks for, or nil.
func receipt(f *stomp.Frame) *stomp.Frame {
	id, ok := f.Get("receipt")
	if !ok {
		return nil
	}
	return &stomp.Frame{Command: stomp.CmdReceipt, Headers: []stomp.Header{{Key: "receipt-id", Value: id}}}
}

// topicPrefix starts every destination the gateway serves.
const topicPrefix = "/topic/"

func (c *conn) subscribe(ctx context.Context, f *stomp.Frame) *frameError {
	dest, _ := f.Get("destination")
	id, ok := f.Get("id")
	anonymous := !ok && c.version == stomp.V10 // 1.0's id is optional
	if anonymous {
		id = dest
	} else if !ok {
		return &frameError{"Missing id", "SUBSCRIBE needs an id header."}
	}
	if ack, ok := f.Get("ack"); ok && ack != "auto" {
		return &frameError{"Unsupported ack mode", "Only ack:auto is supported."}
	}
	if _, dup := c.subs[id]; dup {
		return &frameError{"Duplicate subscription", "The subscription id " + strconv.Quote(id) + " is in use on this connection."}
	}
	if len(c.subs) >= MaxSubscriptions {
		return &frameError{"Too many subscriptions", "A connection holds at most " + strconv.Itoa(MaxSubscriptions) + " subscriptions."}
	}
	name, ok := strings.CutPrefix(dest, topicPrefix)
	sub := &subscription{conn: c, id: id, dest: dest, anonymous: anonymous}
	if ch, isOS := c.srv.osChannel(name); isOS {
		// An OS message channel: its owner's alone, as a job topic.
		if ch.Owner != c.principal.Owner() {
			return errNoDestination
		}
		sub.stop = c.srv.cfg.OSMessages.Listen(ch.Object, func(msgs []osmsg.Message) { c.deliverOS(sub, ch.Object, msgs) })
		c.subs[id] = sub
		c.srv.log.Debug("stomp subscribed", "conn", c.id, "destination", dest)
		return nil
	}
	// Another's topic answers exactly as one that does not exist.
	if !ok || name == "" || !c.srv.auth.OwnsJobTopic(c.principal, name) {
		return errNoDestination
	}
	if err := c.srv.subscribe(ctx, name, c.principal.Owner(), sub); err != nil {
		c.srv.log.Error("stomp subscribe failed", "conn", c.id, "err", err)
		return errFeed
	}
	c.subs[id] = sub
	c.srv.log.Debug("stomp subscribed", "conn", c.id, "destination", dest)
	return nil
}

func (c *conn) unsubscribe(f *stomp.Frame) *frameError {
	id, ok := f.Get("id")
	if !ok && c.version == stomp.V10 {
		id, _ = f.Get("destination") // 1.0 may name the destination instead
	}
	sub, ok := c.subs[id]
	if !ok {
		return &frameError{"Unknown subscription", "No subscription " + strconv.Quote(id) + " on this connection."}
	}
	delete(c.subs, id)
	c.srv.unsubscribe(sub)
	c.mu.Lock()
	// What is queued for it is not sent: after UNSUBSCRIBE, nothing more.
	kept := c.queue[:0]
	for _, it := range c.queue {
		if it.sub != sub {
			kept = append(kept, it)
		} else {
			c.queued--
		}
	}
	clear(c.queue[len(kept):])
	c.queue = kept
	c.mu.Unlock()
	return nil
}
