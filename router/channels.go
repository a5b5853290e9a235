package router

// ReplyShaper fits automatic replies to what a channel can carry: an SMS
// number has a segment budget. The SMS channel is one.
type ReplyShaper interface {
	// FitsBudget reports whether text can go out as it is.
	FitsBudget(text string) bool
	// ShortLimit is how many characters a reply cut to fit may keep.
	ShortLimit() int
}

// Channels is what the pipeline needs of each channel, by channel id. The
// binary's channel registry provides it, so the router depends on the
// channel contract, not on the channels.
type Channels interface {
	// Shaper returns the channel's limits; false when its replies have none
	// (email, a WhatsApp device).
	Shaper(channelID int64) (ReplyShaper, bool)
	// NewMessageID returns a fresh, globally unique Message-ID (without
	// angle brackets) for a reply on the channel, or "" when the channel's
	// messages carry none.
	NewMessageID(channelID int64) string
}
