package stomp

import (
	"bytes"
	"errors"
	"io"
	"strings"
)

// ErrUnencodable is returned by AppendFrame for a frame that has no
// faithful encoding: a bad command, a header of CONNECT or CONNECTED (which
// are not escaped) holding a colon in its key or an end of line, or a body
// holding a NUL without a content-length header, or a content-length that
// is not the body's.
var ErrUnencodable = errors.New("stomp: the frame cannot be encoded")

var escaper = strings.NewReplacer(`\`, `\\`, "\r", `\r`, "\n", `\n`, ":", `\c`)

// AppendFrame appends the encoding of f to b.
func AppendFrame(b []byte, f *Frame) ([]byte, error) {
	if len(f.Command) > maxCommand || !isCommand(f.Command) {
		return b, ErrUnencodable
	}
	raw := f.Command == CmdConnect || f.Command == CmdConnected
	b = append(b, f.Command...)
	b = append(b, '\n')
	for _, h := range f.Headers {
		if raw {
			if strings.ContainsAny(h.Key, ":\r\n") || strings.ContainsAny(h.Value, "\r\n") {
				return b, ErrUnencodable
			}
			b = append(b, h.Key...)
			b = append(b, ':')
			b = append(b, h.Value...)
		} else {
			b = append(b, escaper.Replace(h.Key)...)
			b = append(b, ':')
			b = append(b, escaper.Replace(h.Value)...)
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

// WriteFrame writes f to w in one Write.
func WriteFrame(w io.Writer, f *Frame) error {
	b, err := AppendFrame(nil, f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
