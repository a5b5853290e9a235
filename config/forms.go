package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/wasl-dev/wasl/message"
)

// Form is the channel of the public service-request forms (kind form),
// served at /forms/{topic} for every topic of the bank that has a form.
// A form sends nothing itself: the acknowledgement goes out by the email
// channel ReplyEmail, and by ReplySMS or ReplyWhatsApp to a customer who
// gave a mobile number and asked for it there (the page offers only the
// ones configured).
type Form struct {
	ReplyEmail    string `yaml:"reply_email"`    // an email channel's name; required
	ReplySMS      string `yaml:"reply_sms"`      // a Twilio SMS channel's name
	ReplyWhatsApp string `yaml:"reply_whatsapp"` // a Twilio WhatsApp (kind sms, from whatsapp:+…) or linked-device channel's name
	// FrameAncestors are the origins whose pages may show the forms in an
	// <iframe> (Content-Security-Policy frame-ancestors), e.g.
	// https://uqu.edu.sa; none: the forms cannot be framed.
	FrameAncestors []string `yaml:"frame_ancestors"`
	// MinFillTime: a submission sent sooner after its page was served is
	// refused as a bot's (default 3s). MaxAge: a page older than this is
	// served again with the values kept (default 24h).
	MinFillTime Duration `yaml:"min_fill_time"`
	MaxAge      Duration `yaml:"max_age"`
	// PerIP and PerContact bound accepted submissions (defaults 20 per hour
	// per address, 5 per day per email or mobile).
	PerIP      Limit `yaml:"per_ip"`
	PerContact Limit `yaml:"per_contact"`
	// MaxUploadBytes bounds each uploaded file (default 5 MiB); the whole
	// request may carry the form's file fields' worth plus 256 KiB.
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
}

// Limit is at most Max in Within.
type Limit struct {
	Max    int      `yaml:"max"`
	Within Duration `yaml:"within"`
}

// Phone is the channel of calls a representative logs in the inbox (kind
// phone). After a call Wasl can send the caller the links picked from the
// bank and the rating link by SendWhatsApp or SendSMS, as the
// representative chooses for each call.
type Phone struct {
	SendSMS      string `yaml:"send_sms"`      // a Twilio SMS channel's name
	SendWhatsApp string `yaml:"send_whatsapp"` // a Twilio WhatsApp or linked-device channel's name
}

// validateIntake checks a form or phone channel: the channels it answers by
// exist and can carry what is asked of them.
func (c *Config) validateIntake(ch Channel, where string) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if ch.IMAP != nil || ch.SMTP != nil || ch.Twilio != nil || ch.WhatsApp != nil {
		bad("%s: a %s channel takes no imap, smtp, twilio or whatsapp settings (it answers through the channels it names)", where, ch.Kind)
	}
	ref := func(key, name string, want string) {
		if name == "" {
			return
		}
		other, ok := c.channel(name)
		switch {
		case !ok:
			bad("%s: %s: no channel named %q", where, key, name)
		case other.Disabled:
			bad("%s: %s: channel %q is disabled", where, key, name)
		case want == "email" && other.Kind != message.Email:
			bad("%s: %s: channel %q is %s, want an email channel", where, key, name, other.Kind)
		case want == "sms" && (other.Kind != message.SMS || other.twilioWhatsApp()):
			bad("%s: %s: channel %q is not a Twilio SMS number", where, key, name)
		case want == "whatsapp" && other.Kind != message.WhatsApp && !other.twilioWhatsApp():
			bad("%s: %s: channel %q is not WhatsApp (a Twilio number with from: whatsapp:+… or a linked device)", where, key, name)
		}
	}
	switch ch.Kind {
	case message.Form:
		if ch.Phone != nil {
			bad("%s: a form channel takes form settings, not phone", where)
		}
		f := ch.Form
		if f == nil || f.ReplyEmail == "" {
			bad("%s: form channels need form.reply_email (the email channel that sends acknowledgements)", where)
			return errs
		}
		ref("form.reply_email", f.ReplyEmail, "email")
		ref("form.reply_sms", f.ReplySMS, "sms")
		ref("form.reply_whatsapp", f.ReplyWhatsApp, "whatsapp")
		for _, o := range f.FrameAncestors {
			if err := checkOrigin(o); err != nil {
				bad("%s: form.frame_ancestors: %v", where, err)
			}
		}
		for key, l := range map[string]Limit{"form.per_ip": f.PerIP, "form.per_contact": f.PerContact} {
			if l.Max < 0 || l.Within < 0 {
				bad("%s: %s: want a positive max and within (0 for the default)", where, key)
			}
		}
		if f.MaxUploadBytes < 0 || f.MaxUploadBytes > 64<<20 {
			bad("%s: form.max_upload_bytes %d: want at most 64 MiB (0 for the default, 5 MiB)", where, f.MaxUploadBytes)
		}
		if f.MinFillTime < 0 || (f.MaxAge != 0 && f.MaxAge.D(0) <= f.MinFillTime.D(0)) {
			bad("%s: form.max_age must be longer than form.min_fill_time", where)
		}
	case message.Phone:
		if ch.Form != nil {
			bad("%s: a phone channel takes phone settings, not form", where)
		}
		if p := ch.Phone; p != nil {
			ref("phone.send_sms", p.SendSMS, "sms")
			ref("phone.send_whatsapp", p.SendWhatsApp, "whatsapp")
		}
	}
	return errs
}

// validateIntakeCount: the forms are served at one address and calls are
// logged on one page, so there is at most one of each.
func (c *Config) validateIntakeCount() []error {
	var errs []error
	for _, k := range []message.Kind{message.Form, message.Phone} {
		n := 0
		for _, ch := range c.Channels {
			if ch.Kind == k && !ch.Disabled {
				n++
			}
		}
		if n > 1 {
			errs = append(errs, fmt.Errorf("only one enabled %s channel is supported, found %d", k, n))
		}
	}
	return errs
}

func (c *Config) channel(name string) (Channel, bool) {
	for _, ch := range c.Channels {
		if ch.Name == name {
			return ch, true
		}
	}
	return Channel{}, false
}

// twilioWhatsApp reports a Twilio channel whose number is a WhatsApp sender.
func (ch Channel) twilioWhatsApp() bool {
	return ch.Kind == message.SMS && ch.Twilio != nil && strings.HasPrefix(strings.ToLower(ch.Twilio.From), "whatsapp:")
}

// checkOrigin accepts what frame-ancestors may list here: a scheme, a host
// (a leading "*." for its subdomains) and a port, nothing else, so an
// operator's typo cannot open the forms to every site.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.ContainsAny(o, " ;,'") {
		return fmt.Errorf("%q: want an origin such as https://uqu.edu.sa", o)
	}
	host := u.Hostname()
	if strings.Contains(strings.TrimPrefix(host, "*."), "*") || host == "*" {
		return fmt.Errorf("%q: a wildcard may only start the host (https://*.uqu.edu.sa)", o)
	}
	return nil
}
