package stomp

import (
	"bytes"
	"errors"
	"io"
	"strings"
)

// ErrUnencodable is returned by AppendFrame for a frame that has no
// faithful encoding in its version: a bad command; a header that the
// version cannot escape (an end of line, or a colon in a key, in 1.0 and in
// CONNECT and CONNECTED; a carriage return in 1.1); a body holding a NUL
// without a content-length header, or a content-length that is not the
// body's.
var ErrUnencodable = errors.New("stomp: the frame cannot be encoded")

var (
	escaper12 = strings.NewReplacer(`\`, `\\`, "\r", `\r`, "\n", `\n`, ":", `\c`)
	escaper11 = strings.NewReplacer(`\`, `\\`, "\n", `\n`, ":", `\c`)
)

// AppendFrame appends the encoding of f in version v to b.
func AppendFrame(b []byte, f *Frame, v Version) ([]byte, error) {
	if len(f.Command) > maxCommand || !isCommand(f.Command) {
		return b, ErrUnencodable
	}
	esc := escapes(v, f.Command)
	b = append(b, f.Command...)
	b = append(b, '\n')
	for _, h := range f.Headers {
		switch esc {
		case escNone:
			if strings.ContainsAny(h.Key, ":\r\n") || strings.ContainsAny(h.Value, "\r\n") {
				return b, ErrUnencodable
			}
			b = append(b, h.Key...)
			b = append(b, ':')
			b = append(b, h.Value...)
		case esc11:
			if strings.ContainsRune(h.Key, '\r') || strings.ContainsRune(h.Value, '\r') {
				return b, ErrUnencodable
			}
			b = append(b, escaper11.Replace(h.Key)...)
			b = append(b, ':')
			b = append(b, escaper11.Replace(h.Value)...)
		default:
			b = append(b, escaper12.Replace(h.Key)...)
			b = append(b, ':')
			b = append(b, escaper12.Replace(h.Value)...)
		}
		b = append(b, '\n')
	}
	if v, ok := f.Get("content-length"); ok {
		if n, err := parseLength(v); err != nil || n != len(f.Body) {
			return b, ErrUnencodable
		}
	} else if bytes.IndexByte(f.Body, 0) >= 0 {
		return b, ErrUnencodable
	}
	b = append(b, '\n')
	b = append(b, f.Body...)
	return append(b, 0), nil
}

// WriteFrame writes f in version v to w in one Write.
func WriteFrame(w io.Writer, f *Frame, v Version) error {
	b, err := AppendFrame(nil, f, v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
