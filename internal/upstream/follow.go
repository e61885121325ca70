package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// logoffTimeout bounds the logoff when Run ends.
const logoffTimeout = 5 * time.Second

// Run follows the jobs of started operations until ctx ends, then logs
// off. Jobs still running stay running in the registry, and the next Run
// follows them again. Run may be called only once; Invoke answers 503.1
// after it ends, and an operation that starts a job waits for it to start.
func (c *Client) Run(ctx context.Context) error {
	c.runMu.Lock()
	if c.started {
		c.runMu.Unlock()
		return errors.New("upstream: Run called more than once")
	}
	c.started = true
	c.runMu.Unlock()

	var wg sync.WaitGroup
	defer func() {
		close(c.stopped)
		wg.Wait()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logoffTimeout)
		c.logoff(lctx)
		cancel()
		c.transport.CloseIdleConnections()
	}()
	if c.noteAddr != "" {
		wg.Go(func() { c.listen(ctx) })
	}
	// What an earlier run left: a job that names its upstream job (its
	// BackendRef, stored in the job's own write) is followed again; any
	// other cannot be, and its fate cannot be known. With replicas, only
	// the jobs no replica follows are taken, and the same search runs
	// again whenever a job may have lost its follower.
	n, err := 0, error(nil)
	if c.cfg.Claims != nil {
		err = c.rescan(ctx, &wg)
	} else {
		n, err = c.reg.Recover(ctx, func(j jobs.Job) bool {
			if j.BackendRef != "" {
				c.log.InfoContext(ctx, "following upstream job of an earlier run", "job", j.ID, "upstream_job", j.BackendRef)
			}
			return c.start(ctx, &wg, j, c.delay(c.interval()))
		}, unfollowableResult)
	}
	if err != nil && ctx.Err() != nil {
		return nil // stopped while settling: the next start settles the rest
	}
	if err != nil && c.cfg.Claims == nil {
		return fmt.Errorf("upstream: settling jobs of an earlier run: %w", err)
	}
	if err != nil {
		c.log.WarnContext(ctx, "jobs without a follower not searched yet; the next search will", "err", err)
	}
	if n > 0 {
		c.log.WarnContext(ctx, "ended jobs of an earlier run that name no upstream job", "count", n)
	}
	close(c.recovered)
	var lastScan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case h := <-c.handoff:
			if h.claimed != nil {
				c.followClaimed(ctx, &wg, h)
			} else {
				c.start(ctx, &wg, h.job, c.delay(c.interval()))
			}
		case <-c.vacated():
			if wait := minRescan - c.clock.Now().Sub(lastScan); wait > 0 {
				t := c.clock.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C():
				}
			}
			lastScan = c.clock.Now()
			if err := c.rescan(ctx, &wg); err != nil && ctx.Err() == nil {
				c.log.WarnContext(ctx, "search for jobs without a follower failed; the next one will try again", "err", err)
			}
		}
	}
}

// delay is the wait before the next query: d jittered by ±10%.
func (c *Client) delay(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*c.jitter()))
}

// interval is how often a running job is queried now: as a safety net
// while the job notifications are followed, else PollInterval.
func (c *Client) interval() time.Duration {
	if c.notes.isLive() {
		return c.cfg.NotifiedPollInterval
	}
	return c.cfg.PollInterval
}

// follow queries the upstream job of j first after first, then once per
// interval, and whenever a notification names it, until it ends,
// forwarding a cancel once the local job is cancel-pending. A job just
// started waits an interval; one a replica takes over from a replica that
// died was not queried for a while, and is at once.
func (c *Client) follow(ctx context.Context, j jobs.Job, first time.Duration) {
	ref := j.BackendRef
	notified, unregister := c.notes.register(ref)
	defer unregister()
	var canceled <-chan struct{}
	cancelWanted := j.Status == jobs.CancelPending
	if j.Cancelable && !cancelWanted {
		ch, stop := c.watchCancel(ctx, j)
		defer stop()
		canceled = ch
	}
	cancelSent := false
	wait := c.interval()
	failures := 0
	t := c.clock.NewTimer(first)
	defer func() { t.Stop() }()
	for {
		if cancelWanted && !cancelSent {
			cancelSent = c.forwardCancel(ctx, j)
		}
		select {
		case <-ctx.Done():
			return
		case <-canceled:
			canceled, cancelWanted = nil, true
			continue
		case <-notified:
			t.Stop()
		case <-t.C():
		}
		st, err := c.queryJob(ctx, ref)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, hmcerr.ErrNotFound):
			c.log.WarnContext(ctx, "upstream no longer knows the job", "job", j.ID, "upstream_job", ref)
			c.finish(ctx, j, lostResult())
			return
		case err != nil:
			failures++
			wait = min(2*wait, c.cfg.MaxBackoff)
			log := c.log.DebugContext
			if failures == 1 {
				log = c.log.WarnContext
			}
			log(ctx, "upstream job query failed", "job", j.ID, "upstream_job", ref, "failures", failures,
				"retry_in", wait, "err", err)
		case st.Status.Ended():
			// The final status is known: store it and clean up upstream
			// even if Run is stopping.
			ctx := context.WithoutCancel(ctx)
			if c.finish(ctx, j, st) {
				c.deleteJob(ctx, j, ref)
			}
			return
		default:
			if failures > 0 {
				c.log.InfoContext(ctx, "upstream job query succeeded again", "job", j.ID, "upstream_job", ref)
			}
			failures, wait = 0, c.interval()
		}
		t = c.clock.NewTimer(c.delay(wait))
	}
}

// unfollowableResult ends a job of an earlier run that names no upstream
// job, such as one the simulated SE ran before the gateway changed backend.
var unfollowableResult = jobs.Result{
	Status: jobs.Complete, StatusCode: hmcerr.JobLost.StatusCode, ReasonCode: hmcerr.JobLost.ReasonCode,
	Results: []byte(`{"message":"The gateway restarted while the operation ran; its outcome is unknown."}`),
}

// lostResult ends a job the upstream no longer knows: its outcome cannot
// be learned.
func lostResult() jobs.Result {
	return jobs.Result{
		Status: jobs.Complete, StatusCode: hmcerr.JobLost.StatusCode, ReasonCode: hmcerr.JobLost.ReasonCode,
		Results: []byte(`{"message":"The HMC no longer knows the job; its outcome is unknown."}`),
	}
}

// finish stores the final status locally and reports whether the upstream
// job status may now be deleted.
func (c *Client) finish(ctx context.Context, j jobs.Job, res jobs.Result) bool {
	_, err := c.reg.Finish(ctx, j.ID, res)
	switch {
	case err == nil:
		c.log.InfoContext(ctx, "upstream job ended", "job", j.ID, "upstream_job", j.BackendRef, "status", string(res.Status),
			"job-status-code", res.StatusCode, "job-reason-code", res.ReasonCode)
	case errors.Is(err, jobs.ErrAlreadyEnded), errors.Is(err, jobs.ErrNotFound):
		c.log.WarnContext(ctx, "upstream job ended, but the local job had ended or gone", "job", j.ID, "err", err)
	default:
		// The store failed: keep the upstream status, so that a later Run,
		// which finds the job not ended, can try again.
		c.log.ErrorContext(ctx, "upstream job ended, but its status could not be stored", "job", j.ID, "err", err)
		return false
	}
	return true
}

// deleteJob deletes the upstream job status once it is stored locally.
func (c *Client) deleteJob(ctx context.Context, j jobs.Job, ref string) {
	r, err := c.do(ctx, kindJobDelete, http.MethodDelete, ref, nil)
	switch {
	case err != nil:
		c.log.WarnContext(ctx, "upstream job status could not be deleted", "job", j.ID, "upstream_job", ref, "err", err)
	case !r.ok() && r.status != 404:
		e := backendError(r)
		c.log.WarnContext(ctx, "upstream refused to delete the job status", "job", j.ID, "upstream_job", ref,
			"status", e.HTTPStatus, "reason", e.Reason)
	}
}

// forwardCancel sends Cancel Job upstream and reports whether that is
// done with: accepted, or refused for good. It is not done when the
// upstream cannot be reached; the next tick tries again.
func (c *Client) forwardCancel(ctx context.Context, j jobs.Job) bool {
	r, err := c.do(ctx, kindJobCancel, http.MethodPost, j.BackendRef+"/operations/cancel", nil)
	if err != nil {
		c.log.WarnContext(ctx, "upstream cancel could not be sent", "job", j.ID, "upstream_job", j.BackendRef, "err", err)
		return false
	}
	if r.ok() {
		c.log.InfoContext(ctx, "upstream cancel accepted", "job", j.ID, "upstream_job", j.BackendRef)
		return true
	}
	e := backendError(r)
	if e.Kind == hmcerr.Unavailable || e.Kind == hmcerr.Internal {
		c.log.WarnContext(ctx, "upstream cancel failed", "job", j.ID, "status", e.HTTPStatus, "reason", e.Reason)
		return false
	}
	// 404.4 (not cancelable there), 409.41 (ended), 409.42 (pending),
	// 404.1 (gone): the next query tells how the job ends.
	c.log.WarnContext(ctx, "upstream refused the cancel", "job", j.ID, "upstream_job", j.BackendRef,
		"status", e.HTTPStatus, "reason", e.Reason, "message", e.Message)
	return true
}

// watchCancel closes the returned channel once a caller has canceled the
// local job. stop ends the watching and waits for it.
func (c *Client) watchCancel(ctx context.Context, j jobs.Job) (canceled <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err := c.reg.Watch(ctx, jobs.Caller{Owner: j.Owner}, j.ID)
		if err != nil {
			if ctx.Err() == nil {
				c.log.ErrorContext(ctx, "upstream job cannot see cancels", "job", j.ID, "err", err)
			}
			return
		}
		defer w.Close()
		for {
			cur, err := w.Next(ctx)
			if err != nil || cur.Status.Ended() {
				return
			}
			if cur.Status == jobs.CancelPending {
				close(ch)
				return
			}
		}
	}()
	return ch, func() { cancel(); <-done }
}

// queryJob asks the upstream for a job's status. A job it does not know is
// ErrNotFound.
func (c *Client) queryJob(ctx context.Context, ref string) (jobs.Result, error) {
	r, err := c.do(ctx, kindJobQuery, http.MethodGet, ref, nil)
	if err != nil {
		return jobs.Result{}, err
	}
	if r.status != 200 {
		e := backendError(r)
		if e.HTTPStatus == 404 && e.Reason == 1 {
			return jobs.Result{}, hmcerr.ErrNotFound
		}
		return jobs.Result{}, e
	}
	st, err := ParseJobStatus(r.body)
	if err != nil {
		return jobs.Result{}, hmcerr.As(err)
	}
	return st, nil
}

// ParseJobStatus reads an HMC Query Job Status answer. Status is any of the
// four states; for an ended job StatusCode (100 to 599) is required,
// ReasonCode is kept (the registry shows it only beside a code that is not
// 2xx), and Results holds job-results with only insignificant white space
// removed, nil when absent or null. The body must be one JSON object with
// no key given twice; keys other than these four are ignored.
func ParseJobStatus(body []byte) (jobs.Result, error) {
	var res jobs.Result
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return res, errors.New("upstream: the job status is not a JSON object")
	}
	seen := make(map[string]bool)
	var code, reason *int
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return res, errors.New("upstream: the job status is not valid JSON")
		}
		key, _ := tok.(string)
		if seen[key] {
			return res, fmt.Errorf("upstream: the job status gives %q twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return res, errors.New("upstream: the job status is not valid JSON")
		}
		switch key {
		case "status":
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || !jobs.Status(s).Valid() {
				return res, errors.New("upstream: the job status has no valid status")
			}
			res.Status = jobs.Status(s)
		case "job-status-code":
			v, err := jsonInt(raw)
			if err != nil || v < 100 || v > 599 {
				return res, errors.New("upstream: job-status-code is not an HTTP status")
			}
			code = &v
		case "job-reason-code":
			v, err := jsonInt(raw)
			if err != nil {
				return res, errors.New("upstream: job-reason-code is not an integer")
			}
			reason = &v
		case "job-results":
			if string(raw) == "null" {
				continue
			}
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return res, errors.New("upstream: job-results is not valid JSON")
			}
			res.Results = b.Bytes()
		}
	}
	if _, err := dec.Token(); err != nil {
		return jobs.Result{}, errors.New("upstream: the job status is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return jobs.Result{}, errors.New("upstream: the job status has more than one JSON value")
	}
	if res.Status == "" {
		return jobs.Result{}, errors.New("upstream: the job status has no status")
	}
	if !res.Status.Ended() {
		return jobs.Result{Status: res.Status}, nil
	}
	if code == nil {
		return jobs.Result{}, errors.New("upstream: an ended job has no job-status-code")
	}
	res.StatusCode = *code
	if reason != nil {
		res.ReasonCode = *reason
	}
	return res, nil
}

// jsonInt reads a JSON number that is an integer.
func jsonInt(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, errors.New("not a number")
	}
	v, err := strconv.ParseInt(string(raw), 10, 32)
	return int(v), err
}
