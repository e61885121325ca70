package storetest

// The suite's tests that every field of a job survives the store.

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

func testResults(t *testing.T, s jobs.Store) {
	payloads := []string{
		`{"big":12345678901234567890,"n":{"a":[1,2]}}`,
		"{ \"spaced\" : [ 1 , 2 ] ,\n\t\"x\":1.50e+3 }",
		`{"html":"<a href=\"x\">&amp;</a>","u":"\u00e9\u2028","raw":"é😀"}`,
		`{"z":1,"a":2,"z":3}`,
		`{}`,
	}
	ch := watch(t, s)
	for _, p := range payloads {
		j := newJob(alice)
		j.Results = json.RawMessage(p)
		c := mustCreate(t, s, j)
		checkRaw(t, "Create result", c.Results, p)
		checkRaw(t, "Get", mustGet(t, s, c.ID).Results, p)
		checkRaw(t, "Watch create", recv(t, ch).Job.Results, p)

		u := ended(c, jobs.Complete, base)
		u.Results = json.RawMessage(p + " ")
		u = mustUpdate(t, s, u)
		checkRaw(t, "Update result", u.Results, p+" ")
		checkRaw(t, "Get after Update", mustGet(t, s, c.ID).Results, p+" ")
		checkRaw(t, "Watch update", recv(t, ch).Job.Results, p+" ")
		for _, l := range mustList(t, s, jobs.ListQuery{Owner: alice, After: c.CreateRevision - 1, Limit: 1}) {
			checkRaw(t, "List", l.Results, p+" ")
		}
		for _, e := range mustEndedBefore(t, s, base.Add(time.Second), 100) {
			if e.ID == c.ID {
				checkRaw(t, "EndedBefore", e.Results, p+" ")
			}
		}
		mustDelete(t, s, u)
		checkRaw(t, "Watch delete", recv(t, ch).Job.Results, p+" ")
	}

	// No results stay none.
	c := mustCreate(t, s, newJob(alice))
	if r := mustGet(t, s, c.ID).Results; len(r) != 0 {
		t.Errorf("job without results has Results %q", r)
	}
}

func checkRaw(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s: Results %q, want %q byte for byte", what, got, want)
	}
}

func testTimes(t *testing.T, s jobs.Store) {
	zone := time.FixedZone("odd", 5*3600+45*60)
	created := time.Now() // carries a monotonic reading and the local zone
	endedAt := base.In(zone).Add(987654321 * time.Nanosecond)
	times := []time.Time{created, base, base.In(zone), endedAt, time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC), time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)}

	ch := watch(t, s)
	for _, tm := range times {
		j := newJob(alice)
		j.Created = tm
		c := mustCreate(t, s, j)
		checkTime(t, "Create result Created", c.Created, tm)
		checkTime(t, "Get Created", mustGet(t, s, c.ID).Created, tm)
		checkTime(t, "Watch Created", recv(t, ch).Job.Created, tm)

		u := mustUpdate(t, s, ended(c, jobs.Complete, tm))
		checkTime(t, "Update result Ended", u.Ended, tm)
		got := mustGet(t, s, c.ID)
		checkTime(t, "Get Created after Update", got.Created, tm)
		checkTime(t, "Get Ended", got.Ended, tm)
		checkTime(t, "Watch Ended", recv(t, ch).Job.Ended, tm)
		ls := mustList(t, s, jobs.ListQuery{Owner: alice, After: c.CreateRevision - 1, Limit: 1})
		if len(ls) != 1 {
			t.Fatalf("List returned %d jobs, want 1", len(ls))
		}
		checkTime(t, "List Created", ls[0].Created, tm)
		checkTime(t, "List Ended", ls[0].Ended, tm)
		es := mustEndedBefore(t, s, tm.Add(time.Nanosecond), 1000)
		if !slices.ContainsFunc(es, func(e jobs.Job) bool { return e.ID == c.ID && e.Ended.Equal(tm) }) {
			t.Errorf("EndedBefore(%v) does not return the job that ended at %v", tm.Add(time.Nanosecond), tm)
		}
		mustDelete(t, s, u)
		recv(t, ch)
	}

	// A job that has not ended keeps a zero Ended.
	c := mustCreate(t, s, newJob(alice))
	if e := mustGet(t, s, c.ID).Ended; !e.IsZero() {
		t.Errorf("running job has Ended %v, want zero", e)
	}
}

func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

func testFields(t *testing.T, s jobs.Store) {
	j := jobs.Job{
		ID:         jobs.NewID(),
		Owner:      jobs.Owner{Kind: jobs.PartitionOwner, Name: "LPAR \"7\" é"},
		Target:     "CPC1.LPAR7",
		Operation:  "POST /api/partitions/x/operations/start",
		Cancelable: true,
		Status:     jobs.Running,
		Created:    base,
	}
	c := mustCreate(t, s, j)
	want := j
	want.Revision, want.CreateRevision = c.Revision, c.CreateRevision
	checkJob(t, "Get", mustGet(t, s, j.ID), want)

	want.Cancelable = false
	want.Status = jobs.Canceled
	want.StatusCode = 409
	want.ReasonCode = 42
	want.Ended = base.Add(time.Second)
	want.Target = ""
	want.Results = json.RawMessage(`{"message":"x"}`)
	u := mustUpdate(t, s, want)
	want.Revision = u.Revision
	checkJob(t, "Update result", u, want)
	checkJob(t, "Get after Update", mustGet(t, s, j.ID), want)
	checkJobs(t, "List", all(t, s, j.Owner), []jobs.Job{want})
	checkJobs(t, "EndedBefore", mustEndedBefore(t, s, base.Add(time.Hour), 10), []jobs.Job{want})
}

func testIsolation(t *testing.T, s jobs.Store) {
	const p = `{"a":1}`
	ch := watch(t, s)
	j := newJob(alice)
	j.Results = json.RawMessage(p)
	c := mustCreate(t, s, j)
	j.Results[2] = 'X'
	c.Results[3] = 'Y'
	checkRaw(t, "Watch after changing the caller's copies", recv(t, ch).Job.Results, p)
	got := mustGet(t, s, c.ID)
	checkRaw(t, "Get after changing the caller's copies", got.Results, p)
	got.Results[2] = 'Z'
	checkRaw(t, "Get after changing a returned copy", mustGet(t, s, c.ID).Results, p)
	for _, l := range all(t, s, alice) {
		l.Results[2] = 'W'
	}
	checkRaw(t, "Get after changing a listed copy", mustGet(t, s, c.ID).Results, p)

	u := mustGet(t, s, c.ID)
	u.Results = json.RawMessage(p)
	in := ended(u, jobs.Complete, base)
	u = mustUpdate(t, s, in)
	in.Results[3] = 'T'
	u.Results[2] = 'V'
	checkRaw(t, "Watch after changing the caller's copies of an update", recv(t, ch).Job.Results, p)
	for _, e := range mustEndedBefore(t, s, base.Add(time.Hour), 10) {
		e.Results[3] = 'U'
	}
	checkRaw(t, "Get after changing copies from Update and EndedBefore", mustGet(t, s, c.ID).Results, p)
}
