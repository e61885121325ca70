package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// stateFile records the local jobs being followed, so that a restarted
// gateway follows them again: the registry can tell a job's state, but not
// which of all jobs are waiting for an upstream.
type stateFile struct {
	path string

	mu      sync.Mutex
	entries map[string]jobs.Owner // local job id -> owner
}

type stateEntry struct {
	ID    string     `json:"id"`
	Owner jobs.Owner `json:"owner"`
}

type stateDoc struct {
	Jobs []stateEntry `json:"jobs"`
}

// load reads the file; a missing file is an empty one.
func (s *stateFile) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = make(map[string]jobs.Owner)
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return errors.New("upstream: the state file is not valid")
	}
	for _, e := range doc.Jobs {
		if jobs.ValidID(e.ID) && !e.Owner.IsZero() {
			s.entries[e.ID] = e.Owner
		}
	}
	return nil
}

// set adds (owner non-zero) or removes the job id and writes the file.
func (s *stateFile) set(id string, owner jobs.Owner) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = make(map[string]jobs.Owner)
	}
	if owner.IsZero() {
		if _, ok := s.entries[id]; !ok {
			return nil
		}
		delete(s.entries, id)
	} else {
		s.entries[id] = owner
	}
	doc := stateDoc{Jobs: []stateEntry{}}
	for _, id := range slices.Sorted(maps.Keys(s.entries)) {
		doc.Jobs = append(doc.Jobs, stateEntry{ID: id, Owner: s.entries[id]})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

func (s *stateFile) snapshot() map[string]jobs.Owner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.entries)
}

// remember records that j is being followed.
func (c *Client) remember(ctx context.Context, j jobs.Job) {
	if c.state == nil {
		return
	}
	if err := c.state.set(j.ID, j.Owner); err != nil {
		c.log.ErrorContext(ctx, "upstream state file could not be written; the job will not be followed after a restart",
			"job", j.ID, "err", err)
	}
}

// forget records that j is no longer followed.
func (c *Client) forget(ctx context.Context, id string) {
	if c.state == nil {
		return
	}
	if err := c.state.set(id, jobs.Owner{}); err != nil {
		c.log.ErrorContext(ctx, "upstream state file could not be written", "job", id, "err", err)
	}
}

// resume returns the recorded jobs that are still running, and forgets the
// others.
func (c *Client) resume(ctx context.Context) []jobs.Job {
	if c.state == nil {
		return nil
	}
	if err := c.state.load(); err != nil {
		c.log.ErrorContext(ctx, "upstream state file could not be read; jobs of an earlier run are not followed",
			"path", c.state.path, "err", err)
		return nil
	}
	var out []jobs.Job
	for id, owner := range c.state.snapshot() {
		j, err := c.reg.Get(ctx, jobs.Caller{Owner: owner}, id)
		switch {
		case errors.Is(err, jobs.ErrNotFound):
			c.forget(ctx, id)
		case err != nil:
			c.log.ErrorContext(ctx, "upstream job of an earlier run could not be read", "job", id, "err", err)
		case j.Status.Ended() || j.BackendRef == "":
			c.forget(ctx, id)
		default:
			c.log.InfoContext(ctx, "following upstream job of an earlier run", "job", j.ID, "upstream_job", j.BackendRef)
			out = append(out, j)
		}
	}
	return out
}
