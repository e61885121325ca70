package stomp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string, l Limits) ([]*Frame, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in), l)
	var fs []*Frame
	for {
		f, err := r.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fs, nil
			}
			return fs, err
		}
		fs = append(fs, f)
	}
}

func TestReadFrame(t *testing.T) {
	in := "\n\r\n" + // heart-beats
		"CONNECT\r\naccept-version:1.2\r\nhost:hmc\r\nlogin:a:b\\c\r\n\r\n\x00\n" +
		"SUBSCRIBE\nid:0\ndestination:/topic/x\\cy\\n\\\\\nid:1\n\n\x00" +
		"SEND\ncontent-length:3\n\na\x00b\x00\n\n"
	fs, err := readAll(t, in, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []*Frame{
		{Command: "CONNECT", Headers: []Header{{"accept-version", "1.2"}, {"host", "hmc"}, {"login", `a:b\c`}}, Body: []byte{}},
		{Command: "SUBSCRIBE", Headers: []Header{{"id", "0"}, {"destination", "/topic/x:y\n\\"}, {"id", "1"}}, Body: []byte{}},
		{Command: "SEND", Headers: []Header{{"content-length", "3"}}, Body: []byte("a\x00b")},
	}
	if !reflect.DeepEqual(fs, want) {
		t.Fatalf("frames\n%+v\nwant\n%+v", fs, want)
	}
	if id, _ := fs[1].Get("id"); id != "0" {
		t.Errorf("repeated header: Get = %q, want the first, 0", id)
	}
}

func TestReadFrameErrors(t *testing.T) {
	small := Limits{MaxLine: 64, MaxHeaders: 3, MaxHeaderBytes: 100, MaxBody: 10}
	for _, c := range []struct {
		name, in string
		want     error
	}{
		{"lower-case command", "connect\n\n\x00", ErrMalformed},
		{"long command", strings.Repeat("A", 33) + "\n\n\x00", ErrMalformed},
		{"header without colon", "SEND\nfoo\n\n\x00", ErrMalformed},
		{"undefined escape", "SEND\na:\\t\n\n\x00", ErrMalformed},
		{"trailing backslash", "SEND\na:b\\\n\n\x00", ErrMalformed},
		{"bad content-length", "SEND\ncontent-length:-1\n\n\x00", ErrMalformed},
		{"content-length short", "SEND\ncontent-length:1\n\nab\x00", ErrMalformed},
		{"long line", "SEND\na:" + strings.Repeat("x", 64) + "\n\n\x00", ErrTooLarge},
		{"many headers", "SEND\na:1\nb:2\nc:3\nd:4\n\n\x00", ErrTooLarge},
		{"header bytes", "SEND\n" + strings.Repeat("a:"+strings.Repeat("x", 40)+"\n", 3) + "\n\x00", ErrTooLarge},
		{"long body", "SEND\n\n" + strings.Repeat("x", 11) + "\x00", ErrTooLarge},
		{"long body by length", "SEND\ncontent-length:11\n\n" + strings.Repeat("x", 11) + "\x00", ErrTooLarge},
		{"cut in headers", "SEND\na:1\n", io.ErrUnexpectedEOF},
		{"cut in body", "SEND\n\nabc", io.ErrUnexpectedEOF},
		{"cut in a line", "SEND\na:1", io.ErrUnexpectedEOF},
		{"cut in body by length", "SEND\ncontent-length:5\n\nab", io.ErrUnexpectedEOF},
	} {
		_, err := readAll(t, c.in, small)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A body at the limit is accepted, with or without content-length.
	if _, err := readAll(t, "SEND\n\n"+strings.Repeat("x", 10)+"\x00SEND\ncontent-length:10\n\n"+strings.Repeat("x", 10)+"\x00", small); err != nil {
		t.Errorf("bodies at the limit: %v", err)
	}
}

func TestAppendFrame(t *testing.T) {
	f := &Frame{Command: CmdMessage, Headers: []Header{{"destination", "/topic/a:b"}, {"x\n", "\\\r"}}}
	b, err := AppendFrame(nil, f, V12)
	if err != nil {
		t.Fatal(err)
	}
	if want := "MESSAGE\ndestination:/topic/a\\cb\nx\\n:\\\\\\r\n\n\x00"; string(b) != want {
		t.Fatalf("encoded %q, want %q", b, want)
	}
	c := &Frame{Command: CmdConnected, Headers: []Header{{"version", "1.2"}, {"server", "a:b"}}}
	if b, _ := AppendFrame(nil, c, V12); string(b) != "CONNECTED\nversion:1.2\nserver:a:b\n\n\x00" {
		t.Fatalf("CONNECTED encoded %q", b)
	}
	for name, f := range map[string]*Frame{
		"command":             {Command: "message"},
		"raw header colon":    {Command: CmdConnected, Headers: []Header{{"a:b", "c"}}},
		"raw header newline":  {Command: CmdConnect, Headers: []Header{{"a", "c\n"}}},
		"NUL without length":  {Command: CmdSend, Body: []byte{0}},
		"length not the body": {Command: CmdSend, Headers: []Header{{"content-length", "2"}}, Body: []byte{1}},
	} {
		if _, err := AppendFrame(nil, f, V12); !errors.Is(err, ErrUnencodable) {
			t.Errorf("%s: %v, want ErrUnencodable", name, err)
		}
	}
}

// TestVersions: each version escapes its own way, CONNECT and CONNECTED
// are never escaped, and what a version cannot carry is not written.
func TestVersions(t *testing.T) {
	msg := &Frame{Command: CmdMessage, Headers: []Header{{"destination", "/topic/a:b"}, {"x", "1\\n2"}}}
	for _, c := range []struct {
		v    Version
		want string
	}{
		{V10, "MESSAGE\ndestination:/topic/a:b\nx:1\\n2\n\n\x00"},
		{V11, "MESSAGE\ndestination:/topic/a\\cb\nx:1\\\\n2\n\n\x00"},
		{V12, "MESSAGE\ndestination:/topic/a\\cb\nx:1\\\\n2\n\n\x00"},
	} {
		b, err := AppendFrame(nil, msg, c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("%v: encoded %q, %v; want %q", c.v, b, err, c.want)
		}
		r := NewReader(bytes.NewReader(b), Limits{})
		r.SetVersion(c.v)
		back, err := r.ReadFrame()
		if err != nil || !reflect.DeepEqual(back.Headers, msg.Headers) {
			t.Errorf("%v: read back %+v, %v", c.v, back, err)
		}
	}
	for _, c := range []struct {
		v  Version
		in string
		h  Header
		ok bool
	}{
		{V10, "SEND\na:b\\c\n\n\x00", Header{"a", `b\c`}, true}, // 1.0: a backslash is a backslash
		{V10, "SEND\na:b:c\n\n\x00", Header{"a", "b:c"}, true},  // the first colon splits
		{V11, "SEND\na:b\\cc\\n\n\n\x00", Header{"a", "b:c\n"}, true},
		{V11, "SEND\na:b\\r\n\n\x00", Header{}, false}, // \r is 1.2's
		{V12, "SEND\na:b\\r\n\n\x00", Header{"a", "b\r"}, true},
		{V11, "CONNECT\nlogin:a\\c\n\n\x00", Header{"login", `a\c`}, true}, // CONNECT is raw
	} {
		r := NewReader(strings.NewReader(c.in), Limits{})
		r.SetVersion(c.v)
		f, err := r.ReadFrame()
		if !c.ok {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%v %q: %v, want ErrMalformed", c.v, c.in, err)
			}
			continue
		}
		if err != nil || len(f.Headers) != 1 || f.Headers[0] != c.h {
			t.Errorf("%v %q: %+v, %v; want %v", c.v, c.in, f, err, c.h)
		}
	}
	for _, c := range []struct {
		v Version
		h Header
	}{
		{V10, Header{"a", "b\nc"}},
		{V10, Header{"a:b", "c"}},
		{V11, Header{"a", "b\rc"}},
	} {
		if _, err := AppendFrame(nil, &Frame{Command: CmdMessage, Headers: []Header{c.h}}, c.v); !errors.Is(err, ErrUnencodable) {
			t.Errorf("%v %q: %v, want ErrUnencodable", c.v, c.h, err)
		}
	}
}

func TestNegotiateVersion(t *testing.T) {
	for _, c := range []struct {
		accept  string
		present bool
		want    Version
		ok      bool
	}{
		{"", false, V10, true},
		{"1.0", true, V10, true},
		{"1.1", true, V11, true},
		{"1.0,1.1,1.2", true, V12, true},
		{"1.2,1.0", true, V12, true},
		{" 1.1 , 2.0", true, V11, true},
		{"2.0", true, 0, false},
		{"", true, 0, false},
		{"1.3,1.", true, 0, false},
	} {
		v, ok := NegotiateVersion(c.accept, c.present)
		if v != c.want || ok != c.ok {
			t.Errorf("NegotiateVersion(%q, %v) = %v, %v; want %v, %v", c.accept, c.present, v, ok, c.want, c.ok)
		}
	}
}

// FuzzReadFrame reads arbitrary input as frames of the version its first
// byte picks: it must never panic nor exceed the limits, and every frame
// read must encode in that version and read back the same, unless it holds
// a carriage return that the version has no way to write.
func FuzzReadFrame(f *testing.F) {
	for _, s := range []string{
		"CONNECT\naccept-version:1.2\nhost:x\nlogin:u\npasscode:p\nheart-beat:1000,0\n\n\x00",
		"SUBSCRIBE\nid:0\ndestination:/topic/a\\cb\nack:auto\nreceipt:r\n\n\x00\n\n",
		"SEND\ncontent-length:2\n\n\x00\x00\x00",
		"DISCONNECT\r\nreceipt:77\r\n\r\n\x00",
		"\n\n\nSTOMP\n\n\x00",
		"SUBSCRIBE\nid:a\\nb\\\\\ndestination:/topic/x:y\n\n\x00",
	} {
		for v := range 3 {
			f.Add(append([]byte{byte(v)}, s...))
		}
	}
	l := Limits{MaxLine: 128, MaxHeaders: 8, MaxHeaderBytes: 512, MaxBody: 256}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		v := V10 + Version(data[0]%3)
		r := NewReader(bytes.NewReader(data[1:]), l)
		r.SetVersion(v)
		for {
			fr, err := r.ReadFrame()
			if err != nil {
				return
			}
			if len(fr.Headers) > l.MaxHeaders || len(fr.Body) > l.MaxBody {
				t.Fatalf("frame over the limits: %d headers, %d body bytes", len(fr.Headers), len(fr.Body))
			}
			b, err := AppendFrame(nil, fr, v)
			if err != nil {
				if errors.Is(err, ErrUnencodable) && escapes(v, fr.Command) != esc12 && holdsCR(fr) {
					continue
				}
				t.Fatalf("%v frame read cannot be written: %v: %+v", v, err, fr)
			}
			br := NewReader(bytes.NewReader(b), Limits{MaxLine: 1 << 12, MaxHeaderBytes: 1 << 14})
			br.SetVersion(v)
			back, err := br.ReadFrame()
			if err != nil {
				t.Fatalf("%v encoding %q does not read back: %v", v, b, err)
			}
			if !reflect.DeepEqual(back, fr) {
				t.Fatalf("%v read back %+v, want %+v", v, back, fr)
			}
		}
	})
}

func holdsCR(f *Frame) bool {
	for _, h := range f.Headers {
		if strings.ContainsRune(h.Key+h.Value, '\r') {
			return true
		}
	}
	return false
}
