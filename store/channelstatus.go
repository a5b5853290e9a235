package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// ChannelSendStatus is how a channel's sending stands: the outcome of its
// latest send attempt. A login the server refuses, a connection that fails
// or TLS that breaks keep replies queued for their retries; this is where an
// operator sees that the channel itself is failing, and why.
type ChannelSendStatus struct {
	ChannelID int64        `json:"channel_id"`
	Name      string       `json:"name"`
	Kind      message.Kind `json:"kind"`
	// Failing: the latest attempt failed in a way worth retrying (a
	// refused login, a connection or TLS failure: the reply waits queued);
	// Error and ErrorAt say how and when. A reply refused for good (a bad
	// recipient, content the server will not take) is that reply's
	// problem, shown on it, not the channel's.
	Failing bool      `json:"failing"`
	Error   string    `json:"error,omitempty"`
	ErrorAt time.Time `json:"error_at,omitzero"`
	// LastSentAt is when a reply last left through the channel.
	LastSentAt time.Time `json:"last_sent_at,omitzero"`
}

// ChannelSendStatuses reports every channel's send status, by name.
func (s *Store) ChannelSendStatuses(ctx context.Context) ([]ChannelSendStatus, error) {
	var out []ChannelSendStatus
	err := s.readTx(ctx, func(q *sql.Tx) error {
		rows, err := q.QueryContext(ctx, `SELECT c.id, c.name, c.kind,
			(SELECT o.state FROM outbound_messages o WHERE o.channel_id = c.id AND o.attempts > 0
				ORDER BY o.updated_at DESC, o.id DESC LIMIT 1),
			(SELECT o.error FROM outbound_messages o WHERE o.channel_id = c.id AND o.attempts > 0
				ORDER BY o.updated_at DESC, o.id DESC LIMIT 1),
			(SELECT o.updated_at FROM outbound_messages o WHERE o.channel_id = c.id AND o.attempts > 0
				ORDER BY o.updated_at DESC, o.id DESC LIMIT 1),
			(SELECT max(o.sent_at) FROM outbound_messages o WHERE o.channel_id = c.id)
			FROM channels c ORDER BY c.name`)
		if err != nil {
			return fmt.Errorf("channel send status: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				st       ChannelSendStatus
				state, e sql.NullString
				at, sent *time.Time
			)
			if err := rows.Scan(&st.ChannelID, &st.Name, &st.Kind, &state, &e, nullTimeCol{&at}, nullTimeCol{&sent}); err != nil {
				return fmt.Errorf("channel send status: %w", err)
			}
			if message.DeliveryState(state.String) == message.StateQueued && e.String != "" && at != nil {
				st.Failing, st.Error, st.ErrorAt = true, e.String, *at
			}
			if sent != nil {
				st.LastSentAt = *sent
			}
			out = append(out, st)
		}
		return rows.Err()
	})
	return out, err
}
