package bcpii

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// minHash hashes pw at bcrypt's lowest cost, to keep tests fast.
func minHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseUsers(t *testing.T) {
	alice, bob := minHash(t, "alice-pw"), minHash(t, "bob-pw")

	good := map[string]struct {
		in   string
		want int
	}{
		"YAML":                 {in: "users:\n  - name: alice\n    password-hash: \"" + alice + "\"\n  - name: bob\n    password-hash: '" + bob + "'\n", want: 2},
		"JSON":                 {in: `{"users":[{"name":"alice","password-hash":"` + alice + `"}]}`, want: 1},
		"no users":             {in: "users: []\n", want: 0},
		"null users":           {in: "users:\n", want: 0},
		"comments":             {in: "# API users\nusers:\n  - name: alice # the admin\n    password-hash: " + alice + "\n", want: 1},
		"$2b$ and $2y$ hashes": {in: "users:\n  - {name: a, password-hash: \"$2b" + alice[3:] + "\"}\n  - {name: b, password-hash: \"$2y" + bob[3:] + "\"}\n", want: 2},
		"non-ASCII name":       {in: "users:\n  - {name: jürgen, password-hash: \"" + alice + "\"}\n", want: 1},
	}
	for name, tt := range good {
		t.Run(name, func(t *testing.T) {
			u, err := ParseUsers([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if u.Len() != tt.want {
				t.Fatalf("Len = %d, want %d", u.Len(), tt.want)
			}
		})
	}

	const secret = "hunter2hunter2"
	entry := func(name, hash string) string {
		return "  - name: " + name + "\n    password-hash: \"" + hash + "\"\n"
	}
	bad := map[string]struct {
		in      string
		wantErr string
	}{
		"empty file":                     {in: "", wantErr: "empty"},
		"only a comment":                 {in: "# nothing\n", wantErr: "empty"},
		"plaintext password":             {in: "users:\n" + entry("alice", secret), wantErr: `user "alice": password-hash is not a bcrypt hash`},
		"plaintext with a bcrypt prefix": {in: "users:\n" + entry("alice", "$2a$10$"+secret), wantErr: "not a bcrypt hash"},
		"hash too long":                  {in: "users:\n" + entry("alice", alice+"x"), wantErr: "not a bcrypt hash"},
		"hash cut short":                 {in: "users:\n" + entry("alice", alice[:59]), wantErr: "not a bcrypt hash"},
		"hash with a foreign character":  {in: "users:\n" + entry("alice", alice[:59]+"!"), wantErr: "not a bcrypt hash"},
		"signed cost":                    {in: "users:\n" + entry("alice", "$2a$+4"+alice[6:]), wantErr: "not a bcrypt hash"},
		"$2x$ hash":                      {in: "users:\n" + entry("alice", "$2x"+alice[3:]), wantErr: "not a bcrypt hash"},
		"cost out of bcrypt's range":     {in: "users:\n" + entry("alice", "$2a$32"+alice[6:]), wantErr: "not a bcrypt hash"},
		"cost too high":                  {in: "users:\n" + entry("alice", "$2a$17"+alice[6:]), wantErr: "cost 17; at most 16"},
		"missing hash":                   {in: "users:\n  - name: alice\n", wantErr: "not a bcrypt hash"},
		"empty name":                     {in: "users:\n" + entry(`""`, alice), wantErr: "user 1: user name is empty"},
		"missing name":                   {in: "users:\n  - password-hash: \"" + alice + "\"\n", wantErr: "user 1: user name is empty"},
		"null entry":                     {in: "users:\n  - null\n", wantErr: "user 1 is null"},
		"name with spaces":               {in: "users:\n" + entry(`" alice"`, alice), wantErr: "white space"},
		"name with a control character":  {in: "users:\n" + entry(`"al\u0007ice"`, alice), wantErr: "control or invisible"},
		"duplicate name":                 {in: "users:\n" + entry("alice", alice) + entry("alice", bob), wantErr: `user "alice" appears twice`},
		"names differing in case":        {in: "users:\n" + entry("alice", alice) + entry("Alice", bob), wantErr: `users "alice" and "Alice" differ only in case`},
		"unknown top-level field":        {in: "users: []\nadmins: []\n", wantErr: "field admins not found"},
		"unknown user field":             {in: "users:\n  - name: alice\n    password: " + secret + "\n", wantErr: "field password not found"},
		"duplicate key":                  {in: "users:\n  - name: alice\n    name: bob\n", wantErr: "already defined"},
		"users is a string":              {in: "users: " + secret + "\n", wantErr: "cannot unmarshal !!str `...` into"},
		"users is a mapping":             {in: "users: {alice: " + secret + "}\n", wantErr: "cannot unmarshal !!map into"},
		"hash is a sequence":             {in: "users:\n  - name: alice\n    password-hash: [" + secret + "]\n", wantErr: "cannot unmarshal !!seq"},
		"hash tagged as a number":        {in: "users:\n  - name: alice\n    password-hash: !!int " + secret + "\n", wantErr: "cannot decode !!str `...` as a !!int"},
		"hash with a backquote":          {in: "users:\n  - name: alice\n    password-hash: !!int a`" + secret + "`b\n", wantErr: "cannot decode"},
		"two documents":                  {in: "users: []\n---\nusers: []\n", wantErr: "more than one YAML document"},
		"not YAML":                       {in: "users: [\n", wantErr: "users file: yaml: line"},
		"tab indentation":                {in: "users:\n\t- name: alice\n", wantErr: "users file: yaml: line"},
	}
	for name, tt := range bad {
		t.Run(name, func(t *testing.T) {
			u, err := ParseUsers([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseUsers accepted it with %d users", u.Len())
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:7]) {
				t.Fatalf("error %q quotes the secret", err)
			}
			if u != nil {
				t.Fatal("a *Users beside the error")
			}
		})
	}
}

func TestParseUsersUnknownUserCostsTheDearestHash(t *testing.T) {
	cheap := minHash(t, "a")
	dear, err := bcrypt.GenerateFromPassword([]byte("b"), bcrypt.MinCost+2)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUsers([]byte(`{"users":[{"name":"a","password-hash":"` + cheap + `"},{"name":"b","password-hash":"` + string(dear) + `"},{"name":"c","password-hash":"` + minHash(t, "c") + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost(u.unknown); cost != bcrypt.MinCost+2 {
		t.Fatalf("unknown users are compared at cost %d, want the dearest, %d", cost, bcrypt.MinCost+2)
	}
	// The dearest hash's own password opens nothing under another name.
	if u.verify("nobody", "b") {
		t.Fatal("an unknown user logged on with the password of the hash used for unknown users")
	}
	if !u.verify("b", "b") || u.verify("b", "a") || u.verify("B", "b") {
		t.Fatal("verify is wrong for a known user")
	}

	var none *Users
	if none.Len() != 0 || none.verify("a", "a") {
		t.Fatal("a nil *Users has users")
	}
	if cost, err := bcrypt.Cost([]byte(unknownUserHash)); err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("unknownUserHash: cost %d, %v", cost, err)
	}
	if _, err := checkHash(unknownUserHash); err != nil {
		t.Fatalf("unknownUserHash: %v", err)
	}
}

func TestLoadUsers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(path, []byte("users:\n  - name: alice\n    password-hash: \""+minHash(t, "pw")+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsers(path)
	if err != nil || u.Len() != 1 {
		t.Fatalf("LoadUsers = %v, %v", u, err)
	}

	if _, err := LoadUsers(filepath.Join(dir, "missing.yaml")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("LoadUsers of a missing file = %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("users:\n  - name: alice\n    password-hash: plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUsers(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": ") {
		t.Fatalf("LoadUsers of a bad file = %v, want its path first", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := checkHash(h); err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("HashPassword made cost %d, %v", cost, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse battery staple")) != nil {
		t.Fatal("the hash does not match its password")
	}
	u, err := ParseUsers([]byte(`{"users":[{"name":"alice","password-hash":"` + h + `"}]}`))
	if err != nil || !u.verify("alice", "correct horse battery staple") {
		t.Fatalf("a hash from HashPassword does not work in a users file: %v", err)
	}

	long := strings.Repeat("p", 73)
	for _, pw := range []string{"", long} {
		if h, err := HashPassword(pw); err == nil || strings.Contains(err.Error(), long) {
			t.Errorf("HashPassword(%d bytes) = %q, %v", len(pw), h, err)
		}
	}
}

func FuzzParseUsers(f *testing.F) {
	h := minHash(f, "pw")
	for _, s := range []string{
		"users:\n  - name: alice\n    password-hash: \"" + h + "\"\n",
		`{"users":[{"name":"alice","password-hash":"` + h + `"}]}`,
		"users: []\n", "", "users: x\n", "users:\n  - name: a\n    name: b\n", "a: &x [*x]\n",
		"users: [{name: a, password-hash: !!binary aGVsbG8=}]\n", "---\n---\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUsers(data)
		if err != nil {
			if u != nil {
				t.Fatal("a *Users beside the error")
			}
			return
		}
		if len(u.hashes) != u.Len() || (u.Len() > 0) != (u.unknown != nil) {
			t.Fatalf("inconsistent Users: %d hashes, unknown set %v", u.Len(), u.unknown != nil)
		}
		for name, h := range u.hashes {
			if err := checkUserName(name); err != nil {
				t.Fatalf("accepted user name %q: %v", name, err)
			}
			if _, err := checkHash(string(h)); err != nil {
				t.Fatalf("accepted hash of %q: %v", name, err)
			}
		}
	})
}
