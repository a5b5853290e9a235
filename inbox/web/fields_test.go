package web

import (
	"context"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// TestFieldsTable checks a form's answers show as a table of labels and
// values in the conversation, not as the lines of its text.
func TestFieldsTable(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	form := store.Channel{Name: "forms", Kind: message.Form, Enabled: true}
	if err := w.st.UpsertChannel(ctx, &form); err != nil {
		t.Fatal(err)
	}
	from := message.Party{Kind: message.IdentityEmail, Value: "noura@example.edu.sa", Name: "نورة"}
	var conv int64
	err := w.st.InTx(ctx, func(tx *store.Tx) error {
		c, err := tx.FindOrCreateContact(ctx, from)
		if err != nil {
			return err
		}
		cv := store.Conversation{ContactID: c.ID, ChannelID: form.ID, Subject: "صيانة"}
		if err := tx.CreateConversation(ctx, &cv); err != nil {
			return err
		}
		conv = cv.ID
		m := store.Message{ChannelID: form.ID, ExternalID: "form:k", ConversationID: cv.ID, ContactID: c.ID, From: from,
			Subject: "صيانة", Text: "الجهاز: جهاز العرض\nوصف العطل: <ينطفئ>",
			Fields: []message.Field{{Name: "device", Label: "الجهاز", Value: "جهاز العرض"}, {Name: "fault", Label: "وصف العطل", Value: "<ينطفئ>"}}}
		return tx.InsertMessage(ctx, &m)
	})
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := get(t, w.client(t, "op@uni.example"), w.srv.URL+"/conversations/"+itoa(conv))
	if code != 200 {
		t.Fatalf("conversation: %d\n%s", code, body)
	}
	for _, s := range []string{`<table class="fields"`, `<th scope="row" dir="auto">الجهاز</th><td class="text" dir="auto">جهاز العرض</td>`, `&lt;ينطفئ&gt;`} {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %s", s)
		}
	}
	if strings.Contains(body, "الجهاز: جهاز العرض") {
		t.Error("the answers show as text lines as well")
	}
}
