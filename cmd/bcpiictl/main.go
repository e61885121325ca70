// Command bcpiictl is the command-line client of bcpii-gateway. It names
// CPCs, logical partitions and partitions as people do (bcpiictl lpar
// activate CPC1 LP2), resolving names to object URIs and target names
// through the gateway; it queries, cancels, deletes, lists, waits for and
// watches jobs; and it sends raw HMC Web Services API requests (invoke).
// It speaks gRPC, with TLS unless told otherwise, and imports only the
// gateway's public packages.
//
// Exit status, the same for get, wait, watch and every operation that
// waits, by the state of the job:
//
//	0    the job completed with a 2xx job-status-code, or (get) it has not ended
//	1    an error talking to the gateway, or the gateway refused the request
//	2    a usage error
//	3    the job completed with a non-2xx job-status-code
//	4    the job was canceled
//	5    the wait timed out before the job ended
//	130  interrupted (Ctrl-C)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitFailed      = 3
	exitCanceled    = 4
	exitTimeout     = 5
	exitInterrupted = 130
)

// exitTable is the exit-status table of --help; README.md repeats it.
const exitTable = `Exit status (get, wait, watch and operations that wait agree, by the job's state):
  0    the job completed with a 2xx job-status-code; for get, also a job that has not ended
  1    an error talking to the gateway, or the gateway refused the request
  2    a usage error
  3    the job completed with a non-2xx job-status-code
  4    the job was canceled
  5    the wait timed out before the job ended (wait, watch, operations)
  130  interrupted (Ctrl-C)`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := environ{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	code := run(ctx, os.Args[1:], env)
	stop()
	os.Exit(code)
}

// environ is what a run of bcpiictl reads and writes besides the gateway.
type environ struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError marks errors in how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitStatus carries a chosen exit status and, unless empty, a message.
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }

// failure marks an error a command returned once its arguments were
// accepted; any other error out of cobra is a usage error.
type failure struct{ err error }

func (e failure) Error() string { return e.err.Error() }
func (e failure) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, env environ) int {
	root := newRoot(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ue usageError
	var es exitStatus
	var f failure
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &es):
		if es.msg != "" {
			fmt.Fprintln(env.stderr, "bcpiictl:", es.msg)
		}
		return es.code
	case errors.As(err, &ue) || !errors.As(err, &f):
		fmt.Fprintln(env.stderr, "bcpiictl:", err)
		fmt.Fprintln(env.stderr, "Run 'bcpiictl --help' for usage.")
		return exitUsage
	case ctx.Err() != nil:
		fmt.Fprintln(env.stderr, "bcpiictl: interrupted")
		return exitInterrupted
	default:
		fmt.Fprintln(env.stderr, "bcpiictl:", err)
		return exitError
	}
}
