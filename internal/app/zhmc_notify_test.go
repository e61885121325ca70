package app_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
)

// zhmcclientFrames are the bytes zhmcclient's NotificationReceiver sends
// through stomp.py 8.0's default connection (STOMP 1.1), recorded from a
// run of stomp.py configured as the receiver configures it: a STOMP frame
// with its heart-beats and the session as login and passcode (no host
// header: 1.1 sends none without a virtual host), SUBSCRIBE with ack:auto
// and the receiver's subscription id, and at the end DISCONNECT with a
// UUID receipt. SESSION, CREDENTIAL and TOPIC stand for the logon answer's
// fields.
const (
	zhmcclientConnect    = "STOMP\naccept-version:1.1\nheart-beat:5000,5000\nlogin:SESSION\npasscode:CREDENTIAL\n\n\x00"
	zhmcclientSubscribe  = "SUBSCRIBE\nack:auto\ndestination:/topic/TOPIC\nid:zhmcclient.4242.140237.0\n\n\x00"
	zhmcclientDisconnect = "DISCONNECT\nreceipt:0b6f7c1e-3c2d-4d8e-9a51-2f1e0c9b8a77\n\n\x00"
)

// TestZhmcclientNotificationReplay replays, byte for byte, what
// zhmcclient's NotificationReceiver sends over STOMP, with a REST logon's
// session, credential and job topic, and receives the completion of the
// job the session starts, as a 1.1 MESSAGE the receiver reads.
func TestZhmcclientNotificationReplay(t *testing.T) {
	const user, password = "operator", "Replay-Passw0rd-4z"
	subscribed := make(chan struct{}, 1)
	var logs syncBuffer
	h := &onMessage{Handler: slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
		msg: "stomp subscribed", seen: subscribed}
	g := startGateway(t, slog.New(h), func(c *app.Config) {
		c.UsersFile = writeUsers(t, map[string]string{user: password})
	})
	rc := g.restClient(t)
	objs := g.discover(t, rc, nil)
	a := g.rest(t, rc, "POST", "/api/sessions", nil, `{"userid":"`+user+`","password":"`+password+`"}`)
	if a.status != http.StatusOK {
		t.Fatalf("logon: %d %s", a.status, a.body)
	}
	var logon struct {
		Session    string `json:"api-session"`
		Credential string `json:"session-credential"`
		Topic      string `json:"job-notification-topic"`
	}
	if err := json.Unmarshal(a.body, &logon); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("SESSION", logon.Session, "CREDENTIAL", logon.Credential, "TOPIC", logon.Topic)

	c := g.stompDial(t)
	write := func(s string) {
		t.Helper()
		_ = c.Conn.SetWriteDeadline(time.Now().Add(waitLimit))
		if _, err := c.Conn.Write([]byte(fill.Replace(s))); err != nil {
			t.Fatal(err)
		}
	}
	write(zhmcclientConnect)
	c.Expect(stomp.CmdConnected, "version", "1.1", "heart-beat", "5000,5000", "server", "bcpii-gateway")
	c.SetVersion(stomp.V11)
	write(zhmcclientSubscribe)
	select {
	case <-subscribed:
	case <-time.After(waitLimit):
		t.Fatalf("no subscription logged\n%s", logs.String())
	}

	a = g.rest(t, rc, "POST", objs["LP2"].uri+"/operations/activate", http.Header{"X-API-Session": {logon.Session}}, "")
	uri := jobURIFromBody(t, a)
	g.clock.Advance(3 * time.Second)
	c.Expect(stomp.CmdMessage, "destination", "/topic/"+logon.Topic, "subscription", "zhmcclient.4242.140237.0",
		"notification-type", "job-completion", "job-uri", uri, "session-sequence-nr", "0")
	write(zhmcclientDisconnect)
	c.Expect(stomp.CmdReceipt, "receipt-id", "0b6f7c1e-3c2d-4d8e-9a51-2f1e0c9b8a77")
}

// TestOSMessageChannel: as zhmcclient's zhmc_lpar_command does it, an API
// user opens an OS message channel on an operating LPAR, subscribes to
// its topic over STOMP with its userid and password, sends an OS command,
// and receives the operating system's messages as os-message
// notifications whose JSON body lists them. The topic is its opener's:
// another user subscribing to it is answered as for a topic that does not
// exist.
func TestOSMessageChannel(t *testing.T) {
	const user, password, other, otherPassword = "operator", "Channel-Passw0rd-1", "other", "Channel-Passw0rd-2"
	g := startGateway(t, nil, func(c *app.Config) {
		c.UsersFile = writeUsers(t, map[string]string{user: password, other: otherPassword})
	})
	rc := g.restClient(t)
	objs := g.discover(t, rc, nil)
	a := g.rest(t, rc, "POST", "/api/sessions", nil, `{"userid":"`+user+`","password":"`+password+`"}`)
	ses := http.Header{"X-Api-Session": {jsonField(t, a.body, "api-session")}}
	lp1 := objs["LP1"].uri
	a = g.rest(t, rc, "POST", lp1+"/operations/open-os-message-channel", ses, `{"include-refresh-messages":false}`)
	if a.status != http.StatusOK {
		t.Fatalf("open-os-message-channel: %d %s", a.status, a.body)
	}
	topic := jsonField(t, a.body, "topic-name")
	// Not on an LPAR without an operating system.
	wantRESTError(t, g.rest(t, rc, "POST", objs["LP3"].uri+"/operations/open-os-message-channel", ses, ""), 409, 332)

	intruder := g.stompDial(t)
	intruder.connect("login", other, "passcode", otherPassword)
	intruder.Send(stomp.CmdSubscribe, "id", "x", "destination", "/topic/"+topic, "receipt", "r")
	intruder.Expect(stomp.CmdError, "message", "No such destination")

	c := g.stompDial(t)
	c.connect("login", user, "passcode", password)
	c.subscribe("os", topic)
	a = g.rest(t, rc, "POST", lp1+"/operations/send-os-cmd", ses, `{"operating-system-command-text":"D T"}`)
	if a.status != http.StatusNoContent {
		t.Fatalf("send-os-cmd: %d %s", a.status, a.body)
	}
	var texts []string
	for len(texts) < 2 {
		m := c.Expect(stomp.CmdMessage, "notification-type", "os-message", "object-uri", lp1, "destination", "/topic/"+topic)
		var body struct {
			Messages []struct {
				Text string `json:"message-text"`
				Seq  *int64 `json:"sequence-number"`
			} `json:"os-messages"`
		}
		if err := json.Unmarshal(m.Body, &body); err != nil {
			t.Fatalf("body %q: %v", m.Body, err)
		}
		for _, msg := range body.Messages {
			if msg.Seq == nil {
				t.Errorf("message %+v has no sequence-number", msg)
			}
			texts = append(texts, msg.Text)
		}
	}
	if texts[0] != "D T" || !strings.Contains(texts[1], "D T") {
		t.Errorf("messages %q", texts)
	}
}
