package bcpii

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// maxPasswordBytes is as much of a password as bcrypt reads. A longer
// password would be compared by its first 72 bytes alone, so that anything
// appended to the real one would pass; such passwords are refused instead.
const maxPasswordBytes = 72

// maxHashCost bounds the work factor of a users file's hashes: every failed
// logon of an unknown user costs as much as the dearest hash, and a cost
// near bcrypt's limit of 31 would let one request run for days.
const maxHashCost = 16

// unknownUserHash is what logons of unknown users are compared with when the
// users file has no users: a bcrypt hash of random text that nobody knows,
// there only to spend the same time.
const unknownUserHash = "$2a$10$umSmpKdHcI3qfQHh/wxsbO6EliIXxxw7p9KT3M1pR6SzfTXYG1xdy"

// Users are the API users of the web-services interface with their bcrypt
// password hashes. A nil *Users has no users.
type Users struct {
	hashes map[string][]byte
	// unknown is compared with the password of a logon for a user that does
	// not exist, so that it costs what a real user's logon costs: the
	// dearest real hash, whose answer is ignored.
	unknown []byte
}

type usersFile struct {
	Users []*userEntry `yaml:"users"`
}

type userEntry struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password-hash"`
}

// LoadUsers reads a users file; see ParseUsers.
func LoadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	u, err := ParseUsers(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// ParseUsers parses a users file (YAML, of which JSON is a part):
//
//	users:
//	  - name: alice
//	    password-hash: "$2a$10$..."
//
// It refuses unknown fields, empty or duplicate names (names that differ
// only in case count as duplicates, so no two users look alike in a log),
// and any password-hash that is not a bcrypt hash, so that a plaintext
// password put there by mistake is not taken as one. Its errors never quote
// a value from the file other than user names, since a mistaken file may
// hold passwords anywhere.
func ParseUsers(data []byte) (*Users, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f usersFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("users file: it is empty")
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("users file: it holds more than one YAML document")
	}

	u := &Users{hashes: make(map[string][]byte, len(f.Users))}
	seen := make(map[string]string, len(f.Users))
	maxCost := -1
	for i, e := range f.Users {
		if e == nil {
			return nil, fmt.Errorf("users file: user %d is null", i+1)
		}
		if err := checkUserName(e.Name); err != nil {
			return nil, fmt.Errorf("users file: user %d: %w", i+1, err)
		}
		folded := strings.ToLower(e.Name)
		if other, dup := seen[folded]; dup {
			if other == e.Name {
				return nil, fmt.Errorf("users file: user %q appears twice", e.Name)
			}
			return nil, fmt.Errorf("users file: users %q and %q differ only in case", other, e.Name)
		}
		seen[folded] = e.Name
		cost, err := checkHash(e.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("users file: user %q: %w", e.Name, err)
		}
		u.hashes[e.Name] = []byte(e.PasswordHash)
		if cost > maxCost {
			maxCost, u.unknown = cost, u.hashes[e.Name]
		}
	}
	return u, nil
}

// checkHash returns the cost of a bcrypt hash. bcrypt.Cost alone reads only
// the prefix, so the length and alphabet are checked here too: a hash that
// passed Cost but not these could never match any password.
func checkHash(h string) (int, error) {
	bad := errors.New("password-hash is not a bcrypt hash (60 characters beginning $2a$, $2b$ or $2y$)")
	if len(h) != 60 || h[0] != '$' || h[1] != '2' || !strings.ContainsRune("aby", rune(h[2])) || h[3] != '$' || h[6] != '$' {
		return 0, bad
	}
	for i := 7; i < len(h); i++ {
		c := h[i]
		if !isLetter(c) && !isDigit(c) && c != '.' && c != '/' {
			return 0, bad
		}
	}
	if !isDigit(h[4]) || !isDigit(h[5]) {
		return 0, bad
	}
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil {
		return 0, bad
	}
	if cost > maxHashCost {
		return 0, fmt.Errorf("password-hash has cost %d; at most %d is allowed", cost, maxHashCost)
	}
	return cost, nil
}

// yamlError rewrites a YAML error so that it keeps its line numbers and
// field names but loses the values the YAML library quotes between
// backquotes (such as "cannot unmarshal !!str `hunter2`"). The original is
// not wrapped: its text would come back through the chain.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = redactQuoted(m)
		}
		return errors.New("users file: " + strings.Join(msgs, "; "))
	}
	return errors.New("users file: " + redactQuoted(err.Error()))
}

func redactQuoted(msg string) string {
	i := strings.IndexByte(msg, '`')
	if i < 0 {
		return msg
	}
	j := strings.LastIndexByte(msg, '`')
	if j == i {
		return msg[:i] + "`...`"
	}
	return msg[:i] + "`...`" + msg[j+1:]
}

// Len returns the number of users.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.hashes)
}

// verify reports whether password is name's. It spends the same bcrypt work
// whether or not name exists, so that its time does not tell which users
// do.
func (u *Users) verify(name, password string) bool {
	if len(password) > maxPasswordBytes {
		return false // the length is the caller's own; it tells nothing about users
	}
	var hash []byte
	known := false
	unknown := []byte(unknownUserHash)
	if u != nil {
		hash, known = u.hashes[name]
		if u.unknown != nil {
			unknown = u.unknown
		}
	}
	if !known {
		hash = unknown
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	return known && err == nil
}

// HashPassword returns the bcrypt hash of pw for a users file.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("bcpii: the password is empty")
	}
	if len(pw) > maxPasswordBytes {
		return "", fmt.Errorf("bcpii: the password is longer than %d bytes, which bcrypt cannot tell apart", maxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("bcpii: hash password: %w", err)
	}
	return string(h), nil
}
