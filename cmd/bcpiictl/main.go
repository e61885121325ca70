// Command bcpiictl is the command-line client of bcpii-gateway: it queries,
// cancels, deletes, lists, waits for and watches jobs, and starts
// operations, over gRPC with TLS.
//
// Exit status: 0 success (for a job: it completed with a 2xx
// job-status-code), 1 an error talking to the gateway, 2 a usage error,
// 3 the job completed with a non-2xx code, 4 the job was canceled, 5 the
// wait timed out before the job ended.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitFailed   = 3
	exitCanceled = 4
	exitTimeout  = 5
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks errors in how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries a chosen exit status.
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	var ue usageError
	var es exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "bcpiictl:", err)
		fmt.Fprintln(stderr, "Run 'bcpiictl --help' for usage.")
		return exitUsage
	case errors.As(err, &es):
		if es.msg != "" {
			fmt.Fprintln(stderr, "bcpiictl:", es.msg)
		}
		return es.code
	default:
		fmt.Fprintln(stderr, "bcpiictl:", err)
		return exitError
	}
}
