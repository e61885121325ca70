package etcdstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// The store's keys, all under the configured prefix P:
//
//	P j/<id>                      the job's record (owner first, then JSON)
//	P o/<owner><id>               owner index
//	P e/<end time><id>            end-time index, ended jobs only
//	P u/<id>                      index of jobs not ended
//	P meta/format                 the layout's version, formatVersion
//
// <owner> is the owner's kind and name, each led by its length, so that no
// owner's part begins another's. <end time> is 12 bytes that sort as the
// times do (as in boltstore). A job's revisions are etcd's: Revision is
// the ModRevision of its record, CreateRevision its CreateRevision.
//
// The owner and not-ended index entries are ordered by the job's
// CreateRevision, which a Create cannot know before it commits: an entry
// written by the job's Create has an empty value and the job's
// CreateRevision as its own; one written later (an owner change, a job
// that is running again) holds the job's CreateRevision as 8 big-endian
// bytes.
const (
	dirJobs   = "j/"
	dirOwners = "o/"
	dirEnded  = "e/"
	dirLive   = "u/"
	keyFormat = "meta/format"

	formatVersion = "1"
)

type keys struct{ prefix string }

func (k keys) job(id string) string { return k.prefix + dirJobs + id }
func (k keys) jobs() string         { return k.prefix + dirJobs }
func (k keys) owners(o jobs.Owner) string {
	return k.prefix + dirOwners + string(ownerPart(o))
}
func (k keys) owner(o jobs.Owner, id string) string { return k.owners(o) + id }
func (k keys) ended() string                        { return k.prefix + dirEnded }
func (k keys) endedAt(t time.Time) string           { return k.ended() + string(endTime(t)) }
func (k keys) end(j jobs.Job) string                { return k.endedAt(j.Ended) + j.ID }
func (k keys) live() string                         { return k.prefix + dirLive }
func (k keys) liveOf(id string) string              { return k.live() + id }
func (k keys) format() string                       { return k.prefix + keyFormat }

// idOf returns the job id at the end of an index key under dir.
func idOf(key, dir []byte) string { return string(key[len(dir):]) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func ownerPart(o jobs.Owner) []byte {
	return appendString(appendString(nil, string(o.Kind)), o.Name)
}

// endTime is the part of an end-time key that sorts by t.
func endTime(t time.Time) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

const endTimeLen = 12

// endTimeOf is the end time an end-time index key, or a bound of a range
// of them, begins with; false if it is too short to hold one.
func (k keys) endTimeOf(key string) (time.Time, bool) {
	b := []byte(strings.TrimPrefix(key, k.ended()))
	if len(b) < endTimeLen || len(b) == len(key) {
		return time.Time{}, false
	}
	sec := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(b[8:endTimeLen]))).UTC(), true
}

func be64(n int64) string { return string(binary.BigEndian.AppendUint64(nil, uint64(n))) }

// entryRevision is the CreateRevision of the job an index entry names.
func entryRevision(value []byte, own int64) int64 {
	if len(value) == 8 {
		return int64(binary.BigEndian.Uint64(value))
	}
	return own
}

// record is the stored form of a job. Results is kept as bytes, which JSON
// encodes in base64, so that job results are kept byte for byte.
type record struct {
	jobs.Job
	Results []byte `json:"results,omitempty"`
}

// encode writes a job record: its owner part, led by its length, then the
// job as JSON without its revisions (etcd keeps those).
func encode(j jobs.Job) (string, error) {
	r := record{Job: j, Results: j.Results}
	r.Job.Results = nil
	body, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode job: %w", err)
	}
	return string(append(appendString(nil, string(ownerPart(j.Owner))), body...)), nil
}

func splitRecord(b []byte) (owner, body []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, errors.New("record has no owner")
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}

func decode(id string, b []byte, rev, createRev int64) (jobs.Job, error) {
	owner, body, err := splitRecord(b)
	if err != nil {
		return jobs.Job{}, fmt.Errorf("decode job %s: %w", id, err)
	}
	var r record
	if err := json.Unmarshal(body, &r); err != nil {
		return jobs.Job{}, fmt.Errorf("decode job %s: %w", id, err)
	}
	j := r.Job
	if !bytes.Equal(owner, ownerPart(j.Owner)) {
		return jobs.Job{}, fmt.Errorf("decode job %s: the record's owner parts differ", id)
	}
	j.Results = r.Results
	j.Revision = rev
	j.CreateRevision = createRev
	return j, nil
}
