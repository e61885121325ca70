// Package ratelog bounds the log lines that callers can cause, such as
// refused requests: at most a rate of them is written, and the next one
// written says how many were dropped, so that a hostile client cannot flood
// the log and an operator still learns how much was refused.
package ratelog

import (
	"sync/atomic"

	"golang.org/x/time/rate"
)

// Limiter lets log lines through at a bounded rate. Its methods are safe
// for concurrent use.
type Limiter struct {
	lim     *rate.Limiter
	dropped atomic.Int64
}

// New lets through perSecond lines a second, after a burst of burst.
func New(perSecond float64, burst int) *Limiter {
	return &Limiter{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// Allow reports whether a line may be written now and, if so, how many
// were dropped since the last one that was; a dropped line is counted.
func (l *Limiter) Allow() (ok bool, dropped int64) {
	if !l.lim.Allow() {
		l.dropped.Add(1)
		return false, 0
	}
	return true, l.dropped.Swap(0)
}
