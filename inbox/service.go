package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// Errors the web pages and the API turn into status codes.
var (
	// ErrForbidden: the principal may not see or change this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: the change does not fit the current state (409).
	ErrConflict = errors.New("conflict")
)

// InvalidError is a request that cannot be carried out as asked (400); its
// text says what to fix.
type InvalidError struct{ msg string }

func (e *InvalidError) Error() string { return e.msg }

func invalid(format string, a ...any) error { return &InvalidError{fmt.Sprintf(format, a...)} }

// maxBody bounds a reply or note.
const maxBody = 20000

// MessageIDs makes the Message-ID of a reply on a channel ("" when the
// channel's messages carry none); the gateway's channel registry does, as
// it does for automatic replies.
type MessageIDs interface {
	NewMessageID(channelID int64) string
}

// ServiceConfig tunes the staff actions.
type ServiceConfig struct {
	TicketPrefix string // default EDU
	MessageIDs   MessageIDs
	// FrontDesk is the customer-service unit's department: tickets are
	// handed back to it, and it answers the customer and closes them.
	// Default customer_service.
	FrontDesk string
	// Surveys signs and checks the satisfaction links of closing messages;
	// nil sends the bank's survey_url as it is and takes no answers.
	Surveys *tickets.SurveyLinks
	// InboxURL is the inbox's public address, for links in staff mail; "" for none.
	InboxURL string
	Now      func() time.Time
}

// Service carries out what staff do in the inbox, for the web pages and the
// API alike: every action checks who may do it, runs in one transaction and
// is recorded as a ticket event with the acting user and time. Replies go
// out exactly as automatic ones do: an outbound row and a River send job in
// the same transaction.
type Service struct {
	store *store.Store
	jobs  router.JobInserter
	bank  atomic.Pointer[replies.Bank]
	cfg   ServiceConfig
	log   *slog.Logger
}

// NewService builds the Service.
func NewService(st *store.Store, jobs router.JobInserter, bank *replies.Bank, cfg ServiceConfig, log *slog.Logger) *Service {
	if cfg.TicketPrefix == "" {
		cfg.TicketPrefix = "EDU"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FrontDesk == "" {
		cfg.FrontDesk = "customer_service"
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{store: st, jobs: jobs, cfg: cfg, log: log}
	s.bank.Store(bank)
	return s
}

// flow is the ticket workflow on the business calendar of the bank in use.
func (s *Service) flow() tickets.Workflow { return tickets.WorkflowOn(s.Bank()) }

// FrontDesk is the customer-service unit's department.
func (s *Service) FrontDesk() string { return s.cfg.FrontDesk }

// move changes a ticket's status by the transition table; a refused move
// is ErrConflict (409), with the table's reason.
func (s *Service) move(ctx context.Context, tx *store.Tx, ticketID int64, to tickets.Status, o tickets.MoveOpts) (store.Ticket, error) {
	if o.At.IsZero() {
		o.At = s.cfg.Now()
	}
	t, err := s.flow().Move(ctx, tx, ticketID, to, o)
	var me *tickets.MoveError
	if errors.As(err, &me) {
		return t, fmt.Errorf("ticket %s: %v: %w", t.Ref, me, ErrConflict)
	}
	return t, err
}

// assignHead gives the conversation to the department's head, when it has
// one (the catalogue: a ticket reaching a department is assigned to its
// head automatically), else to nobody, for the department to take.
func (s *Service) assignHead(ctx context.Context, tx *store.Tx, t store.Ticket, convID int64, department string) error {
	head, ok, err := tx.DepartmentHead(ctx, department)
	if err != nil {
		return err
	}
	who, id := "nobody (the department has no head)", int64(0)
	if ok {
		who, id = head.Email+" (head of "+department+")", head.ID
	}
	if err := tx.SetAssignee(ctx, convID, id); err != nil {
		return err
	}
	return tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventAssign, Actor: "system", Note: "assigned to " + who})
}

// Bank is the knowledge bank the service renders from.
func (s *Service) Bank() *replies.Bank { return s.bank.Load() }

// SetBank replaces the bank (an operator reloaded it).
func (s *Service) SetBank(b *replies.Bank) { s.bank.Store(b) }

// Scope limits a filter to what p may see: an operator everything; an agent
// the conversations of their departments, those without a department (the
// shared front desk) and those assigned to them.
func (s *Service) Scope(p Principal, f store.InboxFilter) store.InboxFilter {
	f.ViewerID = p.User.ID
	f.All = p.Operator()
	f.Departments = p.User.Departments
	return f
}

// CanSee reports whether p may see the conversation.
func CanSee(p Principal, c store.InboxRow) bool {
	if p.Operator() {
		return true
	}
	return c.Department == "" || p.User.InDepartment(c.Department) || (c.AssigneeID != 0 && c.AssigneeID == p.User.ID)
}

// Conversation reads a conversation p may see (ErrForbidden otherwise).
func (s *Service) Conversation(ctx context.Context, p Principal, id int64) (store.InboxRow, error) {
	c, err := s.store.InboxConversation(ctx, id, p.User.ID)
	if err != nil {
		return store.InboxRow{}, err
	}
	if !CanSee(p, c) {
		return store.InboxRow{}, ErrForbidden
	}
	return c, nil
}

// History is the contact's history across channels, limited to the
// conversations p may see.
func (s *Service) History(ctx context.Context, p Principal, contactID int64) ([]store.HistoryItem, error) {
	items, err := s.store.ContactHistory(ctx, contactID)
	if err != nil || p.Operator() {
		return items, err
	}
	convs, err := s.store.InboxList(ctx, s.Scope(p, store.InboxFilter{ContactID: contactID, Limit: 500}))
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	for _, c := range convs {
		seen[c.ID] = true
	}
	return slices.DeleteFunc(items, func(it store.HistoryItem) bool { return !seen[it.ConversationID] }), nil
}

// Contact reads a contact p may see: one with at least one conversation p
// may see (operators see every contact).
func (s *Service) Contact(ctx context.Context, p Principal, id int64) (store.ContactDetail, []store.InboxRow, error) {
	d, err := s.store.ContactDetail(ctx, id)
	if err != nil {
		return store.ContactDetail{}, nil, err
	}
	convs, err := s.store.InboxList(ctx, s.Scope(p, store.InboxFilter{ContactID: id, Limit: 500}))
	if err != nil {
		return store.ContactDetail{}, nil, err
	}
	if !p.Operator() && len(convs) == 0 {
		return store.ContactDetail{}, nil, ErrForbidden
	}
	return d, convs, nil
}

// canChangeContact: operators, or agents who may see every conversation of
// the contact (a merge must not hand an agent another department's
// history).
func (s *Service) canChangeContact(ctx context.Context, p Principal, id int64) error {
	if p.Operator() {
		return nil
	}
	all, err := s.store.InboxList(ctx, store.InboxFilter{All: true, ContactID: id, Limit: 500})
	if err != nil {
		return err
	}
	mine, err := s.store.InboxList(ctx, s.Scope(p, store.InboxFilter{ContactID: id, Limit: 500}))
	if err != nil {
		return err
	}
	if len(mine) == 0 || len(mine) != len(all) {
		return ErrForbidden
	}
	return nil
}

func cleanBody(body, what string) (string, error) {
	body = strings.TrimSpace(strings.ReplaceAll(body, "\r\n", "\n"))
	if body == "" {
		return "", invalid("%s is empty", what)
	}
	if utf8.RuneCountInString(body) > maxBody {
		return "", invalid("%s is longer than %d characters", what, maxBody)
	}
	return body, nil
}

// ensureTicket returns the conversation's newest ticket, opening one when
// it has none: every staff action is recorded on a ticket, and a
// conversation someone works on is a case.
func (s *Service) ensureTicket(ctx context.Context, tx *store.Tx, c store.InboxRow, department string) (store.Ticket, error) {
	t, ok, err := tx.LatestTicket(ctx, c.ID)
	if err != nil || ok {
		return t, err
	}
	at := s.cfg.Now()
	loc := time.UTC
	if s.Bank() != nil && s.Bank().Calendar() != nil {
		loc = s.Bank().Calendar().Location()
	}
	year := at.In(loc).Year()
	n, err := tx.NextTicketNumber(ctx, s.cfg.TicketPrefix, year)
	if err != nil {
		return store.Ticket{}, err
	}
	if department == "" && s.Bank() != nil {
		if topic, ok := s.Bank().Topic(c.Topic); ok {
			department = topic.Department
		}
	}
	subject := c.Subject
	if subject == "" {
		subject = firstLine(c.LastText, 80)
	}
	t = store.Ticket{Prefix: s.cfg.TicketPrefix, Year: year, Number: n, ConversationID: c.ID, ContactID: c.ContactID,
		Topic: c.Topic, Department: department, Status: store.TicketOpen, Subject: subject,
		CreatedAt: at.UTC().Truncate(time.Microsecond)}
	if s.Bank() != nil {
		if topic, ok := s.Bank().Topic(c.Topic); ok {
			s.flow().StartClocks(&t, topic.SLAText, topic.FirstResponseText)
		}
	}
	if err := tx.CreateTicket(ctx, &t); err != nil {
		return store.Ticket{}, err
	}
	return t, nil
}

func firstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// Reply sends a staff reply out of the channel the conversation came from:
// email threaded under the customer's last message (In-Reply-To,
// References) with the ticket reference in the subject; SMS and WhatsApp
// as plain text.
func (s *Service) Reply(ctx context.Context, p Principal, convID int64, body string) (store.Outbound, error) {
	body, err := cleanBody(body, "the reply")
	if err != nil {
		return store.Outbound{}, err
	}
	c, err := s.Conversation(ctx, p, convID)
	if err != nil {
		return store.Outbound{}, err
	}
	var o store.Outbound
	err = s.store.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.ensureTicket(ctx, tx, c, "")
		if err != nil {
			return err
		}
		o, err = s.enqueue(ctx, tx, c, t, body, "")
		if err != nil {
			return err
		}
		// The first answer by a person stops the first-response clock.
		if _, err := tx.SetFirstResponse(ctx, t.ID, s.cfg.Now()); err != nil {
			return err
		}
		return tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventReply, Actor: p.Actor(),
			Note: fmt.Sprintf("reply #%d: %s", o.ID, firstLine(body, 140))})
	})
	return o, err
}

// enqueue writes an outbound row answering the conversation's last message
// and its send job, in tx.
func (s *Service) enqueue(ctx context.Context, tx *store.Tx, c store.InboxRow, t store.Ticket, text, html string) (store.Outbound, error) {
	last, ok, err := tx.LastInbound(ctx, c.ID)
	if err != nil {
		return store.Outbound{}, err
	}
	if !ok || last.From.Value == "" || last.From.Kind == "unknown" {
		return store.Outbound{}, invalid("this conversation has no customer message to answer")
	}
	o := store.Outbound{
		ChannelID: c.ChannelID, ConversationID: c.ID, InReplyToMessageID: last.ID, TicketID: t.ID, ContactID: c.ContactID,
		To: last.From, Text: text, HTML: html, State: message.StateQueued,
	}
	if c.ChannelKind == message.Email {
		subject := last.Subject
		if subject == "" {
			subject = c.Subject
		}
		o.Subject = ReplySubject(subject, t.Ref)
		// Chosen now and stored, so a retried send carries the same id.
		if s.cfg.MessageIDs != nil {
			o.HeaderMessageID = s.cfg.MessageIDs.NewMessageID(c.ChannelID)
		}
		o.InReplyTo = last.HeaderMessageID
		refs := append([]string{}, last.References...)
		if last.HeaderMessageID != "" {
			refs = append(refs, last.HeaderMessageID)
		}
		o.References = refs
	}
	if err := tx.InsertOutbound(ctx, &o); err != nil {
		return store.Outbound{}, err
	}
	if _, err := s.jobs.InsertTx(ctx, tx.SQL(), router.SendArgs{OutboundID: o.ID}, nil); err != nil {
		return store.Outbound{}, fmt.Errorf("enqueue send: %w", err)
	}
	o.Channel = c.ChannelKind
	return o, nil
}

// ReplySubject answers a subject the way mail clients do, "Re: [#REF] …",
// without doubling "Re:" or the reference.
func ReplySubject(subject, ref string) string {
	s := strings.TrimSpace(subject)
	for _, p := range []string{"re:", "رد:"} {
		for len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = strings.TrimSpace(s[len(p):])
		}
	}
	return "Re: " + tickets.Subject(s, ref)
}

// Note adds an internal note, never sent to the customer.
func (s *Service) Note(ctx context.Context, p Principal, convID int64, body string) error {
	body, err := cleanBody(body, "the note")
	if err != nil {
		return err
	}
	c, err := s.Conversation(ctx, p, convID)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.ensureTicket(ctx, tx, c, "")
		if err != nil {
			return err
		}
		return tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventNote, Actor: p.Actor(), Note: body})
	})
}

// Users lists the active users a conversation can be assigned to.
func (s *Service) Users(ctx context.Context) ([]store.User, error) {
	all, err := s.store.Users(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(u store.User) bool { return !u.Active }), nil
}

// Assign gives the conversation to a user (0: to nobody), with an
// optional internal note. A ticket waiting in a department (transferred)
// goes in progress when someone is given it: the head handing it to a
// member, as the catalogue has it.
func (s *Service) Assign(ctx context.Context, p Principal, convID, userID int64, note string) error {
	c, err := s.Conversation(ctx, p, convID)
	if err != nil {
		return err
	}
	who := "nobody"
	if userID != 0 {
		u, err := s.store.UserByID(ctx, userID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
			return invalid("no active user %d", userID)
		}
		if err != nil {
			return err
		}
		who = u.Email
	}
	note = strings.TrimSpace(note)
	return s.store.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.ensureTicket(ctx, tx, c, "")
		if err != nil {
			return err
		}
		if err := tx.SetAssignee(ctx, c.ID, userID); err != nil {
			return err
		}
		text := "assigned to " + who
		if note != "" {
			text += ": " + note
		}
		if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventAssign, Actor: p.Actor(), Note: text}); err != nil {
			return err
		}
		if note != "" {
			if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventNote, Actor: p.Actor(), Note: note}); err != nil {
				return err
			}
		}
		if userID != 0 && t.Status == store.TicketTransferred {
			_, err := s.move(ctx, tx, t.ID, tickets.InProgress, tickets.MoveOpts{Actor: p.Actor(), Note: "assigned to " + who})
			return err
		}
		return nil
	})
}

// Transfer moves the conversation's ticket to another department, with a
// note; the ticket becomes "transferred" and goes to the receiving
// department's head (or to nobody, when it has none).
func (s *Service) Transfer(ctx context.Context, p Principal, convID int64, department, note string) error {
	if department == "" {
		return invalid("say which department")
	}
	if s.Bank() != nil {
		if _, ok := s.Bank().Department(department); !ok {
			return invalid("unknown department %q", department)
		}
	}
	c, err := s.Conversation(ctx, p, convID)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.ensureTicket(ctx, tx, c, department)
		if err != nil {
			return err
		}
		return s.transfer(ctx, tx, p, c, t, department, note)
	})
}

func (s *Service) transfer(ctx context.Context, tx *store.Tx, p Principal, c store.InboxRow, t store.Ticket, department, note string) error {
	if t.Status == store.TicketClosed {
		return fmt.Errorf("ticket %s is closed: reopen it first: %w", t.Ref, ErrConflict)
	}
	if t.Department == department && t.Status == store.TicketTransferred {
		return fmt.Errorf("ticket %s is with %s already: %w", t.Ref, department, ErrConflict)
	}
	if t.Status != store.TicketTransferred {
		if _, err := s.move(ctx, tx, t.ID, tickets.Transferred, tickets.MoveOpts{Actor: p.Actor(), Note: "to " + department}); err != nil {
			return err
		}
	}
	if err := tx.SetTicketDepartment(ctx, t.ID, department); err != nil {
		return err
	}
	text := fmt.Sprintf("%s → %s", orDash(t.Department), department)
	if note = strings.TrimSpace(note); note != "" {
		text += ": " + note
	}
	if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventTransfer, Actor: p.Actor(), Note: text}); err != nil {
		return err
	}
	return s.assignHead(ctx, tx, t, c.ID, department)
}

// Handback is what a department reports when its work on a ticket ends.
type Handback struct {
	Outcome string `json:"outcome"` // store.OutcomeDone or store.OutcomeNotDone
	Reason  string `json:"reason"`  // required when not done ("item unavailable" …)
	Date    string `json:"date"`    // the visit or completion date, YYYY-MM-DD (maintenance)
	Reply   string `json:"reply"`   // the reply for the customer, which the front desk sends
}

// HandBack records the department's outcome and reply and hands the
// ticket back to the front desk, which answers the customer and closes it
// (the catalogue's last step in the department). The department that did
// the work is kept: the ticket counts for it once closed.
func (s *Service) HandBack(ctx context.Context, p Principal, convID int64, h Handback) error {
	if err := checkOutcome(&h.Outcome, &h.Reason); err != nil {
		return err
	}
	if h.Date = strings.TrimSpace(h.Date); h.Date != "" {
		if _, err := time.Parse(time.DateOnly, h.Date); err != nil {
			return invalid("date %q: want YYYY-MM-DD", h.Date)
		}
	}
	reply, err := cleanBody(h.Reply, "the reply for the customer")
	if err != nil {
		return err
	}
	c, err := s.Conversation(ctx, p, convID)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx *store.Tx) error {
		t, ok, err := tx.LatestTicket(ctx, c.ID)
		if err != nil {
			return err
		}
		if !ok {
			return invalid("this conversation has no ticket to hand back")
		}
		if t, err = tx.TicketForUpdate(ctx, t.ID); err != nil {
			return err
		}
		if t.Department == s.cfg.FrontDesk {
			return fmt.Errorf("ticket %s is with the front desk already: close it instead: %w", t.Ref, ErrConflict)
		}
		if t.Status == store.TicketClosed || t.Status == store.TicketOpen {
			return fmt.Errorf("ticket %s is %s: only a department's ticket is handed back: %w", t.Ref, t.Status, ErrConflict)
		}
		worked := t.Department
		if err := tx.SetWorkedBy(ctx, t.ID, c.AssigneeID); err != nil {
			return err
		}
		if err := tx.SetHandback(ctx, t.ID, store.Handback{Outcome: h.Outcome, Reason: h.Reason, Date: h.Date, Department: worked, Reply: reply}); err != nil {
			return err
		}
		note := outcomeNote(h.Outcome, h.Reason, h.Date) + "\n" + reply
		if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventHandback, Actor: p.Actor(), Note: note}); err != nil {
			return err
		}
		return s.transfer(ctx, tx, p, c, t, s.cfg.FrontDesk, "handed back by "+worked)
	})
}

func checkOutcome(outcome, reason *string) error {
	*reason = strings.TrimSpace(*reason)
	if *outcome == OutcomeUnavailable {
		// Not done for want of the item: the reason the supply list finds.
		*outcome = store.OutcomeNotDone
		if *reason == "" || *reason == store.ReasonUnavailable {
			*reason = store.ReasonUnavailable
		} else if !strings.HasPrefix(*reason, store.ReasonUnavailable+":") {
			*reason = store.ReasonUnavailable + ": " + *reason
		}
	}
	switch *outcome {
	case store.OutcomeDone:
	case store.OutcomeNotDone:
		if *reason == "" {
			return invalid("say why it was not done")
		}
	default:
		return invalid("outcome %q: want done or not_done", *outcome)
	}
	return nil
}

func outcomeNote(outcome, reason, date string) string {
	note := "done"
	if outcome == store.OutcomeNotDone {
		note = "not done: " + reason
	}
	if date != "" {
		note += " (" + date + ")"
	}
	return note
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// SetStatus moves the conversation's ticket to open (out of pending, or a
// reopen), pending (waitingOn: customer, the default, which stops the SLA
// clock, or supply) or in progress. Transferring and closing are actions
// of their own (a department, an outcome). A move the transition table
// refuses is ErrConflict.
func (s *Service) SetStatus(ctx context.Context, p Principal, convID int64, status, waitingOn string) error {
	to, err := tickets.ParseStatus(status)
	if err != nil {
		return invalid("%v", err)
	}
	switch to {
	case tickets.Closed:
		return invalid("close a ticket with an outcome (done / not done)")
	case tickets.Transferred:
		return invalid("transfer a ticket to a department")
	}
	if waitingOn != "" && (to != tickets.Pending || (waitingOn != store.WaitingOnCustomer && waitingOn != store.WaitingOnSupply)) {
		return invalid("waiting_on %q: want customer or supply, with status pending", waitingOn)
	}
	c, err := s.Conversation(ctx, p, convID)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.ensureTicket(ctx, tx, c, "")
		if err != nil {
			return err
		}
		before, err := s.move(ctx, tx, t.ID, to, tickets.MoveOpts{Actor: p.Actor(), WaitingOn: waitingOn})
		if err != nil {
			return err
		}
		if to == tickets.Open && before.Status == store.TicketClosed {
			return tx.SetConversationStatus(ctx, c.ID, store.ConversationOpen)
		}
		return nil
	})
}

// Close closes the conversation and its ticket with an outcome (done, or
// not done and why) and sends the customer the reply (the department's,
// from its hand-back, when reply is empty) followed by the bank's closing
// message with the satisfaction link, through the same outbound path as
// any reply. A ticket a department worked on counts for that department
// again, assigned to its head. Outcome "" takes the hand-back's.
func (s *Service) Close(ctx context.Context, p Principal, convID int64, outcome, reason, reply string) (store.Outbound, error) {
	c, err := s.Conversation(ctx, p, convID)
	if err != nil {
		return store.Outbound{}, err
	}
	reply = strings.TrimSpace(strings.ReplaceAll(reply, "\r\n", "\n"))
	if utf8.RuneCountInString(reply) > maxBody {
		return store.Outbound{}, invalid("the reply is longer than %d characters", maxBody)
	}
	var o store.Outbound
	err = s.store.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.ensureTicket(ctx, tx, c, "")
		if err != nil {
			return err
		}
		date := t.OutcomeDate
		if outcome == "" && t.Outcome != "" {
			outcome, reason = t.Outcome, t.OutcomeReason
		}
		if err := checkOutcome(&outcome, &reason); err != nil {
			return err
		}
		if reply == "" {
			reply = t.HandbackReply
		}
		now := s.cfg.Now()
		if _, err := s.move(ctx, tx, t.ID, tickets.Closed, tickets.MoveOpts{Actor: p.Actor(), Note: outcomeNote(outcome, reason, date), At: now}); err != nil {
			return err
		}
		if err := tx.SetTicketOutcome(ctx, t.ID, outcome, reason); err != nil {
			return err
		}
		if t.WorkedBy == 0 {
			if err := tx.SetWorkedBy(ctx, t.ID, c.AssigneeID); err != nil {
				return err
			}
		}
		if err := tx.SetConversationStatus(ctx, c.ID, store.ConversationClosed); err != nil {
			return err
		}
		if t.ResolvedDepartment != "" && t.ResolvedDepartment != t.Department {
			// Closed, then given back to the department's head, to count
			// among its closed tickets (the catalogue).
			if err := tx.SetTicketDepartment(ctx, t.ID, t.ResolvedDepartment); err != nil {
				return err
			}
			if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventTransfer, Actor: "system",
				Note: fmt.Sprintf("%s → %s: closed, counts for %s", t.Department, t.ResolvedDepartment, t.ResolvedDepartment)}); err != nil {
				return err
			}
			if err := s.assignHead(ctx, tx, t, c.ID, t.ResolvedDepartment); err != nil {
				return err
			}
		}
		if s.Bank() == nil {
			return nil
		}
		contact, err := tx.Contact(ctx, c.ContactID)
		if err != nil {
			return err
		}
		req := replies.Request{Kind: replies.KindClosing, Language: contact.Language, Channel: c.ChannelKind,
			TicketRef: t.Ref, Name: contact.DisplayName, Now: now}
		if s.cfg.Surveys != nil && s.cfg.Surveys.Signer != nil {
			req.SurveyURL = s.cfg.Surveys.TicketSurveyURL(t.ID, now)
		}
		if _, ok := s.Bank().Topic(t.Topic); ok {
			req.TopicID = t.Topic
		}
		req.Lead = reply
		closing, err := s.Bank().Render(req)
		if err != nil {
			return fmt.Errorf("render closing message: %w", err)
		}
		o, err = s.enqueue(ctx, tx, c, t, closing.Text, closing.HTML)
		if err != nil {
			return err
		}
		_, err = tx.SetFirstResponse(ctx, t.ID, now)
		return err
	})
	return o, err
}

// WakeArgs is the River job that brings a snoozed conversation back at the
// time it was snoozed until.
type WakeArgs struct {
	ConversationID int64     `json:"conversation_id"`
	Until          time.Time `json:"until"`
}

// Kind names the job for River.
func (WakeArgs) Kind() string { return "wake_conversation" }

// WakeWorker runs WakeArgs jobs.
type WakeWorker struct {
	river.WorkerDefaults[WakeArgs]
	Store *store.Store
}

// Work wakes the conversation unless the customer wrote or the snooze
// changed meanwhile.
func (w *WakeWorker) Work(ctx context.Context, job *river.Job[WakeArgs]) error {
	if _, err := w.Store.WakeConversation(ctx, job.Args.ConversationID, job.Args.Until); err != nil {
		return fmt.Errorf("wake conversation %d: %w", job.Args.ConversationID, err)
	}
	return nil
}

// Snooze hides the conversation until a time; a scheduled job brings it
// back to the top of the list with a reminder then, or the customer's next
// message does earlier.
func (s *Service) Snooze(ctx context.Context, p Principal, convID int64, until time.Time) error {
	until = until.UTC().Truncate(time.Microsecond)
	if !until.After(s.cfg.Now()) {
		return invalid("snooze until a time in the future")
	}
	c, err := s.Conversation(ctx, p, convID)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.ensureTicket(ctx, tx, c, "")
		if err != nil {
			return err
		}
		if err := tx.SetSnooze(ctx, c.ID, &until); err != nil {
			return err
		}
		if _, err := s.jobs.InsertTx(ctx, tx.SQL(), WakeArgs{ConversationID: c.ID, Until: until}, &river.InsertOpts{ScheduledAt: until}); err != nil {
			return fmt.Errorf("schedule wake-up: %w", err)
		}
		return tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventSnooze, Actor: p.Actor(), Note: "until " + until.Format(time.RFC3339)})
	})
}

// Retry queues a failed reply again.
func (s *Service) Retry(ctx context.Context, p Principal, outboundID int64) (store.Outbound, error) {
	o, err := s.store.Outbound(ctx, outboundID)
	if err != nil {
		return store.Outbound{}, err
	}
	if _, err := s.Conversation(ctx, p, o.ConversationID); err != nil {
		return store.Outbound{}, err
	}
	err = s.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if o, err = tx.RequeueOutbound(ctx, outboundID); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("reply %d has not failed: %w", outboundID, ErrConflict)
		} else if err != nil {
			return err
		}
		if _, err := s.jobs.InsertTx(ctx, tx.SQL(), router.SendArgs{OutboundID: o.ID}, nil); err != nil {
			return fmt.Errorf("enqueue send: %w", err)
		}
		if o.TicketID != 0 {
			return tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: o.TicketID, Kind: store.EventReply, Actor: p.Actor(), Note: fmt.Sprintf("retry of reply #%d", o.ID)})
		}
		return nil
	})
	return o, err
}

// Answer renders a knowledge-bank answer in the customer's language for the
// conversation's channel, as a starting point for a reply.
func (s *Service) Answer(ctx context.Context, p Principal, convID int64, topicID string) (string, error) {
	c, err := s.Conversation(ctx, p, convID)
	if err != nil {
		return "", err
	}
	if s.Bank() == nil {
		return "", invalid("no knowledge bank")
	}
	if _, ok := s.Bank().Topic(topicID); !ok {
		return "", invalid("unknown topic %q", topicID)
	}
	contact, err := s.store.Contact(ctx, c.ContactID)
	if err != nil {
		return "", err
	}
	kind := replies.KindAnswer
	if t, _ := s.Bank().Topic(topicID); t.Scope == replies.ScopeOut {
		kind = replies.KindReferral
	}
	r, err := s.Bank().Render(replies.Request{Kind: kind, TopicID: topicID, Language: contact.Language, Channel: c.ChannelKind,
		Name: contact.DisplayName, Now: s.cfg.Now(), TicketRef: c.TicketRef})
	if err != nil {
		return "", err
	}
	return r.Text, nil
}

// ContactNote records a note about a person.
func (s *Service) ContactNote(ctx context.Context, p Principal, contactID int64, body string) error {
	body, err := cleanBody(body, "the note")
	if err != nil {
		return err
	}
	if _, _, err := s.Contact(ctx, p, contactID); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx *store.Tx) error {
		return tx.AddContactNote(ctx, &store.ContactNote{ContactID: contactID, Author: p.Actor(), Body: body})
	})
}

// Merge merges contact mergeID into keepID (an email sender and a phone
// number that are the same person), recorded so it can be undone.
func (s *Service) Merge(ctx context.Context, p Principal, keepID, mergeID int64) (store.ContactMerge, error) {
	if keepID == mergeID {
		return store.ContactMerge{}, invalid("a contact cannot be merged into itself")
	}
	for _, id := range []int64{keepID, mergeID} {
		if err := s.canChangeContact(ctx, p, id); err != nil {
			return store.ContactMerge{}, err
		}
	}
	var m store.ContactMerge
	err := s.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		m, err = tx.MergeContacts(ctx, keepID, mergeID, p.Actor())
		if errors.Is(err, store.ErrDuplicate) {
			return fmt.Errorf("%v: %w", err, ErrConflict)
		}
		return err
	})
	return m, err
}

// UndoMerge undoes a merge.
func (s *Service) UndoMerge(ctx context.Context, p Principal, mergeID int64) (store.ContactMerge, error) {
	m, err := s.store.Merge(ctx, mergeID)
	if err != nil {
		return store.ContactMerge{}, err
	}
	if err := s.canChangeContact(ctx, p, m.KeptID); err != nil {
		return store.ContactMerge{}, err
	}
	err = s.store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		m, err = tx.UndoMerge(ctx, mergeID, p.Actor())
		if errors.Is(err, store.ErrDuplicate) {
			return fmt.Errorf("%v: %w", err, ErrConflict)
		}
		return err
	})
	return m, err
}

// ErrSurveyAnswered: the survey link was used already.
var ErrSurveyAnswered = errors.New("this survey was answered already")

// SurveyPage is what the public survey page shows for a link.
type SurveyPage struct {
	Link     tickets.SurveyLink
	Ref      string // the ticket's reference, for a ticket's survey
	Language string // the customer's
	// StaffRating: the customer rates the staff member too (a ticket
	// someone worked on; not an automatic answer).
	StaffRating bool
}

// Survey checks a survey link and says what its page shows: an error for
// a tampered (tickets.ErrSurveyTampered), expired (ErrSurveyExpired),
// answered (ErrSurveyAnswered) or unknown (store.ErrNotFound) link.
func (s *Service) Survey(ctx context.Context, token string) (SurveyPage, error) {
	if s.cfg.Surveys == nil || s.cfg.Surveys.Signer == nil {
		return SurveyPage{}, tickets.ErrSurveyTampered
	}
	l, err := s.cfg.Surveys.Signer.Verify(token, s.cfg.Now())
	if err != nil {
		return SurveyPage{}, err
	}
	p := SurveyPage{Link: l}
	var contactID int64
	switch l.Kind {
	case tickets.SurveyTicket:
		t, _, err := s.store.Ticket(ctx, l.ID)
		if err != nil {
			return SurveyPage{}, err
		}
		p.Ref, p.StaffRating, contactID = t.Ref, true, t.ContactID
	default:
		m, err := s.store.Message(ctx, l.ID)
		if err != nil {
			return SurveyPage{}, err
		}
		contactID = m.ContactID
	}
	if contactID != 0 {
		if c, err := s.store.Contact(ctx, contactID); err == nil {
			p.Language = c.Language
		}
	}
	answered, err := s.store.SurveyAnswered(ctx, token)
	if err != nil {
		return SurveyPage{}, err
	}
	if answered {
		return p, ErrSurveyAnswered
	}
	return p, nil
}

// AnswerSurvey records a customer's ratings (1–5; staff 0 when not asked)
// and comment for the link, once: a link used before is ErrSurveyAnswered
// and records nothing, like a tampered or expired one. A ticket's answer
// is a ticket event too.
func (s *Service) AnswerSurvey(ctx context.Context, token string, service, staff int, comment string) error {
	p, err := s.Survey(ctx, token)
	if err != nil {
		return err
	}
	if service < 1 || service > 5 || staff < 0 || staff > 5 || (p.StaffRating && staff == 0) {
		return invalid("choose a rating from 1 to 5")
	}
	if !p.StaffRating {
		staff = 0
	}
	comment = strings.TrimSpace(comment)
	if utf8.RuneCountInString(comment) > 2000 {
		comment = string([]rune(comment)[:2000])
	}
	r := store.SurveyResponse{ServiceRating: service, StaffRating: staff, Comment: comment, Language: p.Language, CreatedAt: s.cfg.Now()}
	return s.store.InTx(ctx, func(tx *store.Tx) error {
		switch p.Link.Kind {
		case tickets.SurveyTicket:
			t, err := tx.TicketForUpdate(ctx, p.Link.ID)
			if err != nil {
				return err
			}
			r.TicketID, r.ConversationID, r.Department, r.Topic, r.AgentID = t.ID, t.ConversationID, t.Department, t.Topic, t.WorkedBy
		default:
			m, err := s.store.Message(ctx, p.Link.ID)
			if err != nil {
				return err
			}
			r.MessageID, r.ConversationID, r.Topic = m.ID, m.ConversationID, m.Topic
		}
		if err := tx.RecordSurvey(ctx, token, &r); errors.Is(err, store.ErrDuplicate) {
			return ErrSurveyAnswered
		} else if err != nil {
			return err
		}
		if r.TicketID == 0 {
			return nil
		}
		note := fmt.Sprintf("service %d/5, staff %d/5", service, staff)
		if comment != "" {
			note += ": " + comment
		}
		return tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: r.TicketID, Kind: store.EventSurvey, Actor: "customer", Note: note, CreatedAt: r.CreatedAt})
	})
}

// Invalid makes an InvalidError, for callers that check their own input.
func Invalid(msg string) error { return &InvalidError{msg} }
