package message

import "testing"

// Every kind has a name in both languages, and SMS and WhatsApp a way to
// offer them; an unknown kind shows as itself.
func TestNames(t *testing.T) {
	for _, k := range Kinds() {
		n := k.Name()
		if n[0] == "" || n[1] == "" || n[0] == string(k) || n[1] == string(k) {
			t.Errorf("%s: name %q", k, n)
		}
		if k != SMS && k != WhatsApp {
			continue
		}
		if b := k.By(); b[0] == "" || b[1] == "" || b[0] == string(k) || b == n {
			t.Errorf("%s: by %q", k, b)
		}
	}
	if n := Kind("fax").Name(); n != [2]string{"fax", "fax"} {
		t.Errorf("unknown kind: %q", n)
	}
}
