package server

import (
	"errors"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", Cursor(1), Cursor(1 << 40), "garbage", "AAAAAAAAAAA", "AAAAAAAAAAE=", "__________8", "AAAAAAAAAAB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		v, err := ParseCursor(tok)
		if err != nil {
			if !errors.Is(err, hmcerr.ErrInvalidField) {
				t.Fatalf("ParseCursor(%q) error %v is not 400.7", tok, err)
			}
			return
		}
		if tok == "" {
			if v != 0 {
				t.Fatalf("empty token gave %d", v)
			}
			return
		}
		if v <= 0 || Cursor(v) != tok {
			t.Fatalf("ParseCursor(%q) = %d, which encodes as %q", tok, v, Cursor(v))
		}
	})
}
