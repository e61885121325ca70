package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// hashPasswordCommand is "bcpii-gateway hash-password USER": it reads the
// password from the terminal without echo (twice, to catch a typo) or, when
// stdin is not a terminal, its first line, and prints the user's entry for
// the users file, one line of YAML under "users:".
func hashPasswordCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var cost int
	cmd := &cobra.Command{
		Use:   "hash-password [--cost N] USER",
		Short: "Print a users file entry for USER",
		Long: "Reads USER's password from the terminal, or the first line of stdin, and prints\n" +
			"the entry for the users file (--users-file), to go under \"users:\".",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("hash-password takes one user name")
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			return hashPassword(args[0], cost, stdin, stdout, stderr)
		},
	}
	cmd.Flags().IntVar(&cost, "cost", bcrypt.DefaultCost, "bcrypt cost")
	return cmd
}

func hashPassword(name string, cost int, stdin io.Reader, stdout, stderr io.Writer) error {
	if _, err := bcpii.UserPrincipal(name); err != nil {
		return err
	}
	if cost < bcrypt.MinCost || cost > 14 {
		return fmt.Errorf("--cost %d is not between %d and 14", cost, bcrypt.MinCost)
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if _, err := bcpii.HashPassword(pw); err != nil { // its checks: empty, too long
		return err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
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
