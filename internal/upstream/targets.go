package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// targetCache maps object URIs to target names.
type targetCache struct {
	mu       sync.Mutex
	byURI    map[string]bcpii.TargetName
	last     time.Time     // when the last refresh began; zero: never
	lastErr  error         // how the last refresh ended
	inflight chan struct{} // closed when the refresh under way ends
}

// unreachable reports whether the last refresh failed because the
// upstream could not be reached.
func (t *targetCache) unreachable() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastErr != nil && errors.Is(t.lastErr, hmcerr.ErrUnavailable)
}

// lookupTarget returns the target name of objectURI, fetching the lists
// again on a miss unless that was done less than TargetRefresh ago.
// Concurrent misses share one refresh.
func (c *Client) lookupTarget(objectURI string) (bcpii.TargetName, bool) {
	t := &c.targets
	t.mu.Lock()
	if name, ok := t.byURI[objectURI]; ok {
		t.mu.Unlock()
		return name, true
	}
	if wait := t.inflight; wait != nil {
		t.mu.Unlock()
		<-wait
		t.mu.Lock()
		name, ok := t.byURI[objectURI]
		t.mu.Unlock()
		return name, ok
	}
	now := c.clock.Now()
	if !t.last.IsZero() && now.Sub(t.last) < c.cfg.TargetRefresh {
		t.mu.Unlock()
		return bcpii.TargetName{}, false
	}
	select {
	case <-c.stopped:
		t.mu.Unlock()
		return bcpii.TargetName{}, false
	default:
	}
	t.last = now
	done := make(chan struct{})
	t.inflight = done
	t.mu.Unlock()

	// Resolve has no context of its own; the refresh is bounded by the
	// request timeout.
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	m, err := c.fetchTargets(ctx)
	cancel()
	if err != nil {
		c.log.Warn("upstream target names could not be fetched", "err", err)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.byURI = m
	}
	t.lastErr = err
	t.inflight = nil
	close(done)
	name, ok := t.byURI[objectURI]
	return name, ok
}

// listItem is an entry of the upstream's lists.
type listItem struct {
	ObjectURI  string `json:"object-uri"`
	Name       string `json:"name"`
	TargetName string `json:"target-name"`
}

// fetchTargets lists the CPCs and their logical partitions and partitions
// and returns their target names by object URI.
func (c *Client) fetchTargets(ctx context.Context) (map[string]bcpii.TargetName, error) {
	var cpcs struct {
		CPCs []listItem `json:"cpcs"`
	}
	if err := c.getList(ctx, "/api/cpcs", &cpcs); err != nil {
		return nil, err
	}
	m := make(map[string]bcpii.TargetName)
	for _, cpc := range cpcs.CPCs {
		id, ok := strings.CutPrefix(cpc.ObjectURI, "/api/cpcs/")
		if !ok || !validID(id) {
			continue
		}
		cpcTarget, err := bcpii.ParseTargetName(cpc.TargetName)
		if err != nil || !cpcTarget.IsCPC() {
			continue // no target name: no partition can address it
		}
		m[cpc.ObjectURI] = cpcTarget
		for _, sub := range []string{"logical-partitions", "partitions"} {
			var list map[string][]listItem
			if err := c.getList(ctx, cpc.ObjectURI+"/"+sub, &list); err != nil {
				if errors.Is(err, hmcerr.ErrUnavailable) {
					return nil, err
				}
				continue // e.g. a CPC in the other mode refusing the list
			}
			for _, p := range list[sub] {
				id, ok := strings.CutPrefix(p.ObjectURI, "/api/"+sub+"/")
				if !ok || !validID(id) {
					continue
				}
				name := p.TargetName
				if name == "" {
					name = cpcTarget.String() + "." + p.Name
				}
				tn, err := bcpii.ParseTargetName(name)
				if err != nil || tn.IsCPC() || !tn.CPC().Equal(cpcTarget) {
					continue
				}
				m[p.ObjectURI] = tn
			}
		}
	}
	return m, nil
}

func (c *Client) getList(ctx context.Context, uri string, into any) error {
	r, err := c.do(ctx, kindTargets, http.MethodGet, uri, nil)
	if err != nil {
		return err
	}
	if !r.ok() {
		return backendError(r)
	}
	if err := json.Unmarshal(r.body, into); err != nil {
		return errors.New("upstream: " + uri + " is not a JSON list")
	}
	return nil
}
