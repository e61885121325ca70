package server

import (
	"errors"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

func FuzzParsePageToken(f *testing.F) {
	for _, s := range []string{"", pageToken(1), pageToken(1 << 40), "garbage", "AAAAAAAAAAA", "AAAAAAAAAAE=", "__________8", "AAAAAAAAAAB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		v, err := ParsePageToken(tok)
		if err != nil {
			if !errors.Is(err, hmcerr.ErrInvalidField) {
				t.Fatalf("ParsePageToken(%q) error %v is not 400.7", tok, err)
			}
			return
		}
		if tok == "" {
			if v != 0 {
				t.Fatalf("empty token gave %d", v)
			}
			return
		}
		if v <= 0 || pageToken(v) != tok {
			t.Fatalf("ParsePageToken(%q) = %d, which encodes as %q", tok, v, pageToken(v))
		}
	})
}
