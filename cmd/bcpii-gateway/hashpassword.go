package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// hashPassword is "bcpii-gateway hash-password USER": it reads the
// password from the terminal without echo (twice, to catch a typo) or, when
// stdin is not a terminal, its first line, and prints the user's entry for
// the users file, one line of YAML under "users:".
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bcpii-gateway hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bcpii-gateway hash-password [--cost N] USER\n\n"+
			"Reads USER's password from the terminal, or the first line of stdin, and prints\n"+
			"the entry for the users file (--users-file), to go under \"users:\".\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("hash-password takes one user name")
	}
	name := fs.Arg(0)
	if _, err := bcpii.UserPrincipal(name); err != nil {
		return err
	}
	if *cost < bcrypt.MinCost || *cost > 14 {
		return fmt.Errorf("--cost %d is not between %d and 14", *cost, bcrypt.MinCost)
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if _, err := bcpii.HashPassword(pw); err != nil { // its checks: empty, too long
		return err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		return err
	}
	quoted, _ := json.Marshal(name) // a JSON string is a YAML double-quoted scalar
	_, err = fmt.Fprintf(stdout, "  - {name: %s, password-hash: %q}\n", quoted, h)
	return err
}

// readPassword prompts on the terminal when stdin is one, else reads the
// first line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
