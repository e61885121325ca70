package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeSection returns the text of the README section whose heading
// starts with heading, up to the next section.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading)
	if i < 0 {
		t.Fatalf("README.md has no section %q", heading)
	}
	s = s[i+1:]
	if j := strings.Index(s[len(heading):], "\n## "); j >= 0 {
		s = s[:len(heading)+j]
	}
	return s
}

// shBlocks are the fenced ```sh blocks of text, in order.
func shBlocks(text string) []string {
	var blocks []string
	for _, m := range regexp.MustCompile("(?ms)^```sh\n(.*?)^```$").FindAllStringSubmatch(text, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

var uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestReadmeFirstSession runs the shell blocks of README.md's first
// session, curl and bcpiictl alike, against a gateway on the defaults the
// README assumes (the built-in inventory, the data directory under
// $HOME), and checks every line shown as output (#> ...) appears in what
// they print, object and job ids aside. Two things differ from a reader's
// shell, both for the test's own loopback ports: BCPII_ADDR names the
// gateway's gRPC port, and localhost:6794 in the commands is replaced by
// the REST port. The built client is on PATH, so "go install" is skipped.
func TestReadmeFirstSession(t *testing.T) {
	section := readmeSection(t, "## A first session")
	blocks := shBlocks(section)
	if len(blocks) < 3 {
		t.Fatalf("found %d sh blocks in the first session", len(blocks))
	}
	home := t.TempDir()
	c := setupWith(t, gatewayOptions{inventory: "-", home: home, dataDir: filepath.Join(home, ".local", "share", "bcpii-gateway")})
	_, restPort, err := net.SplitHostPort(c.addrs.REST)
	if err != nil {
		t.Fatal(err)
	}
	script := "set -euo pipefail\n" + strings.Join(blocks, "\n")
	script = strings.ReplaceAll(script, "localhost:6794", "localhost:"+restPort)
	script = strings.ReplaceAll(script, "go install ./cmd/bcpiictl\n", "")
	if strings.Contains(script, "go run") {
		t.Fatal("the first session's blocks run go run; the test runs the built client instead")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = []string{
		"HOME=" + home, "BCPII_ADDR=" + c.addrs.GRPC,
		"PATH=" + filepath.Dir(c.bin) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the first session failed (%v):\n%s", err, out.String())
	}
	printed := map[string]bool{}
	for _, line := range strings.Split(uuidPattern.ReplaceAllString(out.String(), "ID"), "\n") {
		printed[strings.TrimRight(line, " ")] = true
	}
	n := 0
	for _, line := range strings.Split(section, "\n") {
		want, ok := strings.CutPrefix(line, "#> ")
		if !ok {
			continue
		}
		n++
		if want = uuidPattern.ReplaceAllString(want, "ID"); !printed[want] {
			t.Errorf("the README shows %q; the session printed no such line:\n%s", want, out.String())
		}
	}
	if n < 5 {
		t.Fatalf("found %d output lines (#>) in the first session", n)
	}
}

// The README's table of exit statuses is the one --help prints.
func TestReadmeExitStatus(t *testing.T) {
	section := readmeSection(t, "## The command-line client")
	for _, line := range strings.Split(exitTable, "\n")[1:] {
		code, what, _ := strings.Cut(strings.TrimSpace(line), " ")
		what = strings.TrimSpace(what)
		row := regexp.MustCompile(`(?m)^\| ` + code + ` \| (.*) \|$`).FindStringSubmatch(section)
		if row == nil {
			t.Errorf("README has no exit status %s", code)
			continue
		}
		if strings.ReplaceAll(row[1], "`", "") != what {
			t.Errorf("exit status %s: README says %q, --help %q", code, row[1], what)
		}
	}
	if !strings.Contains(readmeSection(t, "## A first session"), "--addr") {
		t.Error("the first session does not say how to reach a gateway on another address")
	}
}
