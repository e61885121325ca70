package boltstore

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// migrate2 upgrades a file of format 2 to format 3 in the transaction of
// Open: it builds the index of jobs not ended from the jobs, once, so that
// later starts find such jobs without reading every job. The upgrade
// commits whole or not at all.
func migrate2(tx *bbolt.Tx) error {
	live, err := tx.CreateBucketIfNotExists(bucketLive)
	if err != nil {
		return err
	}
	b := open(tx)
	err = b.jobs.ForEach(func(k, v []byte) error {
		j, err := decode(k, v)
		if err != nil {
			return fmt.Errorf("job %s: %w", k, err)
		}
		if j.Status.Ended() {
			return nil
		}
		return live.Put(liveKey(j), []byte(j.ID))
	})
	if err != nil {
		return err
	}
	return b.meta.Put(keyFormat, be64(formatVersion))
}
