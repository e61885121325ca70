package jobs_test

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

var (
	alice = jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	lp1   = jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}
	epoch = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
)

func newRegistry(t *testing.T) (*jobs.Registry, *clocktest.Fake, *memstore.Store) {
	t.Helper()
	fc := clocktest.NewFake(epoch)
	st := memstore.New()
	r, err := jobs.New(jobs.Config{Store: st, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, fc, st
}

func create(t *testing.T, r *jobs.Registry, owner jobs.Owner, cancelable bool) jobs.Job {
	t.Helper()
	j, err := r.Create(context.Background(), jobs.Spec{Owner: owner, Cancelable: cancelable, Operation: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestNewRefusesShortRetention(t *testing.T) {
	_, err := jobs.New(jobs.Config{Store: memstore.New(), Retention: jobs.MinRetention - time.Second})
	if err == nil {
		t.Fatal("a retention under 4h was accepted")
	}
	r, err := jobs.New(jobs.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Retention() != jobs.MinRetention {
		t.Errorf("default retention = %v", r.Retention())
	}
}

func TestStateMachine(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	me := jobs.Caller{Owner: alice}

	j := create(t, r, alice, true)
	if j.Status != jobs.Running || !jobs.ValidID(j.ID) || j.Owner != alice {
		t.Fatalf("created %+v", j)
	}
	j, err := r.Cancel(ctx, me, j.ID)
	if err != nil || j.Status != jobs.CancelPending {
		t.Fatalf("cancel: %+v %v", j, err)
	}
	if _, err := r.Cancel(ctx, me, j.ID); !errors.Is(err, jobs.ErrCancelPending) {
		t.Fatalf("second cancel: %v", err)
	}
	j, err = r.Finish(ctx, j.ID, jobs.Result{Status: jobs.Canceled, StatusCode: 409, ReasonCode: 2, Results: []byte(`{"x":1}`)})
	if err != nil || j.Status != jobs.Canceled || j.Ended.IsZero() || j.ReasonCode != 2 {
		t.Fatalf("finish: %+v %v", j, err)
	}
	// Ended jobs never change.
	if _, err := r.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200}); !errors.Is(err, jobs.ErrAlreadyEnded) {
		t.Fatalf("finish twice: %v", err)
	}
	if _, err := r.Cancel(ctx, me, j.ID); !errors.Is(err, jobs.ErrEnded) {
		t.Fatalf("cancel ended: %v", err)
	}
	got, err := r.Get(ctx, me, j.ID)
	if err != nil || got.Status != jobs.Canceled || got.StatusCode != 409 || string(got.Results) != `{"x":1}` {
		t.Fatalf("get: %+v %v", got, err)
	}
}

func TestFinishRefusesNonFinalStatus(t *testing.T) {
	r, _, _ := newRegistry(t)
	j := create(t, r, alice, true)
	for _, res := range []jobs.Result{
		{Status: jobs.Running, StatusCode: 200},
		{Status: jobs.CancelPending, StatusCode: 200},
		{Status: jobs.Complete, StatusCode: 0},
		{Status: jobs.Complete, StatusCode: 600},
	} {
		if _, err := r.Finish(context.Background(), j.ID, res); err == nil {
			t.Errorf("Finish(%+v) accepted", res)
		}
	}
}

func TestReasonCodeOnlyForNon2xx(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	ok := create(t, r, alice, false)
	ok, _ = r.Finish(ctx, ok.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200, ReasonCode: 5})
	if ok.HasReasonCode() || ok.ReasonCode != 0 {
		t.Errorf("2xx job keeps a reason code: %+v", ok)
	}
	bad := create(t, r, alice, false)
	bad, _ = r.Finish(ctx, bad.ID, jobs.Result{Status: jobs.Complete, StatusCode: 500, ReasonCode: 0})
	if !bad.HasReasonCode() {
		t.Errorf("500 job has no reason code: %+v", bad)
	}
	running := create(t, r, alice, false)
	if running.HasStatusCode() || running.HasReasonCode() || running.HasResults() {
		t.Errorf("running job shows end fields: %+v", running)
	}
}

func TestOwnershipAndCheckOrder(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	j := create(t, r, lp1, false)
	errTarget := hmcerr.ErrBadTargetName
	checked := 0
	other := jobs.Caller{Owner: jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP2"}, Check: checkFunc(func(jobs.Job) error {
		checked++
		return errTarget
	})}
	// Not owned: 404.1, and the check never runs.
	if _, err := r.Get(ctx, other, j.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("get by other: %v", err)
	}
	if _, err := r.Cancel(ctx, other, j.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("cancel by other: %v", err)
	}
	if err := r.Delete(ctx, other, j.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("delete by other: %v", err)
	}
	if checked != 0 {
		t.Errorf("check ran %d times for a job the caller does not own", checked)
	}
	// A user named like the partition is still someone else.
	impostor := jobs.Caller{Owner: jobs.Owner{Kind: jobs.UserOwner, Name: lp1.Name}}
	if _, err := r.Get(ctx, impostor, j.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("get by same-named user: %v", err)
	}
	// Owned: the check answers before the state rule (404.4 here).
	mine := jobs.Caller{Owner: lp1, Check: checkFunc(func(jobs.Job) error { return errTarget })}
	if _, err := r.Cancel(ctx, mine, j.ID); !errors.Is(err, hmcerr.ErrBadTargetName) {
		t.Errorf("cancel with failing check: %v", err)
	}
	mine.Check = nil
	if _, err := r.Cancel(ctx, mine, j.ID); !errors.Is(err, jobs.ErrNotCancelable) {
		t.Errorf("cancel of uncancelable job: %v", err)
	}
}

func TestRetentionAndSweep(t *testing.T) {
	r, fc, st := newRegistry(t)
	ctx := context.Background()
	me := jobs.Caller{Owner: alice}
	old := create(t, r, alice, false)
	if _, err := r.Finish(ctx, old.ID, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Hour)
	young := create(t, r, alice, false)
	if _, err := r.Finish(ctx, young.ID, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
		t.Fatal(err)
	}
	running := create(t, r, alice, true)

	fc.Advance(3 * time.Hour) // old ended exactly 4h ago
	if _, err := r.Get(ctx, me, old.ID); err != nil {
		t.Fatalf("at exactly 4h: %v", err)
	}
	if n, err := r.Sweep(ctx, 100); err != nil || n != 0 {
		t.Fatalf("sweep at 4h: %d %v", n, err)
	}
	fc.Advance(time.Nanosecond)
	if _, err := r.Get(ctx, me, old.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("after 4h: %v", err)
	}
	// Listing hides it too, before any sweep.
	list, _, err := r.List(ctx, me, jobs.ListOptions{Limit: 10})
	if err != nil || len(list) != 2 {
		t.Fatalf("list = %d jobs, %v", len(list), err)
	}
	if n, err := r.Sweep(ctx, 100); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if _, err := st.Get(ctx, old.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("swept job still stored: %v", err)
	}
	fc.Advance(100 * time.Hour) // running jobs never expire
	if _, err := r.Get(ctx, me, running.ID); err != nil {
		t.Fatalf("running job after 100h: %v", err)
	}
	if n, err := r.Sweep(ctx, 100); err != nil || n != 1 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
}

func TestRunSweeperOnInjectedClock(t *testing.T) {
	r, fc, st := newRegistry(t)
	// The deadline bounds every wait of the test, and ends the sweeper.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	done := make(chan struct{})
	go func() { r.RunSweeper(ctx, time.Minute); close(done) }()
	j := create(t, r, alice, false)
	if _, err := r.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
		t.Fatal(err)
	}
	w, err := r.Watch(ctx, jobs.Caller{Owner: alice}, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Next(ctx); err != nil { // the final state
		t.Fatal(err)
	}
	if !fc.WaitForTimers(1, ctx.Done()) {
		t.Fatal("sweeper set no timer")
	}
	fc.Advance(jobs.MinRetention + time.Minute)
	// The sweeper deletes the job; the store's feed shows it.
	feed := st.Watch(ctx)
	for {
		if !fc.WaitForTimers(1, ctx.Done()) {
			t.Fatal("sweeper stopped")
		}
		if _, err := st.Get(ctx, j.ID); errors.Is(err, jobs.ErrNoJob) {
			break
		}
		select {
		case c := <-feed:
			if !c.Deleted || c.Job.ID != j.ID {
				t.Fatalf("unexpected change %+v", c)
			}
		case <-ctx.Done():
			t.Fatal("sweeper did not delete the expired job")
		}
	}
	cancel()
	<-done
}

func TestDeleteRules(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	me := jobs.Caller{Owner: alice}
	j := create(t, r, alice, true)
	if err := r.Delete(ctx, me, j.ID); !errors.Is(err, jobs.ErrNotEnded) {
		t.Fatalf("delete running: %v", err)
	}
	if _, err := r.Cancel(ctx, me, j.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, me, j.ID); !errors.Is(err, jobs.ErrNotEnded) {
		t.Fatalf("delete cancel-pending: %v", err)
	}
	if _, err := r.Finish(ctx, j.ID, jobs.Result{Status: jobs.Canceled, StatusCode: 500, ReasonCode: 263}); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, me, j.ID); err != nil {
		t.Fatalf("delete canceled: %v", err)
	}
	if err := r.Delete(ctx, me, j.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestWatcherCoalescesButKeepsFinal(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	me := jobs.Caller{Owner: alice}
	j := create(t, r, alice, true)
	w, err := r.Watch(ctx, me, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The watcher reads nothing while the job changes twice and ends.
	if _, err := r.Cancel(ctx, me, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Finish(ctx, j.ID, jobs.Result{Status: jobs.Canceled, StatusCode: 500, ReasonCode: 263}); err != nil {
		t.Fatal(err)
	}
	var seen []jobs.Status
	for {
		got, err := w.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, got.Status)
		if len(seen) > 3 {
			t.Fatalf("too many states: %v", seen)
		}
	}
	if seen[len(seen)-1] != jobs.Canceled {
		t.Fatalf("states %v do not end with canceled", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			t.Fatalf("state repeated: %v", seen)
		}
	}
}

func TestManyWatchersAllSeeTheEnd(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	me := jobs.Caller{Owner: alice}
	j := create(t, r, alice, true)
	const n = 200 // more than three of the hub's wake batches
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ready := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		w, err := r.Watch(ctx, me, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Close()
			var last jobs.Job
			for {
				got, err := w.Next(ctx)
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- err
					return
				}
				if last.ID == "" {
					ready <- struct{}{}
				}
				last = got
			}
			if last.Status != jobs.Complete || last.StatusCode != 200 {
				errs <- errors.New("watcher ended on " + string(last.Status))
			}
		}()
	}
	for i := 0; i < n; i++ {
		<-ready
	}
	if _, err := r.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestWatchDeletedBeforeEnd(t *testing.T) {
	r, fc, st := newRegistry(t)
	_ = fc
	ctx := context.Background()
	me := jobs.Caller{Owner: alice}
	j := create(t, r, alice, true)
	w, err := r.Watch(ctx, me, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Next(ctx); err != nil {
		t.Fatal(err)
	}
	cur, _ := st.Get(ctx, j.ID)
	if err := st.Delete(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(ctx); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("after deletion: %v", err)
	}
}

func TestListPaging(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	me := jobs.Caller{Owner: alice}
	var want []string
	for i := 0; i < 7; i++ {
		want = append(want, create(t, r, alice, false).ID)
		create(t, r, lp1, false)
	}
	var got []string
	after := int64(0)
	for i := 0; i < 10; i++ {
		page, next, err := r.List(ctx, me, jobs.ListOptions{After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page {
			got = append(got, j.ID)
		}
		if next == 0 {
			break
		}
		after = next
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("paged list = %v, want %v", got, want)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestNewIDIsLowerCaseUUIDv4(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := jobs.NewID()
		if !uuidRE.MatchString(id) || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("bad id %q", id)
		}
		if !jobs.ValidID(id) || seen[id] {
			t.Fatalf("id %q invalid or repeated", id)
		}
		seen[id] = true
	}
}

func FuzzValidID(f *testing.F) {
	for _, s := range []string{jobs.NewID(), "", "x", "0B7E3A52-8F0C-4C5E-9A55-1F4F7D1C2A10", "0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a1%2F", "0b7e3a528f0c4c5e9a551f4f7d1c2a10aaaa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := jobs.ValidID(s), uuidRE.MatchString(s); got != want {
			t.Fatalf("ValidID(%q) = %v, want %v", s, got, want)
		}
	})
}

// The job domain knows no transport: it must not import grpc, protobuf or
// the generated code, however indirectly.
func TestDomainImportsNoTransport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "google.golang.org/") || strings.Contains(dep, "/gen/") ||
			strings.HasPrefix(dep, "github.com/grpc-ecosystem/") || strings.HasPrefix(dep, "net/http") {
			t.Errorf("internal/jobs depends on %s", dep)
		}
	}
}

func TestWatcherReady(t *testing.T) {
	r, fc, st := newRegistry(t)
	_ = fc
	ctx := context.Background()
	j := create(t, r, alice, true)
	w, err := r.Watch(ctx, jobs.Caller{Owner: alice}, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The current status is there at once.
	if err := w.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing new: Ready waits, until its context ends.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := w.Ready(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ready with nothing new = %v, want the context's end", err)
	}
	// A deletion makes Next answer at once, so Ready returns.
	cur, _ := st.Get(ctx, j.ID)
	if err := st.Delete(ctx, cur); err != nil {
		t.Fatal(err)
	}
	bounded, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := w.Ready(bounded); err != nil {
		t.Fatalf("Ready after the deletion = %v", err)
	}
	if _, err := w.Next(bounded); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("Next after the deletion = %v", err)
	}
}

// pacedStore asks a sweep for two deletes at once (jobs.SweepPacer) and
// records the most it gets. The first deletes are held until a third is
// under way too or the hold ends (release): a sweep ignoring the pace
// starts its other deletes within microseconds, and is seen doing so.
type pacedStore struct {
	jobs.Store
	mu             sync.Mutex
	cond           *sync.Cond
	inflight, most int
	released       bool
}

func (p *pacedStore) SweepPace() (int, float64) { return 2, 0 }

func (p *pacedStore) Delete(ctx context.Context, j jobs.Job) error {
	p.mu.Lock()
	p.inflight++
	p.most = max(p.most, p.inflight)
	p.cond.Broadcast()
	for p.inflight <= 2 && !p.released {
		p.cond.Wait()
	}
	p.mu.Unlock()
	err := p.Store.Delete(ctx, j)
	p.mu.Lock()
	p.inflight--
	p.mu.Unlock()
	return err
}

func (p *pacedStore) release() {
	p.mu.Lock()
	p.released = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// A store that paces sweeps gets no more deletes at once than it asks for.
func TestSweepKeepsTheStorePace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a wait
	defer cancel()
	st := &pacedStore{Store: memstore.New()}
	st.cond = sync.NewCond(&st.mu)
	fc := clocktest.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r, err := jobs.New(jobs.Config{Store: st, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 10 {
		j := create(t, r, alice, false)
		if _, err := r.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
			t.Fatal(err)
		}
	}
	fc.Advance(jobs.MinRetention + 5*time.Hour)
	hold := time.AfterFunc(200*time.Millisecond, st.release)
	defer hold.Stop()
	n, err := r.Sweep(ctx, 100)
	if err != nil || n != 10 {
		t.Fatalf("sweep: %d %v, want 10 jobs", n, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.most != 2 {
		t.Errorf("the sweep had %d deletes at once, want the store's 2", st.most)
	}
}

// rateStore asks a sweep for one delete at once and ten a second.
type rateStore struct{ jobs.Store }

func (rateStore) SweepPace() (int, float64) { return 1, 10 }

// A store's rate holds on the registry's clock: five deletes at ten a
// second take 400 ms of it, the first at once.
func TestSweepKeepsTheStoreRate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a wait
	defer cancel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fc := clocktest.NewFake(start)
	r, err := jobs.New(jobs.Config{Store: rateStore{memstore.New()}, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 5 {
		j := create(t, r, alice, false)
		if _, err := r.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 204}); err != nil {
			t.Fatal(err)
		}
	}
	fc.Advance(jobs.MinRetention + time.Hour)
	begin := fc.Now()
	done := make(chan struct{})
	var n int
	go func() {
		defer close(done)
		n, err = r.Sweep(ctx, 100)
	}()
	for {
		select {
		case <-done:
			if err != nil || n != 5 {
				t.Fatalf("sweep: %d %v, want 5 jobs", n, err)
			}
			if took := fc.Now().Sub(begin); took != 400*time.Millisecond {
				t.Errorf("five deletes at ten a second took %v of the clock, want 400ms", took)
			}
			return
		default:
		}
		waiting := make(chan struct{})
		go func() {
			defer close(waiting)
			fc.WaitForTimerWithin(time.Second, done)
		}()
		select {
		case <-waiting:
		case <-ctx.Done():
			t.Fatal("the sweep neither ended nor waited")
		}
		select {
		case <-done:
		default:
			fc.Advance(10 * time.Millisecond)
		}
	}
}

// checkFunc is a jobs.Checker that is a function.
type checkFunc func(jobs.Job) error

func (f checkFunc) Check(j jobs.Job) error { return f(j) }
