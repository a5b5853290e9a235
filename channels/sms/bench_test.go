package sms

import (
	"net/http"
	"strings"
	"testing"
)

func BenchmarkSegments(b *testing.B) {
	text := strings.Repeat("شكرًا لتواصلك مع مركز الخدمة. ", 10)
	for b.Loop() {
		Segments(text)
	}
}

// BenchmarkInboundHandler measures signature check and parsing of one
// webhook, without the pipeline.
func BenchmarkInboundHandler(b *testing.B) {
	cfg := testConfig()
	c, err := New(cfg, discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	h := c.InboundHandler(&fakeSink{})
	body := fixture(b, "inbound_whatsapp_image.form")
	for b.Loop() {
		w := serve(h, signedPost(b, testToken, testPublic+inboundPath, inboundPath, body))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
