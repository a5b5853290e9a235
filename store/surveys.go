package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// SurveyResponse is a customer's answer to a satisfaction survey: for a
// closed ticket, or for a message answered only automatically (no ticket,
// no staff rating).
type SurveyResponse struct {
	ID             int64     `json:"id"`
	TicketID       int64     `json:"ticket_id,omitempty"`
	MessageID      int64     `json:"message_id,omitempty"`
	ConversationID int64     `json:"conversation_id,omitempty"`
	Department     string    `json:"department,omitempty"`
	Topic          string    `json:"topic,omitempty"`
	AgentID        int64     `json:"agent_id,omitempty"`
	ServiceRating  int       `json:"service_rating"`
	StaffRating    int       `json:"staff_rating,omitempty"` // 0: not asked
	Comment        string    `json:"comment,omitempty"`
	Language       string    `json:"language,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

const surveyCols = `r.id, COALESCE(r.ticket_id, 0), COALESCE(r.message_id, 0), COALESCE(r.conversation_id, 0), r.department, r.topic,
	COALESCE(r.agent_id, 0), r.service_rating, COALESCE(r.staff_rating, 0), r.comment, r.language, r.created_at`

func scanSurvey(r rowScanner) (SurveyResponse, error) {
	var v SurveyResponse
	err := r.Scan(&v.ID, &v.TicketID, &v.MessageID, &v.ConversationID, &v.Department, &v.Topic, &v.AgentID,
		&v.ServiceRating, &v.StaffRating, &v.Comment, &v.Language, timeCol{&v.CreatedAt})
	return v, err
}

// tokenHash is how a survey link is remembered: never the token itself.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// RecordSurvey stores a response to the link token and sets r.ID. A link
// already answered is ErrDuplicate, and nothing is written.
func (tx *Tx) RecordSurvey(ctx context.Context, token string, r *SurveyResponse) error {
	if r.ServiceRating < 1 || r.ServiceRating > 5 || r.StaffRating < 0 || r.StaffRating > 5 {
		return fmt.Errorf("record survey: ratings %d/%d out of 1–5", r.ServiceRating, r.StaffRating)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now()
	}
	var staff any
	if r.StaffRating > 0 {
		staff = r.StaffRating
	}
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO survey_responses (token_hash, ticket_id, message_id, conversation_id, department, topic,
		agent_id, service_rating, staff_rating, comment, language, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (token_hash) DO NOTHING RETURNING id`,
		tokenHash(token), nullID(r.TicketID), nullID(r.MessageID), nullID(r.ConversationID), r.Department, r.Topic,
		nullID(r.AgentID), r.ServiceRating, staff, r.Comment, r.Language, tx.s.dbTime(r.CreatedAt)).Scan(&r.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("survey link answered already: %w", ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("record survey: %w", err)
	}
	return nil
}

// SurveyAnswered reports whether the link token has a response.
func (s *Store) SurveyAnswered(ctx context.Context, token string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM survey_responses WHERE token_hash = $1`, tokenHash(token)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("survey answered: %w", err)
	}
	return n > 0, nil
}

// TicketSurvey is the newest response about a ticket.
func (s *Store) TicketSurvey(ctx context.Context, ticketID int64) (SurveyResponse, bool, error) {
	v, err := scanSurvey(s.db.QueryRowContext(ctx, `SELECT `+surveyCols+` FROM survey_responses r WHERE r.ticket_id = $1 ORDER BY r.id DESC LIMIT 1`, ticketID))
	if errors.Is(err, sql.ErrNoRows) {
		return SurveyResponse{}, false, nil
	}
	if err != nil {
		return SurveyResponse{}, false, fmt.Errorf("survey of ticket %d: %w", ticketID, err)
	}
	return v, true, nil
}

// SurveysBetween lists the responses given in [from, to), oldest first.
func (s *Store) SurveysBetween(ctx context.Context, from, to time.Time) ([]SurveyResponse, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+surveyCols+` FROM survey_responses r WHERE r.created_at >= $1 AND r.created_at < $2 ORDER BY r.id`,
		s.dbTime(from), s.dbTime(to))
	if err != nil {
		return nil, fmt.Errorf("surveys: %w", err)
	}
	return collect(rows, scanSurvey, "surveys")
}
