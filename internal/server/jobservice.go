package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Limits on caller-chosen values.
const (
	DefaultPageSize    = 100
	MaxPageSize        = 1000
	DefaultWaitTimeout = 60 * time.Second
	MaxWaitTimeout     = 10 * time.Minute
)

// jobService is the gRPC face of the job registry: it converts, asks the
// registry, and converts back. Errors go back as the registry returned them;
// the errors interceptor turns them into statuses.
type jobService struct {
	bcpiiv1.UnimplementedJobServiceServer
	srv *Server
}

func (s *jobService) GetJob(ctx context.Context, req *bcpiiv1.GetJobRequest) (*bcpiiv1.GetJobResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	j, err := s.srv.reg.Get(ctx, c, req.GetJobId())
	if err != nil {
		return nil, err
	}
	return &bcpiiv1.GetJobResponse{Job: JobToProto(j)}, nil
}

func (s *jobService) CancelJob(ctx context.Context, req *bcpiiv1.CancelJobRequest) (*bcpiiv1.CancelJobResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.srv.reg.Cancel(ctx, c, req.GetJobId()); err != nil {
		return nil, err
	}
	return &bcpiiv1.CancelJobResponse{}, nil
}

func (s *jobService) DeleteJob(ctx context.Context, req *bcpiiv1.DeleteJobRequest) (*bcpiiv1.DeleteJobResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.srv.reg.Delete(ctx, c, req.GetJobId()); err != nil {
		return nil, err
	}
	return &bcpiiv1.DeleteJobResponse{}, nil
}

func (s *jobService) ListJobs(ctx context.Context, req *bcpiiv1.ListJobsRequest) (*bcpiiv1.ListJobsResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = DefaultPageSize
	case size < 0 || size > MaxPageSize:
		return nil, hmcerr.ErrInvalidField.WithMessage("page_size must be between 1 and %d.", MaxPageSize)
	}
	var st jobs.Status
	if req.GetStatus() != bcpiiv1.JobStatus_JOB_STATUS_UNSPECIFIED {
		st = statusFromProto(req.GetStatus())
		if st == "" {
			return nil, hmcerr.ErrInvalidField.WithMessage("status is not a job status.")
		}
	}
	after, err := s.srv.cursors.parse(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	page, next, err := s.srv.reg.List(ctx, c, jobs.ListOptions{Status: st, After: after, Limit: size})
	if err != nil {
		return nil, err
	}
	resp := &bcpiiv1.ListJobsResponse{Jobs: make([]*bcpiiv1.JobEntry, 0, len(page))}
	for _, j := range page {
		e := &bcpiiv1.JobEntry{
			JobId:      j.ID,
			JobUri:     j.URI(),
			Job:        JobToProto(j),
			CreateTime: timestamppb.New(j.Created),
		}
		if j.Target != "" {
			e.TargetName = proto.String(j.Target)
		}
		if !j.Ended.IsZero() {
			e.EndTime = timestamppb.New(j.Ended)
		}
		resp.Jobs = append(resp.Jobs, e)
	}
	if next != 0 {
		resp.NextPageToken = s.srv.cursors.encode(next)
	}
	return resp, nil
}

func (s *jobService) WaitJob(ctx context.Context, req *bcpiiv1.WaitJobRequest) (*bcpiiv1.WaitJobResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	timeout := DefaultWaitTimeout
	if req.Timeout != nil {
		if err := req.Timeout.CheckValid(); err != nil || req.Timeout.AsDuration() < 0 {
			return nil, hmcerr.ErrInvalidField.WithMessage("timeout must be a non-negative duration.")
		}
		if d := req.Timeout.AsDuration(); d > 0 {
			timeout = min(d, MaxWaitTimeout)
		}
	}
	j, timedOut, err := s.srv.reg.Wait(ctx, c, req.GetJobId(), timeout)
	if err != nil {
		return nil, err
	}
	return &bcpiiv1.WaitJobResponse{Job: JobToProto(j), TimedOut: timedOut}, nil
}

func (s *jobService) WatchJob(req *bcpiiv1.WatchJobRequest, stream bcpiiv1.JobService_WatchJobServer) error {
	// The loop waits in Ready, with the setup and each send in calls of
	// their own, so that a waiting stream's frames are few and small.
	w, after, err := s.watchApart(stream.Context(), req)
	if err != nil {
		return err
	}
	defer w.Close()
	for {
		if err := w.Ready(stream.Context()); err != nil {
			return err
		}
		if done, err := s.sendNext(stream, w, after); done || err != nil {
			return err
		}
	}
}

// watchApart runs watch on a goroutine of its own, which ends with it.
// The store read and the checks watch makes take a goroutine's stack from
// 4 to 8 KiB, and the runtime does not shrink it again while the stream
// waits (it shrinks a stack only while less than a quarter of it is in
// use), so a stream of a job that runs for hours would keep 8 KiB for
// what needs 4. A panic in watch panics the stream's goroutine, for the
// recovery interceptor, with watch's stack.
func (s *jobService) watchApart(ctx context.Context, req *bcpiiv1.WatchJobRequest) (*jobs.Watcher, int64, error) {
	type result struct {
		w     *jobs.Watcher
		after int64
		err   error
		panic any
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{panic: fmt.Sprintf("%v\n\n%s", p, debug.Stack())}
			}
		}()
		w, after, err := s.watch(ctx, req)
		ch <- result{w: w, after: after, err: err}
	}()
	r := <-ch
	if r.panic != nil {
		panic(r.panic)
	}
	return r.w, r.after, r.err
}

// watch starts WatchJob's watcher, and returns the revision the client's
// cursor has seen.
func (s *jobService) watch(ctx context.Context, req *bcpiiv1.WatchJobRequest) (*jobs.Watcher, int64, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, 0, err
	}
	after, err := s.srv.cursors.parse(req.GetCursor())
	if err != nil {
		return nil, 0, err
	}
	w, err := s.srv.reg.Watch(ctx, c, req.GetJobId())
	return w, after, err
}

// sendNext sends the watcher's next status unless the client has it from
// an earlier stream (revision after or older). done: the stream has sent
// its last, and lingered.
//
//go:noinline
func (s *jobService) sendNext(stream bcpiiv1.JobService_WatchJobServer, w *jobs.Watcher, after int64) (done bool, err error) {
	ctx := stream.Context()
	msg, last, done, err := s.nextMsg(ctx, w, after)
	if msg == nil {
		return done, err
	}
	if err := stream.Send(msg); err != nil {
		return true, err
	}
	if !last {
		return false, nil
	}
	select {
	case <-s.srv.linger.after():
	case <-ctx.Done():
	}
	return true, nil
}

// nextMsg is sendNext's message: nil when there is none to send (done
// and err then say why). last: the message is the job's final status.
// The job read and the message built keep their copies of the job in this
// frame, which is gone by the time the message is sent: an in-process
// event stream formats the message and hands it to the gateway's writers
// on this goroutine's stack, which is kept small while it waits, and
// growing it again for every event was 7 % of a fan-out's delivery.
//
//go:noinline
func (s *jobService) nextMsg(ctx context.Context, w *jobs.Watcher, after int64) (msg *bcpiiv1.WatchJobResponse, last, done bool, err error) {
	j, err := w.Next(ctx)
	if errors.Is(err, io.EOF) {
		return nil, false, true, nil
	}
	if err != nil {
		return nil, false, true, err
	}
	if j.Revision <= after {
		return nil, false, false, nil
	}
	return s.srv.watchResponse(j), j.Status.Ended(), false, nil
}

// watchMsg is a WatchJob message built for a job's state.
type watchMsg struct {
	id  string
	rev int64
	msg *bcpiiv1.WatchJobResponse
}

// watchResponse returns the WatchJob message for j's state. The watchers
// of a job are all sent the same message for a change, so the newest one
// is built once and shared: a sent message is never changed, and reading
// (marshaling) one from many goroutines is safe.
func (s *Server) watchResponse(j jobs.Job) *bcpiiv1.WatchJobResponse {
	if l := s.lastWatch.Load(); l != nil && l.rev == j.Revision && l.id == j.ID {
		return l.msg
	}
	m := &bcpiiv1.WatchJobResponse{Job: JobToProto(j), Cursor: s.cursors.encode(j.Revision)}
	s.lastWatch.Store(&watchMsg{j.ID, j.Revision, m})
	return m
}

// streamLinger is how long a watch stream stays open after its final
// status. When many jobs end at once (or one job with many watchers), the
// end of each stream (trailers, clean-up) then follows the burst of final
// statuses instead of delaying it; a client that has what it needs can
// cancel sooner.
const streamLinger = 250 * time.Millisecond

// lingerGrain is how finely lingering streams are grouped: streams that end
// within one grain of each other share a channel and a timer.
const lingerGrain = 50 * time.Millisecond

// lingerer hands out the channels lingering streams wait on. A timer per
// stream would cost each of thousands of streams ending together a timer
// set and stopped in the middle of the burst.
type lingerer struct {
	clock clock.Clock

	mu sync.Mutex
	at time.Time     // when ch closes
	ch chan struct{} // the newest channel handed out
}

// after returns a channel that closes between streamLinger and
// streamLinger+lingerGrain from now.
func (l *lingerer) after() <-chan struct{} {
	now := l.clock.Now()
	at := now.Add(streamLinger).Truncate(lingerGrain).Add(lingerGrain)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ch == nil || at.After(l.at) {
		ch := make(chan struct{})
		l.at, l.ch = at, ch
		l.clock.AfterFunc(at.Sub(now), func() { close(ch) })
	}
	return l.ch
}

func (s *jobService) WatchJobCompletions(req *bcpiiv1.WatchJobCompletionsRequest, stream bcpiiv1.JobService_WatchJobCompletionsServer) error {
	ctx := stream.Context()
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	after, err := s.srv.cursors.parse(req.GetCursor())
	if err != nil {
		return err
	}
	w, err := s.srv.reg.WatchCompletions(ctx, c, after)
	if err != nil {
		return err
	}
	defer w.Close()
	if err := stream.SendHeader(metadata.Pairs(rpctypes.StreamStartedKey, "1")); err != nil {
		return err
	}
	for {
		j, err := w.Next(ctx)
		if err != nil {
			return err
		}
		if err := stream.Send(&bcpiiv1.WatchJobCompletionsResponse{
			JobUri: j.URI(),
			JobId:  j.ID,
			Job:    JobToProto(j),
			Cursor: s.srv.cursors.encode(j.Revision),
		}); err != nil {
			return err
		}
	}
}

// JobToProto renders a job's status with exactly the fields the HMC shows
// for its state.
func JobToProto(j jobs.Job) *bcpiiv1.Job {
	// One allocation holds the message and its optional codes.
	m := &struct {
		job          bcpiiv1.Job
		code, reason int32
		results      string
	}{job: bcpiiv1.Job{Status: statusToProto(j.Status)}}
	p := &m.job
	if j.HasStatusCode() {
		m.code = int32(j.StatusCode)
		p.JobStatusCode = &m.code
	}
	if j.HasReasonCode() {
		m.reason = int32(j.ReasonCode)
		p.JobReasonCode = &m.reason
	}
	if j.HasResults() {
		m.results = string(j.Results)
		p.JobResults = &m.results
	}
	return p
}

func statusToProto(s jobs.Status) bcpiiv1.JobStatus {
	switch s {
	case jobs.Running:
		return bcpiiv1.JobStatus_JOB_STATUS_RUNNING
	case jobs.CancelPending:
		return bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING
	case jobs.Complete:
		return bcpiiv1.JobStatus_JOB_STATUS_COMPLETE
	case jobs.Canceled:
		return bcpiiv1.JobStatus_JOB_STATUS_CANCELED
	}
	return bcpiiv1.JobStatus_JOB_STATUS_UNSPECIFIED
}

func statusFromProto(s bcpiiv1.JobStatus) jobs.Status {
	switch s {
	case bcpiiv1.JobStatus_JOB_STATUS_RUNNING:
		return jobs.Running
	case bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING:
		return jobs.CancelPending
	case bcpiiv1.JobStatus_JOB_STATUS_COMPLETE:
		return jobs.Complete
	case bcpiiv1.JobStatus_JOB_STATUS_CANCELED:
		return jobs.Canceled
	}
	return ""
}
