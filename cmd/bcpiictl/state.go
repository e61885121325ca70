package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofrs/flock"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
)

// The per-user state: the sessions 'bcpiictl logon' kept, one per gateway,
// and the target names of the jobs bcpiictl started, so that later job
// commands need no --target. Files are mode 0600 in a directory of mode
// 0700, written whole under a lock so that concurrent runs lose nothing.
type state struct {
	// Sessions maps a gateway (its address or socket) to a session id.
	Sessions map[string]string `json:"sessions,omitempty"`
	// Jobs are the jobs started, newest last.
	Jobs []jobRecord `json:"jobs,omitempty"`
}

type jobRecord struct {
	Gateway string `json:"gateway"`
	ID      string `json:"job-id"`
	Target  string `json:"target-name"`
}

// maxJobRecords bounds the record: old jobs expire on the gateway anyway.
const maxJobRecords = 200

// stateDir is $XDG_STATE_HOME/bcpiictl, else ~/.local/state/bcpiictl.
func (g *globals) stateDir() string {
	if d := g.env.getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "bcpiictl")
	}
	return filepath.Join(g.env.getenv("HOME"), ".local", "state", "bcpiictl")
}

func (g *globals) stateFile() string { return filepath.Join(g.stateDir(), "state.json") }

func (g *globals) readState() (state, error) {
	var s state
	b, err := os.ReadFile(g.stateFile())
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return state{}, fmt.Errorf("%s: %w", g.stateFile(), err)
	}
	return s, nil
}

// updateState changes the state under the lock and writes it back.
func (g *globals) updateState(change func(*state)) error {
	if err := os.MkdirAll(g.stateDir(), 0o700); err != nil {
		return err
	}
	lock := flock.New(filepath.Join(g.stateDir(), "state.lock"), flock.SetPermissions(0o600))
	if err := lock.Lock(); err != nil {
		return err
	}
	defer lock.Unlock()
	s, err := g.readState()
	if err != nil {
		return err
	}
	change(&s)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(g.stateDir(), "state-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), g.stateFile())
}

// keptSession is the session 'bcpiictl logon' kept for this gateway.
func (g *globals) keptSession() string {
	s, err := g.readState()
	if err != nil {
		return ""
	}
	return s.Sessions[g.where()]
}

// recordJob remembers the target name a job was started with. A record
// that cannot be written costs only a --target later, so it is reported,
// not fatal.
func (g *globals) recordJob(id, target string) {
	err := g.updateState(func(s *state) {
		s.Jobs = append(s.Jobs, jobRecord{Gateway: g.where(), ID: id, Target: target})
		if len(s.Jobs) > maxJobRecords {
			s.Jobs = s.Jobs[len(s.Jobs)-maxJobRecords:]
		}
	})
	if err != nil {
		fmt.Fprintf(g.env.stderr, "bcpiictl: cannot record the job's target name: %v\n", err)
	}
}

// recordedTarget is the target name a job was started with, "" if unknown.
func (g *globals) recordedTarget(id string) string {
	s, err := g.readState()
	if err != nil {
		return ""
	}
	for i := len(s.Jobs) - 1; i >= 0; i-- {
		if r := s.Jobs[i]; r.ID == id && r.Gateway == g.where() {
			return r.Target
		}
	}
	return ""
}

func (g *globals) logonCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logon [USER]",
		Short: "Log on as an API user and keep the session for later commands",
		Long: `Log on as an API user (USER, else --user or BCPII_USER) and keep the
session, per gateway, in a file only you can read (mode 0600), so that
later commands act as that user. The password is BCPII_PASSWORD, else
prompted for on the terminal (else read as one line from standard input).`,
		Args: cobra.MaximumNArgs(1),
		RunE: action(func(ctx context.Context, args []string) error {
			user := g.user
			if len(args) == 1 {
				user = args[0]
			}
			if user == "" {
				return usagef("logon needs a USER (or --user, BCPII_USER)")
			}
			pw, err := g.password(user)
			if err != nil {
				return err
			}
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.done()
			id, err := c.logon(ctx, user, pw)
			if err != nil {
				return err
			}
			if err := g.updateState(func(s *state) {
				if s.Sessions == nil {
					s.Sessions = map[string]string{}
				}
				s.Sessions[g.where()] = id
			}); err != nil {
				return err
			}
			fmt.Fprintf(g.env.stdout, "logged on to %s as %s; the session is kept in %s\n", g.where(), user, g.stateFile())
			return nil
		}),
	}
}

// password is BCPII_PASSWORD, else prompted for without echo on a
// terminal, else one line of standard input.
func (g *globals) password(user string) (string, error) {
	if pw := g.env.getenv("BCPII_PASSWORD"); pw != "" {
		return pw, nil
	}
	if f, ok := g.env.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(g.env.stderr, "Password for %s: ", user)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.env.stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(g.env.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if line = strings.TrimRight(line, "\r\n"); line == "" {
		return "", usagef("no password: set BCPII_PASSWORD or give it on standard input")
	}
	return line, nil
}

func (g *globals) logoffCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logoff",
		Short: "End the session 'bcpiictl logon' kept for this gateway",
		Args:  nargs(0, ""),
		RunE: action(func(ctx context.Context, _ []string) error {
			id := g.keptSession()
			if id == "" {
				return fmt.Errorf("no session is kept for %s", g.where())
			}
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.done()
			c.session = id
			// A session the gateway no longer knows is forgotten all the same.
			lerr := c.logoff(ctx)
			if err := g.updateState(func(s *state) { delete(s.Sessions, g.where()) }); err != nil {
				return err
			}
			if d, ok := rpctypes.HMCDetail(lerr); lerr != nil && !(ok && d.GetHttpStatus() == 403 && d.GetReason() == 5) {
				return c.describe(ctx, lerr)
			}
			fmt.Fprintf(g.env.stdout, "logged off from %s\n", g.where())
			return nil
		}),
	}
}
