package server

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// Cursors and page tokens stand for a store revision. Revisions come from
// one counter for all jobs, so a plain one would let a caller count, from
// the gaps between its own, the activity of others; they are therefore
// encrypted, one AES block of the revision and a fixed tag, under a key
// that lives as long as the data (so cursors survive restarts). Equal
// revisions give equal cursors; nothing else can be read from them.
type cursorCodec struct{ block cipher.Block }

// cursorTag fills the second half of the block; a token that does not
// decrypt to it was not issued here.
var cursorTag = [8]byte{'b', 'c', 'p', 'i', 'i', 'c', 'u', 'r'}

// CursorKeySize is the length of a cursor key.
const CursorKeySize = 32

// NewCursorKey returns a random cursor key.
func NewCursorKey() []byte {
	k := make([]byte, CursorKeySize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k
}

func newCursorCodec(key []byte) (cursorCodec, error) {
	if len(key) != CursorKeySize {
		return cursorCodec{}, fmt.Errorf("server: a cursor key has %d bytes, not %d", CursorKeySize, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return cursorCodec{}, err
	}
	return cursorCodec{block: b}, nil
}

func (c cursorCodec) encode(rev int64) string {
	var in, out [aes.BlockSize]byte
	binary.BigEndian.PutUint64(in[:8], uint64(rev))
	copy(in[8:], cursorTag[:])
	c.block.Encrypt(out[:], in[:])
	return base64.RawURLEncoding.EncodeToString(out[:])
}

var errBadCursor = hmcerr.ErrInvalidField.WithMessage("The cursor or page token is not one this gateway issued.")

// parse reads a cursor or page token; empty means from the start.
func (c cursorCodec) parse(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	if len(tok) != base64.RawURLEncoding.EncodedLen(aes.BlockSize) {
		return 0, errBadCursor
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) != aes.BlockSize {
		return 0, errBadCursor
	}
	var out [aes.BlockSize]byte
	c.block.Decrypt(out[:], raw)
	if [8]byte(out[8:]) != cursorTag {
		return 0, errBadCursor
	}
	v := binary.BigEndian.Uint64(out[:8])
	if v == 0 || v > 1<<62 {
		return 0, errBadCursor
	}
	return int64(v), nil
}
