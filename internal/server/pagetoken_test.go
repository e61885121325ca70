package server

import (
	"errors"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

func FuzzParseCursor(f *testing.F) {
	c, err := newCursorCodec(NewCursorKey())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", c.encode(1), c.encode(1 << 40), "garbage", "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAE=", "______________________"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		v, err := c.parse(tok)
		if err != nil {
			if !errors.Is(err, hmcerr.ErrInvalidField) {
				t.Fatalf("parse(%q) error %v is not 400.7", tok, err)
			}
			return
		}
		if tok == "" {
			if v != 0 {
				t.Fatalf("empty token gave %d", v)
			}
			return
		}
		if v <= 0 || c.encode(v) != tok {
			t.Fatalf("parse(%q) = %d, which encodes as %q", tok, v, c.encode(v))
		}
	})
}

// Cursors of nearby revisions share nothing visible, and another key's
// cursors are refused.
func TestCursorsHideRevisions(t *testing.T) {
	c, _ := newCursorCodec(NewCursorKey())
	other, _ := newCursorCodec(NewCursorKey())
	a, b := c.encode(41), c.encode(42)
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	if same > 8 {
		t.Errorf("cursors of revisions 41 and 42 share %d of %d characters: %s %s", same, len(a), a, b)
	}
	if v, err := c.parse(b); err != nil || v != 42 {
		t.Fatalf("parse: %d %v", v, err)
	}
	if _, err := other.parse(b); err == nil {
		t.Fatal("a cursor under another key was accepted")
	}
}
