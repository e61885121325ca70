package bcpii

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

func TestPrincipalPartition(t *testing.T) {
	p, err := PartitionPrincipal(mustTarget(t, "ibm390ps.cpc1.lp1"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsPartition() || p.IsZero() || p.User() != "" {
		t.Errorf("IsPartition %v, IsZero %v, User %q", p.IsPartition(), p.IsZero(), p.User())
	}
	if got := p.String(); got != "IBM390PS.CPC1.LP1" {
		t.Errorf("String = %q", got)
	}
	want := jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}
	if got := p.Owner(); got != want {
		t.Errorf("Owner = %+v, want %+v", got, want)
	}
	if got := p.Caller("", false).Owner; got != want {
		t.Errorf("Caller().Owner = %+v, want %+v", got, want)
	}

	for _, bad := range []TargetName{{}, mustTarget(t, "IBM390PS.CPC1")} {
		if _, err := PartitionPrincipal(bad); err == nil {
			t.Errorf("PartitionPrincipal(%q) succeeded", bad)
		}
	}
}

func TestPrincipalUser(t *testing.T) {
	p, err := UserPrincipal("alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.IsPartition() || p.IsZero() || !p.Partition().IsZero() {
		t.Errorf("IsPartition %v, IsZero %v, Partition %v", p.IsPartition(), p.IsZero(), p.Partition())
	}
	if p.String() != "alice" || p.User() != "alice" {
		t.Errorf("String %q, User %q", p.String(), p.User())
	}
	want := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	if got := p.Owner(); got != want {
		t.Errorf("Owner = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", " alice", "alice\n", "al\x00ice", "al\u200bice", "\xff", strings.Repeat("a", 257)} {
		if _, err := UserPrincipal(bad); err == nil {
			t.Errorf("UserPrincipal(%q) succeeded", bad)
		}
	}
	var zero Principal
	if !zero.IsZero() || !zero.Owner().IsZero() || zero.String() != "" {
		t.Errorf("zero Principal: IsZero %v, Owner %+v, String %q", zero.IsZero(), zero.Owner(), zero.String())
	}
}

// TestCallerTargetHeader covers spec section 4: a job started over BCPii is
// seen only through a request whose X-API-Target-Name names its target.
func TestCallerTargetHeader(t *testing.T) {
	lp1 := mustTarget(t, "IBM390PS.CPC1.LP1")
	part, _ := PartitionPrincipal(lp1)
	user, _ := UserPrincipal("alice")
	bcpiiJob := jobs.Job{ID: jobs.NewID(), Owner: part.Owner(), Target: "IBM390PS.CPC1.LP2"}
	cpcJob := jobs.Job{ID: jobs.NewID(), Owner: part.Owner(), Target: "IBM390PS.CPC1"}

	tests := []struct {
		name    string
		p       Principal
		job     jobs.Job
		header  string
		present bool
		wantErr string // "" for no error, else a substring of the message
	}{
		{name: "header missing", p: part, job: bcpiiJob, wantErr: "is missing"},
		{name: "header present but empty", p: part, job: bcpiiJob, header: "", present: true, wantErr: "is not valid"},
		{name: "header malformed", p: part, job: bcpiiJob, header: "IBM390PS.CPC1.LP2.", present: true, wantErr: "is not valid"},
		{name: "header with spaces", p: part, job: bcpiiJob, header: " IBM390PS.CPC1.LP2", present: true, wantErr: "is not valid"},
		{name: "header names another partition", p: part, job: bcpiiJob, header: "IBM390PS.CPC1.LP1", present: true, wantErr: "does not name the target"},
		{name: "header names the CPC of the job's partition", p: part, job: bcpiiJob, header: "IBM390PS.CPC1", present: true, wantErr: "does not name the target"},
		{name: "header names a partition of the job's CPC", p: part, job: cpcJob, header: "IBM390PS.CPC1.LP2", present: true, wantErr: "does not name the target"},
		{name: "header names a Unicode look-alike", p: part, job: cpcJob, header: "IBM390PS.CPC\u212A", present: true, wantErr: "is not valid"},
		{name: "right target", p: part, job: bcpiiJob, header: "IBM390PS.CPC1.LP2", present: true},
		{name: "right target in lower case", p: part, job: bcpiiJob, header: "ibm390ps.cpc1.lp2", present: true},
		{name: "right CPC target", p: part, job: cpcJob, header: "ibm390ps.CPC1", present: true},
		{name: "partition's job without target needs no header", p: part, job: jobs.Job{Owner: part.Owner()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.p.Caller(tt.header, tt.present)
			if c.Check == nil {
				t.Fatal("a partition's Caller has no Check")
			}
			err := c.Check.Check(tt.job)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, hmcerr.ErrBadTargetName) {
				t.Fatalf("Check = %v, want 400.2", err)
			}
			if e := hmcerr.As(err); e.HTTPStatus != 400 || e.Reason != 2 || e.Kind != hmcerr.InvalidArgument ||
				!strings.Contains(e.Message, tt.wantErr) {
				t.Fatalf("Check = %d.%d %v %q, want 400.2 with %q", e.HTTPStatus, e.Reason, e.Kind, e.Message, tt.wantErr)
			}
		})
	}

	t.Run("user ignores header", func(t *testing.T) {
		for _, h := range []struct {
			v       string
			present bool
		}{{"", false}, {"garbage", true}, {"IBM390PS.CPC1.LP9", true}} {
			c := user.Caller(h.v, h.present)
			if c.Check != nil {
				t.Fatalf("Caller(%q, %v) of an API user has a Check", h.v, h.present)
			}
			if c.Owner != user.Owner() {
				t.Fatalf("Caller().Owner = %+v", c.Owner)
			}
		}
	})
}

func TestTargetFromHeader(t *testing.T) {
	got, err := TargetFromHeader("ibm390ps.cpc1", true)
	if err != nil || got.String() != "IBM390PS.CPC1" {
		t.Fatalf("TargetFromHeader = %v, %v", got, err)
	}
	for _, in := range []struct {
		v       string
		present bool
	}{{"", false}, {"IBM390PS.CPC1", false}, {"", true}, {"x", true}} {
		if _, err := TargetFromHeader(in.v, in.present); !errors.Is(err, hmcerr.ErrBadTargetName) {
			t.Errorf("TargetFromHeader(%q, %v) = %v, want 400.2", in.v, in.present, err)
		}
	}
}

// TestCallerWithRegistry runs the Check inside a real registry: ownership
// (404.1) is judged before the target header (400.2), so a partition learns
// nothing about another partition's jobs from the header rule.
func TestCallerWithRegistry(t *testing.T) {
	ctx := context.Background()
	reg, err := jobs.New(jobs.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	lp1, _ := PartitionPrincipal(mustTarget(t, "IBM390PS.CPC1.LP1"))
	lp2, _ := PartitionPrincipal(mustTarget(t, "IBM390PS.CPC1.LP2"))
	alice, _ := UserPrincipal("alice")
	j, err := reg.Create(ctx, jobs.Spec{Owner: lp1.Owner(), Target: "IBM390PS.CPC1.LP3", Cancelable: true})
	if err != nil {
		t.Fatal(err)
	}
	uj, err := reg.Create(ctx, jobs.Spec{Owner: alice.Owner()})
	if err != nil {
		t.Fatal(err)
	}

	check := func(name string, c jobs.Caller, id string, want error) {
		t.Helper()
		_, err := reg.Get(ctx, c, id)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("%s: Get = %v, want %v", name, err, want)
		}
	}
	check("other partition, no header", lp2.Caller("", false), j.ID, hmcerr.ErrNotFound)
	check("other partition, right header", lp2.Caller("IBM390PS.CPC1.LP3", true), j.ID, hmcerr.ErrNotFound)
	check("API user, right header", alice.Caller("IBM390PS.CPC1.LP3", true), j.ID, hmcerr.ErrNotFound)
	check("owner, no header", lp1.Caller("", false), j.ID, hmcerr.ErrBadTargetName)
	check("owner, own name as header", lp1.Caller("IBM390PS.CPC1.LP1", true), j.ID, hmcerr.ErrBadTargetName)
	check("owner, right header", lp1.Caller("ibm390ps.cpc1.lp3", true), j.ID, nil)
	check("user's own job, no header", alice.Caller("", false), uj.ID, nil)
	check("partition, user's job", lp1.Caller("", false), uj.ID, hmcerr.ErrNotFound)

	if _, err := reg.Cancel(ctx, lp1.Caller("IBM390PS.CPC1.LP1", true), j.ID); !errors.Is(err, hmcerr.ErrBadTargetName) {
		t.Errorf("Cancel with the wrong header = %v, want 400.2", err)
	}
	if _, err := reg.Cancel(ctx, lp1.Caller("IBM390PS.CPC1.LP3", true), j.ID); err != nil {
		t.Errorf("Cancel with the right header: %v", err)
	}
}
