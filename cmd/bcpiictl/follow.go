package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// follower prints a job's status changes as they arrive: on a terminal
// (table output, wait) one live line redrawn in place, then the final
// status as a table; else a row per change under one header (table), or
// the final status (json, yaml; watch: every status).
type follower struct {
	g       *globals
	id      string
	every   bool
	live    bool
	start   time.Time
	printed int
}

func (f *follower) update(j *bcpiiv1.Job) error {
	switch {
	case f.live:
		f.liveLine(j)
		if ended(j) {
			fmt.Fprint(f.g.env.stdout, "\r\033[K")
			return f.g.printJob(f.id, j)
		}
	case f.g.output == "table":
		if f.printed == 0 {
			jobHeader(f.g.env.stdout)
		}
		jobRow(f.g.env.stdout, f.id, j)
	case f.every || ended(j):
		if f.g.output == "yaml" && f.printed > 0 {
			fmt.Fprintln(f.g.env.stdout, "---")
		}
		if err := f.g.printJob(f.id, j); err != nil {
			return err
		}
	default:
		return nil
	}
	f.printed++
	return nil
}

func (f *follower) liveLine(j *bcpiiv1.Job) {
	fmt.Fprintf(f.g.env.stdout, "\r\033[K%s  %s %s  %.1fs", f.id, rpctypes.StatusName(j.GetStatus()), jobCode(j), time.Since(f.start).Seconds())
}

// follow watches a job until it ends or timeout passes; the exit status
// tells the outcome (see exitTable).
func (g *globals) follow(ctx context.Context, c *client, id, target string, timeout time.Duration, every bool) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := c.jobs.WatchJob(c.stream(wctx, target), &bcpiiv1.WatchJobRequest{JobId: id})
	if err != nil {
		return c.fail(ctx, err)
	}
	f := &follower{g: g, id: id, every: every, start: time.Now(),
		live: g.output == "table" && !every && isTerminal(g.env.stdout)}
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
			case <-wctx.Done():
				errc <- wctx.Err()
				return
			}
		}
	}()
	// The live line's elapsed time is redrawn on wall time: it paces what
	// a person at a terminal sees, no test draws it (it needs a terminal),
	// and bcpiictl imports no internal package to take a clock from.
	// Piped output has no ticker.
	var redraw <-chan time.Time
	if f.live {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		redraw = tick.C
	}
	var last *bcpiiv1.Job
	for {
		select {
		case j := <-updates:
			last = j
			if err := f.update(j); err != nil {
				return err
			}
			if ended(j) {
				return outcome(j)
			}
		case <-redraw:
			if last != nil {
				f.liveLine(last)
			}
		case err := <-errc:
			return f.end(ctx, c, err, last, timeout)
		}
	}
}

// end reports a watch that stopped before the job ended.
func (f *follower) end(ctx context.Context, c *client, err error, last *bcpiiv1.Job, timeout time.Duration) error {
	if f.live {
		fmt.Fprintln(f.g.env.stdout)
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case isTimeout(err):
		if f.g.output != "table" && last != nil && !f.every {
			if perr := f.g.printJob(f.id, last); perr != nil {
				return perr
			}
		}
		return exitStatus{exitTimeout, fmt.Sprintf("%s has not ended after %s", f.id, timeout)}
	case errors.Is(err, io.EOF) && last != nil:
		return outcome(last)
	}
	return c.fail(ctx, err)
}
