package simse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/osmsg"
)

// Config configures an SE. Zero values take the documented defaults.
type Config struct {
	// Inventory is what the SE manages; nil means DefaultInventory. The SE
	// keeps its own copy: later changes to it have no effect.
	Inventory *Inventory
	// Registry receives the jobs of the operations. Required.
	Registry *jobs.Registry
	// Clock times the operations; nil means the system clock.
	Clock clock.Clock
	// Logger receives the SE's logs; nil discards them.
	Logger *slog.Logger
	// OSMessages gets the messages of the simulated operating systems, for
	// the OS message channels that Open OS Message Channel opens on it;
	// nil means a hub of the SE's own (SE.OSMessages).
	OSMessages *osmsg.Hub
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Registry == nil {
		errs = append(errs, errors.New("simse: Config.Registry is required"))
	}
	if c.Inventory != nil {
		if err := c.Inventory.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SE is the simulated Support Element. Operations run as jobs in the
// registry; Run must be running for them to start and end.
type SE struct {
	reg   *jobs.Registry
	clock clock.Clock
	log   *slog.Logger
	hub   *osmsg.Hub

	// The object tree and every object's identity are fixed in New and
	// read without a lock; statuses and busy flags change under mu.
	cpcs    []*object
	byURI   map[string]*object
	console bcpii.ConsoleVersion
	// perms are the BCPii permissions of the partitions, by target name.
	perms map[bcpii.TargetName]bcpii.Permissions

	handoff   chan *run     // Invoke hands started operations to Run
	recovered chan struct{} // closed when Run has settled earlier runs' jobs
	stopped   chan struct{} // closed when Run has stopped accepting them

	mu      sync.Mutex
	started bool // Run has been called
}

type object struct {
	kind, id, name, target, uri string
	dpm                         bool   // of a CPC
	ptype                       string // of a partition
	parent                      *object
	children                    []*object
	// resources are a CPC's adapters, virtual switches and storage
	// groups; records its capacity records, by record-identifier.
	resources []*object
	records   map[string]*capacityRecord
	ops       map[string]Operation
	// props are the object's data-model properties (classes.go): the
	// class's defaults, the inventory's values and updates; properties
	// adds those that follow the object's identity and state. Guarded by
	// SE.mu.
	props map[string]any
	// profiles are a classic CPC's activation profiles, by kind, in the
	// inventory's order.
	profiles map[string][]*profile
	// nextProfile is an LPAR's next-activation-profile-name.
	nextProfile string

	// Guarded by SE.mu.
	status string
	busy   bool      // an operation runs on the object
	lpar   lparState // of an LPAR
	os     osConsole // of an LPAR or a DPM partition
}

// New returns an SE over cfg.Inventory. It starts nothing; Run does.
func New(cfg Config) (*SE, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	inv := cfg.Inventory
	if inv == nil {
		var err error
		if inv, err = DefaultInventory(); err != nil {
			return nil, err
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OSMessages == nil {
		cfg.OSMessages = osmsg.New()
	}
	s := &SE{
		reg:       cfg.Registry,
		hub:       cfg.OSMessages,
		clock:     cfg.Clock,
		log:       cfg.Logger,
		byURI:     make(map[string]*object),
		perms:     make(map[bcpii.TargetName]bcpii.Permissions),
		handoff:   make(chan *run),
		recovered: make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	s.console = inv.Console.version()
	for _, c := range inv.CPCs {
		s.addCPC(c)
	}
	return s, nil
}

// OSMessages is the hub of the OS message channels the SE opens, which
// the STOMP notification server serves.
func (s *SE) OSMessages() *osmsg.Hub { return s.hub }

// ConsoleVersion is the HMC the SE answers Query API Version as: the
// inventory's console, at the API level the gateway serves.
func (s *SE) ConsoleVersion(context.Context) (bcpii.ConsoleVersion, error) { return s.console, nil }

// Run first settles what an earlier SE on the same store left: a simulated
// SE forgets its operations when it dies, so every job the store holds not
// ended (running or cancel-pending) is ended complete with
// job-status-code 503, reason 1, its outcome unknown. Only then do
// operations start. Run runs them until ctx ends, then ends every job still
// running with 503.1 too, or canceled if a cancel was pending, since no one
// else would ever end them; it returns once they are all ended. Stop Run
// before closing the registry's store. Run may be called only once.
func (s *SE) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("simse: Run called more than once")
	}
	s.started = true
	s.mu.Unlock()
	var wg sync.WaitGroup
	defer func() {
		close(s.stopped)
		wg.Wait()
	}()
	n, err := s.reg.Recover(ctx, func(jobs.Job) bool { return false }, orphanedResult)
	if err != nil && ctx.Err() != nil {
		return nil // stopped while settling: the next start settles the rest
	}
	if err != nil {
		return fmt.Errorf("simse: ending jobs left running: %w", err)
	}
	if n > 0 {
		s.log.Warn("ended jobs a previous simulated SE left running", "count", n)
	}
	close(s.recovered)

	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.handoff:
			wg.Go(func() { s.follow(ctx, r) })
		}
	}
}

// Resolve tells the target name of the object uri addresses, as
// bcpii.Addressed sees it: a CPC for /api/cpcs/{id} and anything under it,
// a logical partition or a partition for /api/logical-partitions/{id} or
// /api/partitions/{id} and anything under them. It reports false for
// anything else, List CPCs included, and for ids the SE does not know.
func (s *SE) Resolve(uri string) (bcpii.TargetName, bool) {
	obj, ok := bcpii.Addressed(uri)
	if !ok {
		return bcpii.TargetName{}, false
	}
	o := s.byURI[obj.URI()]
	if o == nil {
		return bcpii.TargetName{}, false
	}
	t, err := bcpii.ParseTargetName(o.target)
	return t, err == nil
}

// Errors the SE answers with, beyond the shared ones. Invoke marks every
// error as the backend's (bcpii-error false), since the SE raised it.
var (
	// errBadJSON (400.7): the body is not well-formed JSON; the gateway
	// answers a body it cannot read as JSON with the same reason.
	errBadJSON = hmcerr.ErrInvalidField.WithMessage("The request body is not well-formed JSON.")
	// errUnknownProperty (400.14): Get Properties was asked for a property
	// the object does not have.
	errUnknownProperty = hmcerr.ErrUnknownProperty
	// errBusy (409.2): another operation runs on the object, its CPC or
	// one of its partitions.
	errBusy = hmcerr.ErrBusy
	// errNotDPM (409.5): start and stop of a CPC need DPM mode, as on the
	// HMC.
	errNotDPM = hmcerr.ErrNotDPM
)

// Invoke performs one request. Queries answer 200 at once; operations
// answer 202 with the URI of a job that is in the registry before Invoke
// returns. Failures are *hmcerr.Error, judged in the order of the job
// contract: path, method, query, body, object, state. An operation waits
// for Run to take it over; should ctx end first, its job is ended with
// 503.1 rather than left running, and Invoke answers 503.1.
func (s *SE) Invoke(ctx context.Context, req bcpii.OperationRequest) (bcpii.OperationResponse, error) {
	resp, err := s.invoke(ctx, req)
	if err != nil {
		e := *hmcerr.As(err)
		// 503.1 says the SE could not be reached: that is the gateway's to
		// say, not the SE's.
		e.Backend = e.Kind != hmcerr.Unavailable && e.Kind != hmcerr.Internal
		return bcpii.OperationResponse{}, &e
	}
	return resp, nil
}

func (s *SE) invoke(ctx context.Context, req bcpii.OperationRequest) (bcpii.OperationResponse, error) {
	m, err := bcpii.MatchOperation(req.Method, req.URI)
	if err != nil {
		return bcpii.OperationResponse{}, err
	}
	q, err := parseQuery(m.Route, m.Query)
	if err != nil {
		return bcpii.OperationResponse{}, err
	}
	if m.Route.Kind == bcpii.KindConsole && m.Route.Method == "POST" {
		if err := s.permit(req, nil); err != nil {
			return bcpii.OperationResponse{}, err
		}
		return createMetricsContext(req.Body)
	}
	if m.Route.Sync {
		return s.sync(req, m)
	}
	var opts options
	if m.Route.Action == "" {
		if len(bytes.TrimSpace(req.Body)) > 0 {
			return bcpii.OperationResponse{}, hmcerr.ErrBodyNotExpected
		}
	} else if opts, err = parseBody(m.Route, req.Body); err != nil {
		return bcpii.OperationResponse{}, err
	}
	var obj *object
	if !m.Object.IsZero() {
		if obj = s.byURI[m.Object.URI()]; obj == nil {
			return bcpii.OperationResponse{}, hmcerr.ErrNotFound
		}
	}
	if err := s.permit(req, obj); err != nil {
		return bcpii.OperationResponse{}, err
	}
	if m.Route.Action == "" {
		q.origin = req.Principal.Partition()
		return s.get(m, q)
	}
	return s.start(ctx, req, m, opts)
}

// sync answers a Sync route's request: its body must be a JSON object
// (before the object is looked up, in the HMC's order), the object must
// exist and the BCPii permissions allow the request.
func (s *SE) sync(req bcpii.OperationRequest, m bcpii.Match) (bcpii.OperationResponse, error) {
	// Open OS Message Channel's body is optional.
	if m.Route.Name != "Open OS Message Channel" || len(bytes.TrimSpace(req.Body)) > 0 {
		if err := isJSONObjectBody(req.Body); err != nil {
			return bcpii.OperationResponse{}, err
		}
	}
	obj := s.byURI[m.Object.URI()]
	if obj == nil {
		return bcpii.OperationResponse{}, hmcerr.ErrNotFound
	}
	if err := s.permit(req, obj); err != nil {
		return bcpii.OperationResponse{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if busy(obj) && m.Route.Name != "Send OS Command" {
		return bcpii.OperationResponse{}, errBusy
	}
	if m.Route.Name == "Open OS Message Channel" {
		return s.openOSChannel(req.Owner(), obj, req.Body)
	}
	return s.syncRequest(m, obj, req.Body)
}

// permit applies the BCPii permissions to a request of a partition on obj
// (nil for List CPCs and the console): its target is the one it names.
func (s *SE) permit(req bcpii.OperationRequest, obj *object) error {
	if !req.Principal.IsPartition() {
		return nil
	}
	requester := req.Principal.Partition()
	var target bcpii.TargetName
	if obj != nil {
		target, _ = bcpii.ParseTargetName(obj.target)
	}
	return bcpii.Permit(requester, target, func(t bcpii.TargetName) (bcpii.Permissions, bool) {
		p, ok := s.perms[t]
		return p, ok
	})
}

// run is one started operation.
type run struct {
	job   jobs.Job
	obj   *object
	plan  plan
	prior string // the object's status before the operation
	timer clock.Timer
}

func (s *SE) start(ctx context.Context, req bcpii.OperationRequest, m bcpii.Match, opts options) (bcpii.OperationResponse, error) {
	obj := s.byURI[m.Object.URI()]
	if obj == nil {
		return bcpii.OperationResponse{}, hmcerr.ErrNotFound
	}
	if obj.kind == bcpii.KindCPC && !obj.dpm {
		return bcpii.OperationResponse{}, errNotDPM
	}
	// Jobs of an earlier run are settled before any of this run starts.
	select {
	case <-s.recovered:
	case <-s.stopped:
		return bcpii.OperationResponse{}, hmcerr.ErrUnavailable
	case <-ctx.Done():
		return bcpii.OperationResponse{}, hmcerr.ErrUnavailable.WithCause(ctx.Err())
	}
	select {
	case <-s.stopped:
		return bcpii.OperationResponse{}, hmcerr.ErrUnavailable
	default:
	}

	// Reserve the object, then register the job without holding the lock:
	// a store write may be slow, and queries should not wait for it.
	r, err := s.reserve(obj, m, opts)
	if err != nil {
		return bcpii.OperationResponse{}, err
	}

	job, err := s.reg.Create(ctx, jobs.Spec{
		Owner:      req.Owner(),
		Target:     req.Target.String(),
		Operation:  req.Method + " " + req.URI,
		Cancelable: r.plan.cancelable,
	})
	if err != nil {
		s.release(r, false)
		return bcpii.OperationResponse{}, hmcerr.As(err)
	}
	r.job = job
	r.timer = s.clock.NewTimer(r.plan.duration)
	s.log.Info("simulated operation started", "job", job.ID, "operation", job.Operation, "owner", job.Owner.String(),
		"duration", r.plan.duration, "cancelable", r.plan.cancelable)

	select {
	case s.handoff <- r:
	case <-s.stopped:
		s.abandon(ctx, r, nil)
		return bcpii.OperationResponse{}, hmcerr.ErrUnavailable
	case <-ctx.Done():
		s.abandon(ctx, r, ctx.Err())
		return bcpii.OperationResponse{}, hmcerr.ErrUnavailable.WithCause(ctx.Err())
	}
	var body bytes.Buffer
	body.WriteString(`{"job-uri":`)
	writeString(&body, job.URI())
	body.WriteByte('}')
	return bcpii.OperationResponse{Status: 202, Body: body.Bytes(), JobURI: job.URI()}, nil
}

// reserve marks obj busy with the operation m asks for and plans it. An
// activate resolves its profile; a load takes its address and parameter
// from the LPAR when the request gives none.
func (s *SE) reserve(obj *object, m bcpii.Match, opts options) (*run, error) {
	var err error
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Route.Action == "activate" && obj.kind == bcpii.KindLogicalPartition {
		opts.act = planActivation(obj, opts.profile)
	}
	if m.Route.Action == "load" && obj.kind == bcpii.KindLogicalPartition {
		if opts.loadAddress, err = loadAddress(obj, opts.loadAddress); err != nil {
			return nil, err
		}
		if !opts.paramSet {
			opts.loadParameter = obj.lpar.loadParameter
		}
	}
	if busy(obj) {
		return nil, errBusy
	}
	r := &run{obj: obj, prior: obj.status, plan: planFor(obj, m.Route, opts)}
	obj.busy = true
	if r.plan.during != "" {
		obj.status = r.plan.during
	}
	return r, nil
}

// abandon ends a job that Run never took over, so that it does not stay
// running forever.
func (s *SE) abandon(ctx context.Context, r *run, cause error) {
	r.timer.Stop()
	s.log.Warn("simulated operation not started", "job", r.job.ID, "err", cause)
	s.finish(context.WithoutCancel(ctx), r, stoppedResult(r))
}

// busy reports whether an operation runs on o or would conflict with one:
// operations on a CPC and on its partitions exclude each other.
func busy(o *object) bool {
	if o.busy || o.parent != nil && o.parent.busy {
		return true
	}
	for _, c := range o.children {
		if c.busy {
			return true
		}
	}
	return false
}

// release frees the object of r, applying the operation's effect if it
// succeeded and restoring the prior status otherwise.
func (s *SE) release(r *run, succeeded bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if succeeded && r.plan.effect != nil {
		r.plan.effect()
		if osRunning(r.obj) && r.prior != r.obj.status {
			s.osStarted(r.obj)
		}
	} else {
		r.obj.status = r.prior
	}
	r.obj.busy = false
}

// follow runs one operation to its end: its duration passes, a cancel is
// seen, or Run stops.
func (s *SE) follow(ctx context.Context, r *run) {
	defer r.timer.Stop()
	// Only a cancelable job can become cancel-pending, so only those need
	// watching.
	var canceled <-chan struct{}
	if r.plan.cancelable {
		c, stop := s.watchCancel(ctx, r.job)
		defer stop()
		canceled = c
	}
	select {
	case <-r.timer.C():
		s.finish(ctx, r, r.plan.result)
		return
	case <-ctx.Done():
		s.finish(context.WithoutCancel(ctx), r, stoppedResult(r))
		return
	case <-canceled:
	}
	if d := r.plan.cancelDuration; d > 0 {
		t := s.clock.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C():
		case <-ctx.Done():
			ctx = context.WithoutCancel(ctx)
		}
	}
	s.finish(ctx, r, canceledResult(r))
}

// watchCancel follows the job in the registry and closes the returned
// channel when a caller has canceled it. stop ends the watching and waits
// for it.
func (s *SE) watchCancel(ctx context.Context, job jobs.Job) (canceled <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	c := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err := s.reg.Watch(ctx, jobs.Caller{Owner: job.Owner}, job.ID)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("simulated operation cannot see cancels", "job", job.ID, "err", err)
			}
			return
		}
		defer w.Close()
		for {
			j, err := w.Next(ctx)
			if err != nil || j.Status.Ended() {
				return
			}
			if j.Status == jobs.CancelPending {
				close(c)
				return
			}
		}
	}()
	return c, func() { cancel(); <-done }
}

// finish applies the outcome to the object, then ends the job, so that a
// caller who sees the job end also sees the object as it left it.
func (s *SE) finish(ctx context.Context, r *run, res jobs.Result) {
	s.release(r, res.Status == jobs.Complete && res.StatusCode >= 200 && res.StatusCode <= 299)
	if _, err := s.reg.Finish(ctx, r.job.ID, res); err != nil {
		s.log.Error("simulated operation could not end its job", "job", r.job.ID, "err", err)
		return
	}
	s.log.Info("simulated operation ended", "job", r.job.ID, "status", string(res.Status),
		"job-status-code", res.StatusCode, "job-reason-code", res.ReasonCode)
}

func operationDuration(cfg Operation) time.Duration {
	if cfg.Duration > 0 {
		return cfg.Duration
	}
	return DefaultDuration
}
