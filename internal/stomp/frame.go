// Package stomp reads and writes STOMP frames of versions 1.0, 1.1 and 1.2
// (https://stomp.github.io/): the wire format of the HMC's notification
// interface. It knows frames only, not brokers or connections; every read
// is bounded by Limits, so a peer can make it hold no more than a frame's
// worth of memory. A stream's version is settled by its CONNECT and
// CONNECTED frames, which every version writes alike (unescaped); the
// frames after them follow the version's escaping.
package stomp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The commands of STOMP 1.2 (1.0 lacks STOMP and NACK).
const (
	CmdConnect     = "CONNECT"
	CmdStomp       = "STOMP"
	CmdConnected   = "CONNECTED"
	CmdSend        = "SEND"
	CmdSubscribe   = "SUBSCRIBE"
	CmdUnsubscribe = "UNSUBSCRIBE"
	CmdAck         = "ACK"
	CmdNack        = "NACK"
	CmdBegin       = "BEGIN"
	CmdCommit      = "COMMIT"
	CmdAbort       = "ABORT"
	CmdDisconnect  = "DISCONNECT"
	CmdMessage     = "MESSAGE"
	CmdReceipt     = "RECEIPT"
	CmdError       = "ERROR"
)

// maxCommand is the longest command line accepted: longer than any
// command of STOMP 1.2.
const maxCommand = 32

// Header is one header line of a frame.
type Header struct {
	Key, Value string
}

// Frame is one STOMP frame. Headers keep their order and repetitions; as
// STOMP 1.2 says, the first of repeated headers is the one that counts.
type Frame struct {
	Command string
	Headers []Header
	Body    []byte
}

// Get returns the value of the first header called key, and whether there
// is one.
func (f *Frame) Get(key string) (string, bool) {
	for _, h := range f.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return "", false
}

// Add appends a header.
func (f *Frame) Add(key, value string) { f.Headers = append(f.Headers, Header{key, value}) }

// Limits bound what ReadFrame accepts.
type Limits struct {
	// MaxLine is the longest command or header line, in bytes, end of line
	// included.
	MaxLine int
	// MaxHeaders is the most headers a frame may have.
	MaxHeaders int
	// MaxHeaderBytes bounds the sum of a frame's header lines.
	MaxHeaderBytes int
	// MaxBody is the largest body.
	MaxBody int
}

// DefaultLimits are generous for the frames a notification client sends
// (CONNECT, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT: a few short headers, no
// body) and keep a connection's reading memory around 16 KiB.
var DefaultLimits = Limits{MaxLine: 4 << 10, MaxHeaders: 32, MaxHeaderBytes: 16 << 10, MaxBody: 16 << 10}

// Errors of ReadFrame. A frame that fails is not recoverable: the stream's
// framing is lost, and the connection should end with an ERROR frame.
var (
	ErrTooLarge  = errors.New("stomp: frame exceeds the size limits")
	ErrMalformed = errors.New("stomp: malformed frame")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Reader reads frames from a stream.
type Reader struct {
	r       *bufio.Reader
	limits  Limits
	version Version
}

// NewReader returns a Reader of r with limits l; zero fields of l take
// DefaultLimits' values.
func NewReader(r io.Reader, l Limits) *Reader {
	d := DefaultLimits
	if l.MaxLine <= 0 {
		l.MaxLine = d.MaxLine
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = d.MaxHeaders
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxBody <= 0 {
		l.MaxBody = d.MaxBody
	}
	return &Reader{r: bufio.NewReaderSize(r, max(l.MaxLine, 16)), limits: l, version: V12}
}

// SetVersion sets the version whose escaping the frames after CONNECT and
// CONNECTED follow; a new Reader reads 1.2.
func (r *Reader) SetVersion(v Version) { r.version = v }

// ReadFrame reads the next frame, skipping the end-of-line heart-beats
// before it. It returns io.EOF at a clean end of stream, between frames.
func (r *Reader) ReadFrame() (*Frame, error) {
	var line []byte
	for {
		var err error
		line, err = r.line()
		if err != nil {
			return nil, err
		}
		if len(line) > 0 {
			break
		}
	}
	cmd := string(line)
	if len(cmd) > maxCommand || !isCommand(cmd) {
		return nil, malformed("command %q", truncate(cmd))
	}
	f := &Frame{Command: cmd}
	esc := escapes(r.version, cmd)
	total := 0
	for {
		line, err := r.line()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if len(line) == 0 {
			break
		}
		total += len(line)
		if len(f.Headers) == r.limits.MaxHeaders || total > r.limits.MaxHeaderBytes {
			return nil, ErrTooLarge
		}
		h, err := parseHeader(line, esc)
		if err != nil {
			return nil, err
		}
		f.Headers = append(f.Headers, h)
	}
	body, err := r.body(f)
	if err != nil {
		return nil, err
	}
	f.Body = body
	return f, nil
}

// line reads one line without its end: LF, or CRLF as 1.2 defines it and
// as 1.0 and 1.1 peers send it in practice.
func (r *Reader) line() ([]byte, error) {
	b, err := r.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, ErrTooLarge
	case errors.Is(err, io.EOF) && len(b) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// body reads the body and its terminating NUL: content-length bytes when
// the header is there, else up to the first NUL.
func (r *Reader) body(f *Frame) ([]byte, error) {
	if v, ok := f.Get("content-length"); ok {
		n, err := parseLength(v)
		if err != nil {
			return nil, err
		}
		if n > r.limits.MaxBody {
			return nil, ErrTooLarge
		}
		b := make([]byte, n+1)
		if _, err := io.ReadFull(r.r, b); err != nil {
			return nil, unexpectedEOF(err)
		}
		if b[n] != 0 {
			return nil, malformed("body longer than its content-length")
		}
		return b[:n:n], nil
	}
	var body []byte
	for {
		chunk, err := r.r.ReadSlice(0)
		if len(body)+len(chunk) > r.limits.MaxBody+1 {
			return nil, ErrTooLarge
		}
		body = append(body, chunk...)
		switch {
		case err == nil:
			return body[: len(body)-1 : len(body)-1], nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, unexpectedEOF(err)
		}
	}
}

func parseLength(v string) (int, error) {
	if v == "" || len(v) > 10 || strings.TrimLeft(v, "0123456789") != "" {
		return 0, malformed("content-length %q", truncate(v))
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, malformed("content-length %q", truncate(v))
	}
	return n, nil
}

func isCommand(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// escapes is the escaping of cmd's headers in version v: CONNECT and
// CONNECTED are never escaped, so that every version reads them alike;
// 1.0 escapes nothing, 1.1 all but \r, 1.2 all.
func escapes(v Version, cmd string) escaping {
	switch {
	case cmd == CmdConnect || cmd == CmdConnected || v == V10:
		return escNone
	case v == V11:
		return esc11
	}
	return esc12
}

type escaping uint8

const (
	escNone escaping = iota
	esc11
	esc12
)

func parseHeader(line []byte, esc escaping) (Header, error) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return Header{}, malformed("header line without a colon")
	}
	if esc == escNone {
		return Header{string(line[:i]), string(line[i+1:])}, nil
	}
	k, err := unescape(line[:i], esc)
	if err != nil {
		return Header{}, err
	}
	v, err := unescape(line[i+1:], esc)
	if err != nil {
		return Header{}, err
	}
	return Header{k, v}, nil
}

// unescape undoes the header escapes of esc; any other backslash is an
// error, as the specifications of 1.1 and 1.2 require.
func unescape(b []byte, esc escaping) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b), nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i == len(b) {
			return "", malformed("header ends in a backslash")
		}
		switch b[i] {
		case 'r':
			if esc != esc12 {
				return "", malformed("undefined header escape \\r")
			}
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 'c':
			out = append(out, ':')
		case '\\':
			out = append(out, '\\')
		default:
			return "", malformed("undefined header escape \\%c", b[i])
		}
	}
	return string(out), nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
