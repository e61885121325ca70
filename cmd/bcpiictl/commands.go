package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

const usage = `Usage: bcpiictl [global flags] COMMAND [flags] [args]

Commands:
  get JOB-ID               show a job's status (Query Job Status)
  cancel JOB-ID            cancel a job (Cancel Job)
  delete JOB-ID            delete an ended job's status
  list                     list your jobs
  wait JOB-ID              wait until the job ends, then show its status
  watch JOB-ID             show every status change until the job ends
  invoke METHOD URI        send an HMC Web Services API request, e.g.
                           invoke POST /api/logical-partitions/ID/operations/activate --target IBM390PS.CPC1.LP1 --wait

A job is named by its id or its URI (/api/jobs/ID). Run 'bcpiictl COMMAND --help' for a command's flags.

Exit status: 0 success (a job that completed with a 2xx code), 1 error, 2 usage error,
3 job completed with a non-2xx code, 4 job canceled, 5 wait timed out.

Global flags:
`

// globals are the connection settings shared by every command.
type globals struct {
	addr, ca, cert, key, socket string
	plaintext                   bool
	user, session               string
	output                      string
	getenv                      func(string) string
	stdout, stderr              io.Writer
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	g := &globals{getenv: getenv, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("bcpiictl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&g.addr, "addr", envOr(getenv, "BCPII_ADDR", "localhost:6795"), "gateway gRPC address (env BCPII_ADDR)")
	fs.StringVar(&g.socket, "socket", getenv("BCPII_SOCKET"), "gateway Unix socket instead of --addr (env BCPII_SOCKET)")
	fs.StringVar(&g.ca, "ca", getenv("BCPII_CA"), "PEM CA file to trust (env BCPII_CA; default: the gateway's generated certificate in its data directory)")
	fs.StringVar(&g.cert, "cert", getenv("BCPII_CERT"), "client certificate for mTLS, naming the requesting partition (env BCPII_CERT)")
	fs.StringVar(&g.key, "key", getenv("BCPII_KEY"), "private key of --cert (env BCPII_KEY)")
	fs.BoolVar(&g.plaintext, "plaintext", false, "connect without TLS (a gateway run with --plaintext)")
	fs.StringVar(&g.user, "user", getenv("BCPII_USER"), "log on as this API user; the password is read from BCPII_PASSWORD (env BCPII_USER)")
	fs.StringVar(&g.session, "session", getenv("BCPII_SESSION"), "an existing API session id (env BCPII_SESSION)")
	fs.StringVar(&g.output, "o", "text", "output: text or json (the HMC's JSON)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if g.output != "text" && g.output != "json" {
		return usagef("-o must be text or json, not %q", g.output)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return usagef("no command")
	}
	cmds := map[string]func(context.Context, *globals, []string) error{
		"get": cmdGet, "cancel": cmdCancel, "delete": cmdDelete, "list": cmdList,
		"wait": cmdWait, "watch": cmdWatch, "invoke": cmdInvoke,
	}
	cmd, ok := cmds[rest[0]]
	if !ok {
		return usagef("unknown command %q", rest[0])
	}
	return cmd(ctx, g, rest[1:])
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// client is a connection to the gateway with the metadata every call
// carries.
type client struct {
	cc   *grpc.ClientConn
	md   metadata.MD
	jobs bcpiiv1.JobServiceClient
	ops  bcpiiv1.OperationServiceClient
	done func()
}

func (c *client) ctx(ctx context.Context) context.Context {
	return metadata.NewOutgoingContext(ctx, c.md)
}

func (g *globals) connect(ctx context.Context, target string) (*client, error) {
	var creds credentials.TransportCredentials
	dialTarget := g.addr
	switch {
	case g.socket != "":
		dialTarget = "unix://" + g.socket
		creds = insecure.NewCredentials()
	case g.plaintext:
		creds = insecure.NewCredentials()
	default:
		tc, err := g.tlsConfig()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	cc, err := grpc.NewClient(dialTarget, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	c := &client{cc: cc, md: metadata.MD{}, jobs: bcpiiv1.NewJobServiceClient(cc), ops: bcpiiv1.NewOperationServiceClient(cc), done: func() { cc.Close() }}
	if target != "" {
		c.md.Set(rpctypes.TargetKey, target)
	}
	switch {
	case g.session != "":
		c.md.Set(rpctypes.SessionKey, g.session)
	case g.user != "":
		pw := g.getenv("BCPII_PASSWORD")
		if pw == "" {
			cc.Close()
			return nil, usagef("--user needs the password in BCPII_PASSWORD")
		}
		sessions := bcpiiv1.NewSessionServiceClient(cc)
		r, err := sessions.Logon(ctx, &bcpiiv1.LogonRequest{Userid: g.user, Password: pw})
		if err != nil {
			cc.Close()
			return nil, describe(err)
		}
		c.md.Set(rpctypes.SessionKey, r.GetApiSession())
		c.done = func() {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_, _ = sessions.Logoff(c.ctx(lctx), &bcpiiv1.LogoffRequest{})
			cc.Close()
		}
	}
	return c, nil
}

func (g *globals) tlsConfig() (*tls.Config, error) {
	ca := g.ca
	if ca == "" {
		ca = defaultCA(g.getenv)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w (set --ca)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no certificate", ca)
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if (g.cert == "") != (g.key == "") {
		return nil, usagef("--cert and --key go together")
	}
	if g.cert != "" {
		pair, err := tls.LoadX509KeyPair(g.cert, g.key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// defaultCA is the certificate a gateway on this host generated, in the
// gateway's default data directory.
func defaultCA(getenv func(string) string) string {
	dir := getenv("BCPII_DATA_DIR")
	switch {
	case dir != "":
	case getenv("XDG_DATA_HOME") != "":
		dir = filepath.Join(getenv("XDG_DATA_HOME"), "bcpii-gateway")
	default:
		dir = filepath.Join(getenv("HOME"), ".local", "share", "bcpii-gateway")
	}
	return filepath.Join(dir, "tls", "gateway.crt")
}

// describe turns a gateway error into the HMC's status and reason.
func describe(err error) error {
	if d, ok := rpctypes.HMCDetail(err); ok {
		return fmt.Errorf("%d.%d: %s", d.GetHttpStatus(), d.GetReason(), d.GetMessage())
	}
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%s: %s", s.Code(), s.Message())
	}
	return err
}

// jobID accepts a job id or a job URI.
func jobID(arg string) string { return strings.TrimPrefix(arg, "/api/jobs/") }

// parse parses a command's flags, with --help, and wants n arguments.
func parse(fs *flag.FlagSet, g *globals, args []string, n int, argsUsage string) error {
	fs.SetOutput(g.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bcpiictl %s [flags] %s\n\nFlags:\n", fs.Name(), argsUsage)
		fs.PrintDefaults()
	}
	// Flags may follow the arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != n {
		return usagef("%s takes %d argument(s): %s", fs.Name(), n, argsUsage)
	}
	fs.Parse(pos) //nolint:errcheck // leaves pos as fs.Args()
	return nil
}

// jobCommand builds a command on one job: its flags (--target and what
// setup adds), one JOB-ID argument, a connection, then run.
func jobCommand(name string, setup func(fs *flag.FlagSet) func(ctx context.Context, g *globals, c *client, id string) error) func(context.Context, *globals, []string) error {
	return func(ctx context.Context, g *globals, args []string) error {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		target := fs.String("target", "", "X-API-Target-Name of the request that started the job (BCPii jobs)")
		run := setup(fs)
		if err := parse(fs, g, args, 1, "JOB-ID"); err != nil {
			return err
		}
		c, err := g.connect(ctx, *target)
		if err != nil {
			return err
		}
		defer c.done()
		return run(ctx, g, c, jobID(fs.Arg(0)))
	}
}

var (
	cmdGet = jobCommand("get", func(*flag.FlagSet) func(context.Context, *globals, *client, string) error {
		return func(ctx context.Context, g *globals, c *client, id string) error {
			r, err := c.jobs.GetJob(c.ctx(ctx), &bcpiiv1.GetJobRequest{JobId: id})
			if err != nil {
				return describe(err)
			}
			g.printJob(id, r.GetJob(), 0)
			return nil
		}
	})
	cmdCancel = jobCommand("cancel", func(*flag.FlagSet) func(context.Context, *globals, *client, string) error {
		return func(ctx context.Context, g *globals, c *client, id string) error {
			if _, err := c.jobs.CancelJob(c.ctx(ctx), &bcpiiv1.CancelJobRequest{JobId: id}); err != nil {
				return describe(err)
			}
			g.done(id + " cancel requested")
			return nil
		}
	})
	cmdDelete = jobCommand("delete", func(*flag.FlagSet) func(context.Context, *globals, *client, string) error {
		return func(ctx context.Context, g *globals, c *client, id string) error {
			if _, err := c.jobs.DeleteJob(c.ctx(ctx), &bcpiiv1.DeleteJobRequest{JobId: id}); err != nil {
				return describe(err)
			}
			g.done(id + " deleted")
			return nil
		}
	})
	cmdWait  = followCommand("wait", false)
	cmdWatch = followCommand("watch", true)
)

// followCommand is wait (every false) or watch (every true).
func followCommand(name string, every bool) func(context.Context, *globals, []string) error {
	return jobCommand(name, func(fs *flag.FlagSet) func(context.Context, *globals, *client, string) error {
		timeout := fs.Duration("timeout", 10*time.Minute, "how long to "+name+" at most")
		return func(ctx context.Context, g *globals, c *client, id string) error {
			return g.follow(ctx, c, id, *timeout, every)
		}
	})
}

// done reports a finished action in text output.
func (g *globals) done(msg string) {
	if g.output == "text" {
		fmt.Fprintln(g.stdout, msg)
	}
}

func cmdList(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	st := fs.String("status", "", "only jobs in this status: running, cancel-pending, complete or canceled")
	if err := parse(fs, g, args, 0, ""); err != nil {
		return err
	}
	filter := bcpiiv1.JobStatus_JOB_STATUS_UNSPECIFIED
	if *st != "" {
		var ok bool
		if filter, ok = statusByName[*st]; !ok {
			return usagef("--status %q is not running, cancel-pending, complete or canceled", *st)
		}
	}
	c, err := g.connect(ctx, "")
	if err != nil {
		return err
	}
	defer c.done()
	tok := ""
	for {
		r, err := c.jobs.ListJobs(c.ctx(ctx), &bcpiiv1.ListJobsRequest{Status: filter, PageToken: tok})
		if err != nil {
			return describe(err)
		}
		for _, e := range r.GetJobs() {
			if g.output == "json" {
				fmt.Fprintf(g.stdout, "{\"job-uri\":%q,\"status\":%s}\n", e.GetJobUri(), rpctypes.AppendJob(nil, e.GetJob()))
				continue
			}
			fmt.Fprintf(g.stdout, "%s  %s  %s\n", e.GetJobId(), e.GetTargetName(), describeJob(e.GetJob()))
		}
		if tok = r.GetNextPageToken(); tok == "" {
			return nil
		}
	}
}

var statusByName = map[string]bcpiiv1.JobStatus{
	"running":        bcpiiv1.JobStatus_JOB_STATUS_RUNNING,
	"cancel-pending": bcpiiv1.JobStatus_JOB_STATUS_CANCEL_PENDING,
	"complete":       bcpiiv1.JobStatus_JOB_STATUS_COMPLETE,
	"canceled":       bcpiiv1.JobStatus_JOB_STATUS_CANCELED,
}

func cmdInvoke(ctx context.Context, g *globals, args []string) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	target := fs.String("target", "", "X-API-Target-Name: the target name of the object the URI addresses")
	body := fs.String("body", "", "JSON request body")
	wait := fs.Bool("wait", false, "for an operation that starts a job, wait for the job to end")
	timeout := fs.Duration("timeout", 10*time.Minute, "with --wait, how long to wait at most")
	if err := parse(fs, g, args, 2, "METHOD URI"); err != nil {
		return err
	}
	c, err := g.connect(ctx, *target)
	if err != nil {
		return err
	}
	defer c.done()
	r, err := c.ops.Invoke(c.ctx(ctx), &bcpiiv1.InvokeRequest{
		Method: strings.ToUpper(fs.Arg(0)), Uri: fs.Arg(1), TargetName: *target, Body: *body,
	})
	if err != nil {
		return describe(err)
	}
	if r.GetJobUri() == "" || !*wait {
		if r.GetBody() != "" {
			fmt.Fprintln(g.stdout, r.GetBody())
		} else if g.output == "text" {
			fmt.Fprintf(g.stdout, "%d\n", r.GetHttpStatus())
		}
		return nil
	}
	if g.output == "text" {
		fmt.Fprintf(g.stdout, "%s started\n", r.GetJobUri())
	}
	return g.follow(ctx, c, jobID(r.GetJobUri()), *timeout, false)
}

// follow watches a job until it ends or timeout passes. With every, each
// status change is printed; else, on a terminal, one live line is redrawn
// and, piped, a plain line is printed per change. The exit status tells
// the outcome.
func (g *globals) follow(ctx context.Context, c *client, id string, timeout time.Duration, every bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := c.jobs.WatchJob(c.ctx(ctx), &bcpiiv1.WatchJobRequest{JobId: id})
	if err != nil {
		return describe(err)
	}
	start := time.Now()
	live := g.output == "text" && !every && isTerminal(g.stdout)
	var last *bcpiiv1.Job
	updates := make(chan *bcpiiv1.Job)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case updates <- m.GetJob():
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	// The live line's elapsed time is redrawn on wall time: it paces what
	// a person at a terminal sees, and no test draws it (it needs a
	// terminal), so no injected clock is wanted here, and bcpiictl imports
	// no internal package to get one from. Piped output has no ticker.
	var redraw <-chan time.Time
	if live {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		redraw = tick.C
	}
	for {
		select {
		case j := <-updates:
			last = j
			switch {
			case live:
				g.liveLine(id, j, time.Since(start))
			case g.output == "text":
				g.printJob(id, j, time.Since(start))
			case every:
				g.printJob(id, j, 0)
			}
			if ended(j) {
				if live {
					fmt.Fprintln(g.stdout)
				}
				if g.output == "json" && !every {
					g.printJob(id, j, 0)
				}
				return outcome(j)
			}
		case <-redraw:
			if last != nil {
				g.liveLine(id, last, time.Since(start))
			}
		case err := <-errc:
			if live {
				fmt.Fprintln(g.stdout)
			}
			if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
				if g.output == "json" && last != nil {
					g.printJob(id, last, 0)
				}
				return exitStatus{exitTimeout, fmt.Sprintf("%s has not ended after %s", id, timeout)}
			}
			if errors.Is(err, io.EOF) && last != nil {
				return outcome(last)
			}
			return describe(err)
		}
	}
}

func ended(j *bcpiiv1.Job) bool {
	return j.GetStatus() == bcpiiv1.JobStatus_JOB_STATUS_COMPLETE || j.GetStatus() == bcpiiv1.JobStatus_JOB_STATUS_CANCELED
}

func outcome(j *bcpiiv1.Job) error {
	switch {
	case j.GetStatus() == bcpiiv1.JobStatus_JOB_STATUS_CANCELED:
		return exitStatus{code: exitCanceled}
	case j.GetJobStatusCode() < 200 || j.GetJobStatusCode() > 299:
		return exitStatus{code: exitFailed}
	}
	return nil
}

func describeJob(j *bcpiiv1.Job) string {
	s := string(rpctypes.AppendJob(nil, &bcpiiv1.Job{Status: j.GetStatus()}))
	s = strings.TrimSuffix(strings.TrimPrefix(s, `{"status":"`), `"}`)
	if j.JobStatusCode != nil {
		s += fmt.Sprintf(" %d", j.GetJobStatusCode())
		if j.JobReasonCode != nil {
			s += fmt.Sprintf(".%d", j.GetJobReasonCode())
		}
	}
	return s
}

func (g *globals) printJob(id string, j *bcpiiv1.Job, elapsed time.Duration) {
	if g.output == "json" {
		fmt.Fprintf(g.stdout, "%s\n", rpctypes.AppendJob(nil, j))
		return
	}
	line := id + "  " + describeJob(j)
	if elapsed > 0 {
		line += fmt.Sprintf("  %.1fs", elapsed.Seconds())
	}
	if j.JobResults != nil {
		line += "  " + j.GetJobResults()
	}
	fmt.Fprintln(g.stdout, line)
}

func (g *globals) liveLine(id string, j *bcpiiv1.Job, elapsed time.Duration) {
	fmt.Fprintf(g.stdout, "\r\033[K%s  %s  %.1fs", id, describeJob(j), elapsed.Seconds())
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
