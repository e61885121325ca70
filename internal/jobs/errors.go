package jobs

import "github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"

// The HMC's answers for the job rules. Match them with errors.Is.
var (
	// ErrNotFound (404.1): no such job, not the caller's, expired or deleted.
	ErrNotFound = hmcerr.ErrNotFound
	// ErrNotCancelable (404.4): the job's operation cannot be canceled.
	ErrNotCancelable = hmcerr.ErrNotCancelable
	// ErrNotEnded (409.40): the job status cannot be deleted before the job ends.
	ErrNotEnded = hmcerr.ErrJobNotEnded
	// ErrEnded (409.41): the job has ended and cannot be canceled.
	ErrEnded = hmcerr.ErrJobEnded
	// ErrCancelPending (409.42): a cancel of the job is already pending.
	ErrCancelPending = hmcerr.ErrCancelPending
	// ErrStoreFull (503.2): the store has no space left for the write.
	// Stores return it, with the cause, for a write their disk or quota
	// refused for want of space; the write made no change.
	ErrStoreFull = hmcerr.ErrStoreFull
)
