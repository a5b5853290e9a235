package replies

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// The university's bank has a form for each service the catalogue takes by
// electronic ticket, with the catalogue's fields: the common ones first,
// then the service's own.
func TestUniversityForms(t *testing.T) {
	b, err := LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tp := range b.Forms() {
		ids = append(ids, tp.ID)
	}
	if want := []string{"inquiries", "equipment_supply", "equipment_maintenance", "video_coverage"}; !slices.Equal(ids, want) {
		t.Fatalf("topics with forms %v, want %v", ids, want)
	}
	common := []string{"name", "category", "email", "mobile", "college", "building", "room"}
	tests := []struct {
		topic string
		own   []string
	}{
		{"inquiries", []string{"kind", "details"}},
		{"equipment_supply", []string{"items", "needed_by", "notes"}},
		{"equipment_maintenance", []string{"device", "fault", "photo"}},
		{"video_coverage", []string{"event", "service", "date", "time", "place", "notes"}},
	}
	for _, tt := range tests {
		tp, _ := b.Topic(tt.topic)
		var names []string
		for _, f := range tp.Form.Fields {
			names = append(names, f.Name)
			if f.Label.AR == "" || f.Label.EN == "" {
				t.Errorf("%s: field %s lacks a label", tt.topic, f.Name)
			}
		}
		if want := append(slices.Clone(common), tt.own...); !slices.Equal(names, want) {
			t.Errorf("%s: fields %v, want %v", tt.topic, names, want)
		}
	}
	tp, _ := b.Topic("equipment_maintenance")
	photo, _ := tp.Form.Field("photo")
	email, _ := tp.Form.Field("email")
	cat, _ := tp.Form.Field("category")
	if photo.Type != FieldFile || photo.Required || email.Identity != IdentityEmail || !email.Required || len(cat.Options) != 4 {
		t.Errorf("photo %+v, email %+v, category options %d", photo, email, len(cat.Options))
	}
	supply, _ := b.Topic("equipment_supply")
	if items, _ := supply.Form.Field("items"); items.Type != FieldItems || items.Rows != 5 {
		t.Errorf("items field %+v", items)
	}
	cov, _ := b.Topic("video_coverage")
	if d, _ := cov.Form.Field("date"); !d.Future || !d.Required {
		t.Errorf("coverage date %+v: want required and in the future", d)
	}
}

// With forms served, every reply about a topic with a form links to the
// gateway's own form first; the bank it came from is left as it was.
func TestWithForms(t *testing.T) {
	b, err := LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fb := b.WithForms("https://wasl.example.edu.sa/")
	m, _ := fb.Topic("equipment_maintenance")
	if m.Links[0].URL != "https://wasl.example.edu.sa/forms/equipment_maintenance" || !strings.Contains(m.Links[0].Title.AR, "صيانة") {
		t.Fatalf("first link %+v", m.Links[0])
	}
	if orig, _ := b.Topic("equipment_maintenance"); orig.Links[0].URL == m.Links[0].URL || len(orig.Links) != len(m.Links)-1 {
		t.Errorf("the original bank changed: %+v", orig.Links)
	}
	if c, _ := fb.Topic("clearance"); strings.Contains(c.Links[0].URL, "wasl.example") {
		t.Errorf("a topic without a form got a form link: %+v", c.Links)
	}
	r, err := fb.Render(Request{Kind: KindAcknowledgement, TopicID: "equipment_maintenance", Language: "ar", Channel: message.Email,
		TicketRef: "EDU-2026-000001", Now: mustTime(t, "2026-11-22T06:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.HTML, `href="https://wasl.example.edu.sa/forms/equipment_maintenance"`) {
		t.Errorf("acknowledgement HTML lacks the form link:\n%s", r.HTML)
	}
	short, err := fb.RenderShort(Request{Kind: KindAcknowledgement, TopicID: "equipment_maintenance", Language: "ar", Channel: message.SMS,
		TicketRef: "EDU-2026-000001", Now: mustTime(t, "2026-11-22T06:00:00Z")}, 134)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(short.Text, "/forms/equipment_maintenance") || !strings.Contains(short.Text, "EDU-2026-000001") {
		t.Errorf("short acknowledgement %q lacks the reference or the form link", short.Text)
	}
}

func TestRenderFollowUp(t *testing.T) {
	b, err := LoadBank("testdata/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	links := []Link{{Title: Text{AR: "نموذج الصيانة", EN: "Repair form"}, URL: "https://example.edu.sa/forms/repair"}}
	tests := []struct {
		name string
		f    FollowUp
		want []string
	}{
		{"arabic by whatsapp", FollowUp{Language: "ar", Channel: message.WhatsApp, Name: "ريم", Links: links, RatingURL: "https://example.edu.sa/survey?call=k1"},
			[]string{"مرحبًا ريم، شكرًا لاتصالك بـخدمة الاختبار", "- نموذج الصيانة: https://example.edu.sa/forms/repair", "ولأداء ممثل خدمة العملاء عبر الرابط: https://example.edu.sa/survey?call=k1"}},
		{"english, rating only", FollowUp{Language: "en", Channel: message.SMS, RatingURL: "https://example.edu.sa/survey?call=k2"},
			[]string{"Hello, thank you for calling the Test Service.", "Please rate the service and the representative who helped you: https://example.edu.sa/survey?call=k2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := b.RenderFollowUp(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Text, w) {
					t.Errorf("follow-up lacks %q:\n%s", w, r.Text)
				}
			}
			if r.HTML != "" {
				t.Error("HTML for a text channel")
			}
		})
	}
	if _, err := b.RenderFollowUp(FollowUp{Language: "ar", Channel: message.SMS}); err == nil {
		t.Error("a follow-up with neither links nor a rating link rendered")
	}
}

func TestLinkChoices(t *testing.T) {
	b, err := LoadBank("testdata/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range b.LinkChoices() {
		got[c.Key] = c.Link.URL
	}
	for key, url := range map[string]string{"repair#0": "https://example.edu.sa/forms/repair", "repair#1": "https://example.edu.sa/itqan",
		"grades#referral": "https://example.edu.sa/registrar"} {
		if got[key] != url {
			t.Errorf("link %s = %q, want %q (all: %v)", key, got[key], url, got)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
