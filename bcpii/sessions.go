package bcpii

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// DefaultSessionLifetime is how long a session lasts when NewSessionsIn is
// given no lifetime.
const DefaultSessionLifetime = 10 * time.Hour

// secretBytes is the entropy of a session id and of a session credential.
const secretBytes = 32

// secretEncoding spells session ids and credentials as the HMC does:
// lower-case letters and digits (base32's alphabet in lower case, no
// padding), 52 characters for secretBytes.
var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idLen is the length of every session id issued: secretBytes in
// secretEncoding. Anything else cannot be one, and needs no hashing to
// say so.
var idLen = secretEncoding.EncodedLen(secretBytes)

// The answers of the session rules (spec section 6).
var (
	// ErrLogonFailed answers a logon with an unknown user or a wrong
	// password alike. Its reason is 0, never 4 or 5: clients log on again
	// when they see those, and would loop.
	ErrLogonFailed = hmcerr.ErrLogonFailed
	// ErrNoSession (403.4): the request needs X-API-Session and has none.
	ErrNoSession = hmcerr.ErrNoSession
	// ErrSessionNotValid (403.5): X-API-Session names no live session.
	ErrSessionNotValid = hmcerr.ErrSessionNotValid
)

// Session is a web-services session of an API user.
//
// ID and Credential are secrets. String, GoString, LogValue and
// encoding/json leave them out, so that printing, logging or marshaling a
// Session does not leak them; the logon answer is LogonResponse.
type Session struct {
	// ID is api-session, which requests carry in X-API-Session.
	ID string `json:"-"`
	// Credential is session-credential, the password of the session's
	// notification (STOMP) connections. It is handed to the client once, in
	// the Session that Logon returns; the gateway keeps only its hash, so
	// Lookup leaves it empty.
	Credential string `json:"-"`
	// User is the API user who logged on.
	User string
	// NotificationTopic and JobNotificationTopic name the session's
	// notification topics.
	NotificationTopic    string
	JobNotificationTopic string
	Created              time.Time
	// Expires is when the session ends, whether used or not.
	Expires time.Time
}

// Principal returns the session's user as a Principal.
func (s Session) Principal() Principal { return Principal{user: s.User} }

// String describes s without its secrets.
func (s Session) String() string {
	return fmt.Sprintf("session of %q, created %s, expires %s",
		s.User, s.Created.Format(time.RFC3339), s.Expires.Format(time.RFC3339))
}

// GoString is String, so that %#v does not print the secrets either.
func (s Session) GoString() string { return s.String() }

// LogValue logs s without its secrets.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("user", s.User),
		slog.Time("created", s.Created),
		slog.Time("expires", s.Expires),
	)
}

// LogonResponse is the body of a successful logon (POST /api/sessions).
// Fields are in lexical order of their names, so encoding/json writes the
// keys as the HMC orders them.
type LogonResponse struct {
	APIMajorVersion      int    `json:"api-major-version"`
	APIMinorVersion      int    `json:"api-minor-version"`
	APISession           string `json:"api-session"`
	JobNotificationTopic string `json:"job-notification-topic"`
	NotificationTopic    string `json:"notification-topic"`
	// PasswordExpires is days until the password expires; -1 is never, and
	// the users file has no expiry.
	PasswordExpires   int    `json:"password-expires"`
	SessionCredential string `json:"session-credential"`
}

// LogonResponse returns the logon answer for s.
func (s Session) LogonResponse() LogonResponse {
	return LogonResponse{
		APIMajorVersion:      APIMajorVersion,
		APIMinorVersion:      APIMinorVersion,
		APISession:           s.ID,
		JobNotificationTopic: s.JobNotificationTopic,
		NotificationTopic:    s.NotificationTopic,
		PasswordExpires:      -1,
		SessionCredential:    s.Credential,
	}
}

// SessionKey is the SHA-256 of a session id. Tables are keyed by it, and
// no record holds the id, so a memory dump, a store or a log of the table
// yields no id that a request could use. The ids are 256 random bits, so a
// fast hash is enough and lookups need no constant-time comparison.
type SessionKey [sha256.Size]byte

// SessionRecord is what a table keeps of a session.
type SessionRecord struct {
	User string `json:"user"`
	// Credential is the SHA-256 of session-credential, 256 random bits
	// like the id, so a fast hash is enough.
	Credential           [sha256.Size]byte `json:"credential"`
	NotificationTopic    string            `json:"notification-topic"`
	JobNotificationTopic string            `json:"job-notification-topic"`
	Created              time.Time         `json:"created"`
	Expires              time.Time         `json:"expires"`
}

// SessionTable keeps the sessions of a Sessions: in memory for one gateway
// (NewMemTable), or in a store that several replicas share, so that a
// session logged on at one works at all and logoff ends it at all. Errors
// other than "none" are the table's failures (an unreachable store answers
// 503.1); a table may forget a record once it has expired.
type SessionTable interface {
	// Add keeps r under key until r.Expires at least.
	Add(key SessionKey, r SessionRecord) error
	// Get returns the record under key and whether there is one.
	Get(ctx context.Context, key SessionKey) (SessionRecord, bool, error)
	// Remove forgets the record under key and reports whether there was one.
	Remove(key SessionKey) (bool, error)
	// ByJobTopic returns the record whose JobNotificationTopic is topic.
	ByJobTopic(topic string) (SessionRecord, bool, error)
	// Sweep forgets the records expired at now and reports how many.
	Sweep(now time.Time) int
	// Len is the number of records kept, expired ones not yet swept
	// included.
	Len() int
}

// NewMemTable returns a SessionTable in memory, the one NewSessionsIn uses without a table.
func NewMemTable() SessionTable { return newMemTable() }

// memTable is the SessionTable in memory: a restart logs every user off,
// as an HMC restart does.
type memTable struct {
	mu       sync.Mutex
	sessions map[SessionKey]SessionRecord
	// topics finds a session by its job-notification-topic.
	topics map[string]SessionKey
}

func newMemTable() *memTable {
	return &memTable{sessions: make(map[SessionKey]SessionRecord), topics: make(map[string]SessionKey)}
}

func (m *memTable) Add(key SessionKey, r SessionRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[key] = r
	m.topics[r.JobNotificationTopic] = key
	return nil
}

func (m *memTable) Get(_ context.Context, key SessionKey) (SessionRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.sessions[key]
	return r, ok, nil
}

func (m *memTable) Remove(key SessionKey) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.sessions[key]
	if ok {
		m.remove(key, r)
	}
	return ok, nil
}

func (m *memTable) ByJobTopic(topic string) (SessionRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key, ok := m.topics[topic]
	if !ok {
		return SessionRecord{}, false, nil
	}
	r, ok := m.sessions[key]
	return r, ok, nil
}

func (m *memTable) Sweep(now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, r := range m.sessions {
		if now.After(r.Expires) {
			m.remove(k, r)
			n++
		}
	}
	return n
}

// remove forgets the session; m.mu is held.
func (m *memTable) remove(key SessionKey, r SessionRecord) {
	delete(m.sessions, key)
	delete(m.topics, r.JobNotificationTopic)
}

func (m *memTable) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// Sessions are the live web-services sessions, in a SessionTable.
type Sessions struct {
	users    *Users
	clock    clock.Clock
	lifetime time.Duration
	// hashing bounds the bcrypt work running at once, so that a flood of
	// logons queues instead of taking every CPU from the job service.
	hashing chan struct{}
	table   SessionTable
}

// NewSessionsIn returns the sessions of users in table; nil means a new
// table in memory (NewMemTable). A nil clk is the system clock; a lifetime
// of zero or less is DefaultSessionLifetime.
func NewSessionsIn(users *Users, clk clock.Clock, lifetime time.Duration, table SessionTable) *Sessions {
	if clk == nil {
		clk = clock.Real{}
	}
	if lifetime <= 0 {
		lifetime = DefaultSessionLifetime
	}
	if table == nil {
		table = NewMemTable()
	}
	return &Sessions{
		users:    users,
		clock:    clk,
		lifetime: lifetime,
		hashing:  make(chan struct{}, runtime.GOMAXPROCS(0)),
		table:    table,
	}
}

// Lifetime is how long each session lasts.
func (s *Sessions) Lifetime() time.Duration { return s.lifetime }

// Logon checks userid and password and opens a session. Every failure is
// ErrLogonFailed, whatever went wrong, and costs the same time whether or
// not the user exists, except that a table that cannot keep the session
// answers its own error. It blocks while other logons use the CPUs for
// bcrypt, and returns ctx's error if ctx ends first.
func (s *Sessions) Logon(ctx context.Context, userid, password string) (Session, error) {
	if err := ctx.Err(); err != nil {
		return Session{}, err
	}
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return Session{}, ctx.Err()
	}
	ok := s.users.verify(userid, password)
	<-s.hashing
	if !ok {
		return Session{}, ErrLogonFailed
	}

	id, credential := randomString(), randomString()
	topic := "bcpii-gateway." + randomHex(8)
	now := s.clock.Now().UTC()
	r := SessionRecord{
		User:                 userid,
		Credential:           sha256.Sum256([]byte(credential)),
		NotificationTopic:    topic + ".notification",
		JobNotificationTopic: topic + ".job",
		Created:              now,
		Expires:              now.Add(s.lifetime),
	}
	if err := s.table.Add(SessionKey(sha256.Sum256([]byte(id))), r); err != nil {
		return Session{}, err
	}
	ses := r.session(id)
	ses.Credential = credential
	return ses, nil
}

// Lookup returns the live session id names: ErrNoSession for an empty id
// and ErrSessionNotValid for one that is unknown, logged off or expired.
func (s *Sessions) Lookup(ctx context.Context, id string) (Session, error) {
	r, err := s.find(ctx, id, false)
	if err != nil {
		return Session{}, err
	}
	return r.session(id), nil
}

// LookupCredential returns the live session id names if credential is its
// session-credential, with the errors of Lookup; a wrong credential is
// ErrSessionNotValid, as an unknown id is.
func (s *Sessions) LookupCredential(ctx context.Context, id, credential string) (Session, error) {
	r, err := s.find(ctx, id, false)
	if err != nil {
		return Session{}, err
	}
	h := sha256.Sum256([]byte(credential))
	if subtle.ConstantTimeCompare(h[:], r.Credential[:]) != 1 {
		return Session{}, ErrSessionNotValid
	}
	return r.session(id), nil
}

// JobTopicUser returns the API user whose live session has topic as its
// job-notification-topic, and whether there is one.
func (s *Sessions) JobTopicUser(topic string) (string, bool) {
	r, ok, err := s.table.ByJobTopic(topic)
	if err != nil || !ok || s.clock.Now().After(r.Expires) {
		return "", false
	}
	return r.User, true
}

// Logoff ends the session id names, with the errors of Lookup.
func (s *Sessions) Logoff(ctx context.Context, id string) error {
	_, err := s.find(ctx, id, true)
	return err
}

// find looks id up, removing it if it has expired, or if remove is set.
func (s *Sessions) find(ctx context.Context, id string, remove bool) (SessionRecord, error) {
	if id == "" {
		return SessionRecord{}, ErrNoSession
	}
	if len(id) != idLen {
		return SessionRecord{}, ErrSessionNotValid
	}
	key := SessionKey(sha256.Sum256([]byte(id)))
	r, ok, err := s.table.Get(ctx, key)
	if err != nil {
		return SessionRecord{}, err
	}
	if !ok {
		return SessionRecord{}, ErrSessionNotValid
	}
	if s.clock.Now().After(r.Expires) {
		_, _ = s.table.Remove(key)
		return SessionRecord{}, ErrSessionNotValid
	}
	if remove {
		ok, err := s.table.Remove(key)
		if err != nil {
			return SessionRecord{}, err
		}
		if !ok { // logged off at the same time elsewhere
			return SessionRecord{}, ErrSessionNotValid
		}
	}
	return r, nil
}

// Sweep removes the sessions that have expired and reports how many. Lookup
// ignores expired sessions even before a sweep; sweeping frees the memory
// of those nobody asks for again.
func (s *Sessions) Sweep() int { return s.table.Sweep(s.clock.Now()) }

// Len returns the number of sessions held, expired ones not yet swept
// included.
func (s *Sessions) Len() int { return s.table.Len() }

func (r SessionRecord) session(id string) Session {
	return Session{
		ID:                   id,
		User:                 r.User,
		NotificationTopic:    r.NotificationTopic,
		JobNotificationTopic: r.JobNotificationTopic,
		Created:              r.Created,
		Expires:              r.Expires,
	}
}

func randomString() string {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return secretEncoding.EncodeToString(b[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
