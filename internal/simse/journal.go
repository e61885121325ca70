package simse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// journal records the jobs the SE runs, one line as each starts ("+id")
// and as it ends ("-id"), synced to disk. A simulated SE that dies (kill -9,
// power loss) forgets its operations; when it starts again, the jobs the
// journal shows started and not ended are ended, so that no caller waits
// forever on a job nothing runs.
type journal struct {
	path string

	mu      sync.Mutex
	f       *os.File
	running map[string]bool
	lines   int
}

// errOrphaned is how a job left running by an SE that died ends.
var errOrphaned = hmcerr.New(hmcerr.Unavailable, 503, 1, "The simulated Support Element restarted while the operation ran; its outcome is unknown.")

// openJournal reads the journal at path and returns it with the ids of
// the jobs it shows still running.
func openJournal(path string) (*journal, []string, error) {
	running := map[string]bool{}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, nil, err
	default:
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := sc.Text()
			if len(line) < 2 || !jobs.ValidID(line[1:]) {
				continue // a torn last line from a crash, or not ours
			}
			switch line[0] {
			case '+':
				running[line[1:]] = true
			case '-':
				delete(running, line[1:])
			}
		}
	}
	orphans := make([]string, 0, len(running))
	for id := range running {
		orphans = append(orphans, id)
	}
	j := &journal{path: path, running: map[string]bool{}}
	if err := j.rewrite(); err != nil {
		return nil, nil, err
	}
	return j, orphans, nil
}

// rewrite replaces the file with one line per running job.
func (j *journal) rewrite() error {
	var b bytes.Buffer
	for id := range j.running {
		fmt.Fprintf(&b, "+%s\n", id)
	}
	tmp := j.path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return err
	}
	if j.f != nil {
		j.f.Close()
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	j.f, j.lines = f, len(j.running)
	return nil
}

func (j *journal) record(op byte, id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if op == '+' {
		j.running[id] = true
	} else {
		delete(j.running, id)
	}
	if j.lines > 2*len(j.running)+1000 {
		return j.rewrite()
	}
	if _, err := j.f.WriteString(string(op) + id + "\n"); err != nil {
		return err
	}
	j.lines++
	return j.f.Sync()
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}

// endOrphans ends the jobs a previous SE left running.
func endOrphans(ctx context.Context, reg *jobs.Registry, ids []string) (int, error) {
	n := 0
	results := []byte(`{"message":"` + errOrphaned.Message + `"}`)
	for _, id := range ids {
		_, err := reg.Finish(ctx, id, jobs.Result{Status: jobs.Complete, StatusCode: errOrphaned.HTTPStatus, ReasonCode: errOrphaned.Reason, Results: results})
		switch {
		case err == nil:
			n++
		case errors.Is(err, jobs.ErrAlreadyEnded), errors.Is(err, jobs.ErrNotFound):
		default:
			return n, err
		}
	}
	return n, nil
}
