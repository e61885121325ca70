package app_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

const topicsPath = "/api/sessions/operations/get-notification-topics"

// TestGetNotificationTopics: a session's topic is the logon answer's
// job-notification-topic, a partition's is named after it; REST answers
// the HMC's JSON byte for byte, gRPC the same topics.
func TestGetNotificationTopics(t *testing.T) {
	g := startGateway(t, nil, func(c *app.Config) {
		c.UsersFile = writeUsers(t, map[string]string{sessionUser: sessionPassword})
	})
	sc := newSessionClients(t, g)
	ans := sc.logonREST(t, sessionUser, sessionPassword)
	var logon struct {
		Session string `json:"api-session"`
		Topic   string `json:"job-notification-topic"`
	}
	if err := json.Unmarshal(ans.body, &logon); err != nil || logon.Topic == "" {
		t.Fatalf("logon answer %s: %v", ans.body, err)
	}

	for _, c := range []struct {
		name, session, topic string
	}{
		{"session", logon.Session, logon.Topic},
		{"local partition", "", "bcpii-gateway.partition." + lp1 + ".job"},
	} {
		var hdr http.Header
		ctx := withMD(t)
		if c.session != "" {
			hdr = http.Header{"X-Api-Session": {c.session}}
			ctx = withMD(t, rpctypes.SessionKey, c.session)
		}
		a := g.rest(t, sc.rest, http.MethodGet, topicsPath, hdr, "")
		want := `{"topics":[{"topic-name":"` + c.topic + `","topic-type":"job-notification"}]}`
		if a.status != 200 || string(a.body) != want || a.header.Get("Content-Type") != "application/json;charset=UTF-8" {
			t.Errorf("%s: REST %d %s %s, want 200 %s", c.name, a.status, a.header.Get("Content-Type"), a.body, want)
		}
		r, err := sc.sessions.GetNotificationTopics(ctx, &bcpiiv1.GetNotificationTopicsRequest{})
		if err != nil || len(r.GetTopics()) != 1 || r.GetTopics()[0].GetTopicName() != c.topic || r.GetTopics()[0].GetTopicType() != "job-notification" {
			t.Errorf("%s: gRPC %v, %v; want topic %s", c.name, r, err, c.topic)
		}
	}

	// Without an identity: 403.4, as every request that needs one.
	g2 := sessionGateway(t, nil)
	sc2 := newSessionClients(t, g2)
	wantRESTError(t, g2.rest(t, sc2.rest, http.MethodGet, topicsPath, nil, ""), 403, 4)
	wantRESTError(t, g2.rest(t, sc2.rest, http.MethodPost, topicsPath, nil, ""), 405, 0)
	_, err := sc2.sessions.GetNotificationTopics(withMD(t), &bcpiiv1.GetNotificationTopicsRequest{})
	wantGRPCError(t, err, codes.Unauthenticated, 403, 4)
}
