package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

const targetUsage = "X-API-Target-Name the job was started with (default: the one bcpiictl recorded when it started the job)"

// jobID accepts a job id or a job URI.
func jobID(arg string) string { return strings.TrimPrefix(arg, "/api/jobs/") }

// jobCommand builds a command on one job: --target (else the recorded
// one), one JOB-ID argument, a connection, then do.
func (g *globals) jobCommand(use, short string, do func(ctx context.Context, c *client, id, target string) error) *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use: use + " JOB-ID", Short: short, Args: nargs(1, "JOB-ID"),
		RunE: action(func(ctx context.Context, args []string) error {
			if err := checkTarget(target); err != nil {
				return err
			}
			id := jobID(args[0])
			t := target
			if t == "" {
				t = g.recordedTarget(id)
			}
			c, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer c.done()
			err = do(ctx, c, id, t)
			if d, ok := rpctypes.HMCDetail(errors.Unwrap(err)); ok && d.GetHttpStatus() == 400 && d.GetReason() == 2 && t == "" {
				return fmt.Errorf("%w (name the target the job was started with: --target)", err)
			}
			return err
		}),
	}
	cmd.Flags().StringVar(&target, "target", "", targetUsage)
	return cmd
}

// gatewayError keeps the gateway's error beside its description, so that
// callers can still look at its HMC detail.
type gatewayError struct {
	msg   error
	cause error
}

func (e gatewayError) Error() string { return e.msg.Error() }
func (e gatewayError) Unwrap() error { return e.cause }

func (c *client) fail(ctx context.Context, err error) error {
	return gatewayError{msg: c.describe(ctx, err), cause: err}
}

func (g *globals) jobCommands() []*cobra.Command {
	get := g.jobCommand("get", "Show a job's status (Query Job Status)", func(ctx context.Context, c *client, id, target string) error {
		cctx, cancel := c.call(ctx, target)
		defer cancel()
		r, err := c.jobs.GetJob(cctx, &bcpiiv1.GetJobRequest{JobId: id})
		if err != nil {
			return c.fail(ctx, err)
		}
		if err := g.printJob(id, r.GetJob()); err != nil {
			return err
		}
		return outcome(r.GetJob())
	})
	cancelJob := g.jobCommand("cancel", "Cancel a job (Cancel Job)", func(ctx context.Context, c *client, id, target string) error {
		cctx, cancel := c.call(ctx, target)
		defer cancel()
		if _, err := c.jobs.CancelJob(cctx, &bcpiiv1.CancelJobRequest{JobId: id}); err != nil {
			return c.fail(ctx, err)
		}
		g.done(id + " cancel requested")
		return nil
	})
	del := g.jobCommand("delete", "Delete an ended job's status (Delete Completed Job Status)", func(ctx context.Context, c *client, id, target string) error {
		cctx, cancel := c.call(ctx, target)
		defer cancel()
		if _, err := c.jobs.DeleteJob(cctx, &bcpiiv1.DeleteJobRequest{JobId: id}); err != nil {
			return c.fail(ctx, err)
		}
		g.done(id + " deleted")
		return nil
	})
	return []*cobra.Command{get, cancelJob, del, g.listCommand(), g.followCommand("wait", false), g.followCommand("watch", true)}
}

// done reports a finished action; json and yaml print nothing, as the HMC
// answers nothing.
func (g *globals) done(msg string) {
	if g.output == "table" {
		fmt.Fprintln(g.env.stdout, msg)
	}
}

// followCommand is wait (every false) or watch (every true).
func (g *globals) followCommand(name string, every bool) *cobra.Command {
	var timeout time.Duration
	short := "Wait until a job ends, then show its status"
	if every {
		short = "Show every status change of a job until it ends"
	}
	cmd := g.jobCommand(name, short, func(ctx context.Context, c *client, id, target string) error {
		if timeout <= 0 {
			return usagef("--timeout must be positive, not %s", timeout)
		}
		return g.follow(ctx, c, id, target, timeout, every)
	})
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to "+name+" at most")
	return cmd
}

var statusByName = map[string]bcpiiv1.JobStatus{
	"running":        bcpiiv1.JobStatus_JOB_STATUS_RUNNING,
	"cancel-pending": bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING,
	"complete":       bcpiiv1.JobStatus_JOB_STATUS_COMPLETE,
	"canceled":       bcpiiv1.JobStatus_JOB_STATUS_CANCELED,
}

func (g *globals) listCommand() *cobra.Command {
	var st string
	cmd := &cobra.Command{
		Use: "list", Short: "List your jobs", Args: nargs(0, ""),
		RunE: action(func(ctx context.Context, _ []string) error {
			filter := bcpiiv1.JobStatus_JOB_STATUS_UNSPECIFIED
			if st != "" {
				var ok bool
				if filter, ok = statusByName[st]; !ok {
					return usagef("--status %q is not running, cancel-pending, complete or canceled", st)
				}
			}
			c, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer c.done()
			entries, err := c.listJobs(ctx, filter)
			if err != nil {
				return err
			}
			return g.printJobList(entries)
		}),
	}
	cmd.Flags().StringVar(&st, "status", "", "only jobs in this status: running, cancel-pending, complete or canceled")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions([]string{"running", "cancel-pending", "complete", "canceled"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (c *client) listJobs(ctx context.Context, filter bcpiiv1.JobStatus) ([]*bcpiiv1.JobEntry, error) {
	var all []*bcpiiv1.JobEntry
	tok := ""
	for {
		cctx, cancel := c.call(ctx, "")
		r, err := c.jobs.ListJobs(cctx, &bcpiiv1.ListJobsRequest{Status: filter, PageToken: tok})
		cancel()
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		all = append(all, r.GetJobs()...)
		if tok = r.GetNextPageToken(); tok == "" {
			return all, nil
		}
	}
}

// printJobList prints jobs: json and yaml as {"jobs":[...]}, each job its
// Query Job Status fields with job-id, job-uri and target-name.
func (g *globals) printJobList(entries []*bcpiiv1.JobEntry) error {
	items := make([]map[string]json.RawMessage, 0, len(entries))
	for _, e := range entries {
		m := jobFields(e.GetJob())
		m["job-id"] = rawString(e.GetJobId())
		m["job-uri"] = rawString(e.GetJobUri())
		if e.GetTargetName() != "" {
			m["target-name"] = rawString(e.GetTargetName())
		}
		items = append(items, m)
	}
	doc := marshal(map[string]any{"jobs": items})
	return g.emit(doc, func(w io.Writer) error {
		fmt.Fprintln(w, "JOB-ID\tTARGET-NAME\tSTATUS\tCODE\tRESULTS")
		for _, e := range entries {
			j := e.GetJob()
			results := ""
			if j.JobResults != nil {
				results = string(marshalRaw(j.GetJobResults()))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.GetJobId(), e.GetTargetName(), rpctypes.StatusName(j.GetStatus()), jobCode(j), results)
		}
		return nil
	})
}

// outcome is the exit status a job's state calls for; see exitTable.
func outcome(j *bcpiiv1.Job) error {
	switch j.GetStatus() {
	case bcpiiv1.JobStatus_JOB_STATUS_CANCELED:
		return exitStatus{code: exitCanceled}
	case bcpiiv1.JobStatus_JOB_STATUS_COMPLETE:
		if c := j.GetJobStatusCode(); c < 200 || c > 299 {
			return exitStatus{code: exitFailed}
		}
	}
	return nil
}

func ended(j *bcpiiv1.Job) bool {
	return j.GetStatus() == bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || j.GetStatus() == bcpiiv1.JobStatus_JOB_STATUS_CANCELED
}

// isTimeout tells a stream that ended at its deadline.
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
}
