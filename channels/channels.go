// Package channels holds the contracts between the pipeline and the channel
// connectors. Each connector lives in its own subpackage.
package channels

import (
	"context"
	"errors"

	"github.com/wasl-dev/wasl/message"
)

// Sender sends one outbound message out the channel it belongs to. Send must
// be safe to call again for the same out.ID after a crash: connectors use
// out.ID (and out.MessageID for email) as their idempotency key.
type Sender interface {
	Send(ctx context.Context, out message.Outbound) (message.Delivery, error)
}

// PermanentError marks a send failure that no retry can fix (bad number,
// rejected recipient). The job runner records it and stops retrying.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is, or wraps, a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
