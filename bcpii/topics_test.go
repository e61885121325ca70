package bcpii

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLookupCredential(t *testing.T) {
	s, clk := newTestSessions(t, time.Hour)
	ses, err := s.Logon(context.Background(), "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupCredential(context.Background(), ses.ID, ses.Credential)
	if err != nil || got.User != "alice" || got.Credential != "" {
		t.Fatalf("LookupCredential = %v, %v; want alice's session without its credential", got, err)
	}
	for name, c := range map[string]string{"wrong": ses.Credential[:42] + "x", "empty": "", "the id": ses.ID} {
		if _, err := s.LookupCredential(context.Background(), ses.ID, c); !errors.Is(err, ErrSessionNotValid) {
			t.Errorf("%s credential: %v, want ErrSessionNotValid", name, err)
		}
	}
	if _, err := s.LookupCredential(context.Background(), ses.Credential, ses.ID); !errors.Is(err, ErrSessionNotValid) {
		t.Errorf("id and credential swapped: %v, want ErrSessionNotValid", err)
	}
	clk.Advance(time.Hour + time.Second)
	if _, err := s.LookupCredential(context.Background(), ses.ID, ses.Credential); !errors.Is(err, ErrSessionNotValid) {
		t.Errorf("expired session: %v, want ErrSessionNotValid", err)
	}
}

func TestAuthenticateSessionCredential(t *testing.T) {
	f := newAuthFixture(t)
	ses, err := f.auth.Sessions.Logon(context.Background(), "alice", alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	p, err := principalOf(f.auth.Authenticate(context.Background(), Credentials{Session: ses.ID, SessionPresent: true, SessionCredential: ses.Credential, CredentialPresent: true}))
	if err != nil || p.User() != "alice" {
		t.Fatalf("Authenticate = %v, %v; want alice", p, err)
	}
	_, err = principalOf(f.auth.Authenticate(context.Background(), Credentials{Session: ses.ID, SessionPresent: true, SessionCredential: "nope", CredentialPresent: true}))
	if !errors.Is(err, ErrSessionNotValid) {
		t.Fatalf("wrong credential: %v, want ErrSessionNotValid", err)
	}
	// An empty credential presented is still checked, not taken for none.
	_, err = principalOf(f.auth.Authenticate(context.Background(), Credentials{Session: ses.ID, SessionPresent: true, CredentialPresent: true}))
	if !errors.Is(err, ErrSessionNotValid) {
		t.Fatalf("empty credential: %v, want ErrSessionNotValid", err)
	}
}

func TestOwnsJobTopic(t *testing.T) {
	s, clk := newTestSessions(t, time.Hour)
	a := &Authenticator{Sessions: s}
	alice1, _ := s.Logon(context.Background(), "alice", alicePassword)
	alice2, _ := s.Logon(context.Background(), "alice", alicePassword)
	bob, _ := s.Logon(context.Background(), "bob", bobPassword)
	partition := func(name string) Principal {
		tn, err := ParseTargetName(name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := PartitionPrincipal(tn)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	lp1, lp2 := partition("IBM390PS.CPC1.LP1"), partition("IBM390PS.CPC1.LP2")
	alice, _ := UserPrincipal("alice")
	bobP, _ := UserPrincipal("bob")
	lp1Topic := PartitionJobTopic(lp1.Partition())
	for _, c := range []struct {
		p     Principal
		topic string
		want  bool
	}{
		{alice, alice1.JobNotificationTopic, true},
		{alice, alice2.JobNotificationTopic, true},
		{alice, bob.JobNotificationTopic, false},
		{bobP, alice1.JobNotificationTopic, false},
		{alice, alice1.NotificationTopic, false},
		{alice, lp1Topic, false},
		{lp1, lp1Topic, true},
		{lp2, lp1Topic, false},
		{lp1, alice1.JobNotificationTopic, false},
		{Principal{}, lp1Topic, false},
		{alice, "", false},
	} {
		if got := a.OwnsJobTopic(c.p, c.topic); got != c.want {
			t.Errorf("OwnsJobTopic(%v, %q) = %v, want %v", c.p, c.topic, got, c.want)
		}
	}
	if err := s.Logoff(context.Background(), alice1.ID); err != nil {
		t.Fatal(err)
	}
	if a.OwnsJobTopic(alice, alice1.JobNotificationTopic) {
		t.Error("the topic of a logged-off session is still owned")
	}
	clk.Advance(time.Hour + time.Second)
	if a.OwnsJobTopic(alice, alice2.JobNotificationTopic) {
		t.Error("the topic of an expired session is still owned")
	}
	s.Sweep()
	if n := len(s.table.(*memTable).topics); n != 0 {
		t.Errorf("%d topics left after every session ended", n)
	}
}
