package forms

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/mail"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
)

// entry is one field as the page shows it: what was entered (kept when a
// submission is refused) and what is wrong with it.
type entry struct {
	Field replies.FormField
	Value string
	Items []itemRow
	Error string
}

// ID is the field's HTML id and name.
func (e entry) ID() string { return inputName(e.Field.Name) }

type itemRow struct {
	N         int
	Item, Qty string
}

func inputName(field string) string { return "f_" + field }

func itemNames(field string, n int) (item, qty string) {
	return fmt.Sprintf("f_%s_item_%d", field, n), fmt.Sprintf("f_%s_qty_%d", field, n)
}

// submission is a form's answers, checked.
type submission struct {
	entries     []entry
	fields      []message.Field
	attachments []message.Attachment
	name        string
	email       string // lower-cased
	mobile      string // E.164
	subject     string // the service's first own answer
	ok          bool
	hadFile     bool
}

// input is the posted form: values and files.
type input interface {
	value(name string) string
	file(name string) *multipart.FileHeader
}

type postedForm struct{ r *http.Request }

func (p postedForm) value(name string) string { return p.r.PostFormValue(name) }

func (p postedForm) file(name string) *multipart.FileHeader {
	if p.r.MultipartForm == nil {
		return nil
	}
	if fs := p.r.MultipartForm.File[name]; len(fs) > 0 {
		return fs[0]
	}
	return nil
}

// allowedUploads are the types a file field takes, by their content (the
// name and the browser's claim are not trusted).
var allowedUploads = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp", "application/pdf": ".pdf",
}

// check reads and checks every field of form from in, in lang.
func (h *Handler) check(form *replies.Form, in input, lang string) submission {
	s := submission{ok: true}
	bad := func(e *entry, key string, n ...string) {
		if len(n) > 0 {
			e.Error = trn(lang, key, n[0])
		} else {
			e.Error = tr(lang, key)
		}
		s.ok = false
	}
	for _, f := range form.Fields {
		e := entry{Field: f}
		label := f.Label.In(lang)
		switch f.Type {
		case replies.FieldItems:
			var lines []string
			for i := 1; i <= f.Rows; i++ {
				in1, in2 := itemNames(f.Name, i)
				row := itemRow{N: i, Item: clean(in.value(in1), false), Qty: strings.TrimSpace(in.value(in2))}
				e.Items = append(e.Items, row)
				switch {
				case row.Item == "" && row.Qty == "":
					continue
				case row.Item == "":
					bad(&e, "err.items_name")
				case utf8.RuneCountInString(row.Item) > f.MaxLength:
					bad(&e, "err.too_long", strconv.Itoa(f.MaxLength))
				default:
					q, err := strconv.Atoi(toASCIIDigits(row.Qty))
					if row.Qty == "" {
						q, err = 1, nil
					}
					if err != nil || q < 1 || q > 100000 {
						bad(&e, "err.items_qty")
						continue
					}
					lines = append(lines, fmt.Sprintf("%s × %d", row.Item, q))
				}
			}
			if e.Error == "" && len(lines) == 0 && f.Required {
				bad(&e, "err.items")
			}
			if e.Error == "" && len(lines) > 0 {
				s.fields = append(s.fields, message.Field{Name: f.Name, Label: label, Value: strings.Join(lines, "\n")})
			}
		case replies.FieldFile:
			fh := in.file(inputName(f.Name))
			if fh == nil || fh.Size == 0 {
				if f.Required {
					bad(&e, "err.required")
				}
				break
			}
			s.hadFile = true
			a, key := h.readUpload(fh)
			if key != "" {
				bad(&e, key, humanBytes(h.cfg.MaxUploadBytes))
				break
			}
			s.attachments = append(s.attachments, a)
			s.fields = append(s.fields, message.Field{Name: f.Name, Label: label, Value: a.Filename})
		default:
			raw := in.value(inputName(f.Name))
			e.Value = clean(raw, f.Type == replies.FieldTextarea)
			if e.Value == "" {
				if f.Required {
					bad(&e, "err.required")
				}
				break
			}
			v, code, key, n := h.checkValue(f, e.Value, lang)
			if key != "" {
				bad(&e, key, n)
				break
			}
			s.fields = append(s.fields, message.Field{Name: f.Name, Label: label, Value: v, Code: code})
			switch f.Identity {
			case replies.IdentityName:
				s.name = v
			case replies.IdentityEmail:
				s.email = v
			case replies.IdentityMobile:
				s.mobile = v
			}
			if !f.Common && s.subject == "" && (f.Type == replies.FieldText || f.Type == replies.FieldChoice) {
				s.subject = v
			}
		}
		s.entries = append(s.entries, e)
	}
	return s
}

// checkValue checks one non-empty answer: the value to keep (normalized),
// a choice's key, or the catalogue key of what is wrong (with its {n}).
func (h *Handler) checkValue(f replies.FormField, v, lang string) (value, code, errKey, n string) {
	switch f.Type {
	case replies.FieldText, replies.FieldTextarea:
		if utf8.RuneCountInString(v) > f.MaxLength {
			return "", "", "err.too_long", strconv.Itoa(f.MaxLength)
		}
		return v, "", "", ""
	case replies.FieldEmail:
		a, err := mail.ParseAddress(v)
		at := strings.LastIndexByte(v, '@')
		if err != nil || a.Address != v || a.Name != "" || at < 1 || !strings.Contains(v[at:], ".") || len(v) > 254 {
			return "", "", "err.email", ""
		}
		return strings.ToLower(v), "", "", ""
	case replies.FieldPhone:
		p, err := message.NormalizePhone(toASCIIDigits(v), h.cfg.Region)
		if err != nil {
			return "", "", "err.phone", ""
		}
		return p, "", "", ""
	case replies.FieldNumber:
		x, err := strconv.Atoi(toASCIIDigits(v))
		switch {
		case err != nil:
			return "", "", "err.number", ""
		case f.Min != nil && x < *f.Min:
			return "", "", "err.number_min", strconv.Itoa(*f.Min)
		case f.Max != nil && x > *f.Max:
			return "", "", "err.number_max", strconv.Itoa(*f.Max)
		}
		return strconv.Itoa(x), "", "", ""
	case replies.FieldDate:
		d, err := time.ParseInLocation(time.DateOnly, toASCIIDigits(v), h.zone)
		if err != nil {
			return "", "", "err.date", ""
		}
		if f.Future {
			// Today as the bank reckons it: Asia/Riyadh for the university,
			// whatever the server's zone or the visitor's.
			y, m, dd := h.cfg.Now().In(h.zone).Date()
			if d.Before(time.Date(y, m, dd, 0, 0, 0, 0, h.zone)) {
				return "", "", "err.date_past", ""
			}
		}
		return d.Format(time.DateOnly), "", "", ""
	case replies.FieldTime:
		t, err := time.Parse("15:04", toASCIIDigits(v))
		if err != nil {
			return "", "", "err.time", ""
		}
		return t.Format("15:04"), "", "", ""
	case replies.FieldChoice:
		for _, o := range f.Options {
			if o.Value == v {
				return o.Label.In(lang), o.Value, "", ""
			}
		}
		return "", "", "err.choice", ""
	}
	return "", "", "err.required", ""
}

// readUpload reads an uploaded file and checks its size and type; the
// error is a catalogue key.
func (h *Handler) readUpload(fh *multipart.FileHeader) (message.Attachment, string) {
	if fh.Size > h.cfg.MaxUploadBytes {
		return message.Attachment{}, "err.file_size"
	}
	f, err := fh.Open()
	if err != nil {
		return message.Attachment{}, "err.file_type"
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, h.cfg.MaxUploadBytes+1))
	if err != nil {
		return message.Attachment{}, "err.file_type"
	}
	if int64(len(data)) > h.cfg.MaxUploadBytes {
		return message.Attachment{}, "err.file_size"
	}
	ct := http.DetectContentType(data)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ext, ok := allowedUploads[ct]
	if !ok {
		return message.Attachment{}, "err.file_type"
	}
	return message.Attachment{Filename: uploadName(fh.Filename, ext), ContentType: ct, Size: int64(len(data)), Content: data}, ""
}

// uploadName keeps the base of the name the browser sent, without path or
// control characters, at most 100 characters, with the extension of what
// the file really is.
func uploadName(name, ext string) string {
	name = filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, name)
	base := strings.TrimSpace(strings.TrimSuffix(name, filepath.Ext(name)))
	if base == "" || base == "." {
		base = "upload"
	}
	if r := []rune(base); len(r) > 100 {
		base = string(r[:100])
	}
	return base + ext
}

// clean trims an answer and drops control characters (keeping line breaks
// in multi-line answers) and bidi overrides, which could make a ticket
// read other than it was written.
func clean(s string, multiline bool) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' && multiline, r == '\t':
			return r
		case r == '\n':
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// toASCIIDigits reads Arabic-Indic and Persian digits as 0–9: phones and
// keyboards in Arabic type them.
func toASCIIDigits(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '٠' && r <= '٩':
			return '0' + (r - '٠')
		case r >= '۰' && r <= '۹':
			return '0' + (r - '۰')
		}
		return r
	}, strings.TrimSpace(s))
}

func humanBytes(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	if n >= 1<<10 {
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
