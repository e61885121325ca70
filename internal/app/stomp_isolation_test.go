package app_test

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp/stomptest"
)

// stompClient is a STOMP client over TLS on the gateway's frame codec,
// every read and write bounded by waitLimit.
type stompClient struct{ *stomptest.Client }

func (g *gateway) stompDial(t *testing.T, certs ...tls.Certificate) *stompClient {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitLimit}, Config: g.tlsConfig(certs...)}
	nc, err := d.Dial("tcp", g.addrs.STOMP)
	if err != nil {
		t.Fatal(err)
	}
	return &stompClient{stomptest.New(t, nc, waitLimit)}
}

func (c *stompClient) connect(headers ...string) {
	c.T.Helper()
	c.Send(stomp.CmdConnect, append([]string{"accept-version", "1.2", "host", "localhost"}, headers...)...)
	c.Expect(stomp.CmdConnected)
}

// subscribe subscribes to topic and waits for the receipt.
func (c *stompClient) subscribe(id, topic string) {
	c.T.Helper()
	c.Send(stomp.CmdSubscribe, "id", id, "destination", "/topic/"+topic, "receipt", "sub-"+id)
	c.Expect(stomp.CmdReceipt, "receipt-id", "sub-"+id)
}

// noMessage checks that no message came: a receipt asked for now comes
// after anything already sent.
func (c *stompClient) noMessage() {
	c.T.Helper()
	c.Send(stomp.CmdDisconnect, "receipt", "bye")
	c.Expect(stomp.CmdReceipt, "receipt-id", "bye")
}

// refusedTopic subscribes to topic on a new connection and returns the
// ERROR frame answered, encoded.
func (g *gateway) refusedTopic(t *testing.T, topic string, certs []tls.Certificate, login ...string) []byte {
	t.Helper()
	c := g.stompDial(t, certs...)
	c.connect(login...)
	c.Send(stomp.CmdSubscribe, "id", "x", "destination", "/topic/"+topic)
	b, err := stomp.AppendFrame(nil, c.Expect(stomp.CmdError, "message", "No such destination"), stomp.V12)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStompIsolation: over TLS, a user, a second user and a partition (by
// its client certificate, without login) each on their own topic receive
// only their own jobs' completions; another's topic answers exactly as one
// that does not exist; a connection with no identity cannot log in.
func TestStompIsolation(t *testing.T) {
	ca := newCA(t, "partitions CA")
	const u1, p1, u2, p2 = "operator", "Isolation-Passw0rd-1", "other", "Isolation-Passw0rd-2"
	g := startGateway(t, nil, func(c *app.Config) {
		c.ClientCAFile = ca.file
		c.NoLoopbackIdentity = true
		c.UsersFile = writeUsers(t, map[string]string{u1: p1, u2: p2})
	})
	cert := ca.partitionCert(t, lp2)
	prest := g.restClient(t, cert)
	objs := g.discover(t, prest, nil)
	urest := g.restClient(t)
	logon := func(user, password string) (session, credential, topic string) {
		a := g.rest(t, urest, http.MethodPost, "/api/sessions", nil, `{"userid":"`+user+`","password":"`+password+`"}`)
		return jsonField(t, a.body, "api-session"), jsonField(t, a.body, "session-credential"), jsonField(t, a.body, "job-notification-topic")
	}
	s1, cred1, topic1 := logon(u1, p1)
	_, _, topic2 := logon(u2, p2)
	tb := g.rest(t, prest, http.MethodGet, topicsPath, nil, "")
	ptopic := "bcpii-gateway.partition." + lp2 + ".job"
	if want := `{"topics":[{"topic-name":"` + ptopic + `","topic-type":"job-notification"}]}`; string(tb.body) != want {
		t.Fatalf("partition topics %s, want %s", tb.body, want)
	}

	c1 := g.stompDial(t)
	c1.connect("login", s1, "passcode", cred1)
	c1.subscribe("1", topic1)
	c2 := g.stompDial(t)
	c2.connect("login", u2, "passcode", p2)
	c2.subscribe("2", topic2)
	cp := g.stompDial(t, cert)
	cp.connect()
	cp.subscribe("p", ptopic)

	start := func(client *http.Client, hdr http.Header, uri string) string {
		a := g.rest(t, client, http.MethodPost, uri, hdr, "")
		if a.status != http.StatusAccepted {
			t.Fatalf("POST %s: %d %s", uri, a.status, a.body)
		}
		return jsonField(t, a.body, "job-uri")
	}
	userJob := start(urest, http.Header{"X-Api-Session": {s1}}, objs["PART1"].uri+"/operations/start")
	partJob := start(prest, http.Header{"X-Api-Target-Name": {lp2}}, objs["LP2"].uri+"/operations/activate")
	g.clock.Advance(3 * time.Second)
	c1.Expect(stomp.CmdMessage, "job-uri", userJob, "session-sequence-nr", "0")
	cp.Expect(stomp.CmdMessage, "job-uri", partJob, "session-sequence-nr", "0")
	c1.noMessage()
	cp.noMessage()
	c2.noMessage()

	none := "bcpii-gateway.0123456789abcdef.job"
	for _, who := range []struct {
		name  string
		certs []tls.Certificate
		login []string
		other string
	}{
		{"second user", nil, []string{"login", u2, "passcode", p2}, topic1},
		{"second user", nil, []string{"login", u2, "passcode", p2}, ptopic},
		{"partition", []tls.Certificate{cert}, nil, topic1},
		{"partition", []tls.Certificate{cert}, nil, "bcpii-gateway.partition." + lp1 + ".job"},
	} {
		want := g.refusedTopic(t, none, who.certs, who.login...)
		if got := g.refusedTopic(t, who.other, who.certs, who.login...); !bytes.Equal(got, want) {
			t.Errorf("%s subscribing to %s: %q, want as for no topic %q", who.name, who.other, got, want)
		}
	}

	anon := g.stompDial(t)
	anon.Send(stomp.CmdConnect, "accept-version", "1.2", "host", "localhost")
	anon.Expect(stomp.CmdError, "message", "Login failed")
}
