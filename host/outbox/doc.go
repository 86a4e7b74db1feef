// Package outbox is the disk outbox of an outbound link (`outbox = "disk"`): a durable
// FIFO of values that the link fills as fast as values come and publishes from, so that
// values outlive a broker outage, a host crash and a restart.
//
// # Format
//
// A Dir is a data directory for one host process. OpenDir locks it with flock on
// <dir>/aimdb.lock (which holds the holder's pid), so that two processes never share
// it. Its outboxes live in one bbolt file (go.etcd.io/bbolt: a B+tree on a
// memory-mapped file, copy-on-write pages, two checksummed meta pages),
// <dir>/outbox.bolt:
//
//   - bucket links/<key>/entries: key = Seq as 8 bytes big-endian, value = CRC-32C
//     (Castagnoli) of the payload as 4 bytes little-endian, then the payload; the
//     bucket's sequence is the last Seq appended, so that a Seq is never used twice,
//     even after every entry was removed;
//   - key links/<key>/name: the link name; <key> keeps a readable part of it and adds
//     16 hex digits of its SHA-256;
//   - bucket meta: "format" = "1".
//
// Appends of different links that arrive while a commit is under way are committed
// together in the next transaction, with one fsync (group commit); a link appending
// alone waits for nobody. One shared file rather than a file per link was chosen by
// the comparative benchmark in bench_test.go (figures in docs/benchmarks.md, "Disk outbox").
//
// # Durability
//
// Append returns once bbolt's commit has written and fsync'd (fdatasync) the new pages
// and then the meta page: an acknowledged value survives SIGKILL and power loss. A
// crash during a commit leaves the previous meta page in force, so the store opens as
// it was before that Append, which was not acknowledged.
//
// Remove takes effect at once for Read, Depth and MaxBytes; on disk it rides in the
// next Append's transaction, or in a write of its own 100 ms later when no Append comes,
// and in Flush and Close. A crash may therefore bring back entries removed in the last
// moments: the link sends them again (at least once). It never loses an entry that was
// not removed.
//
// # Unreadable stores
//
// OpenDir reads and checks the whole store before it uses it: bbolt's meta pages
// (magic, version, checksum), that no page lies past the end of the file (a truncated
// file), bbolt's consistency check of every page, and every entry's key and CRC. This
// takes about 0.5 s for a full 256 MiB outbox of 100-byte values. A store that fails
// is renamed to <path>.corrupt-<UTC time>, logged at ERROR with both paths and the
// cause, reported by (*Dir).MovedAside and by every outbox's MovedAside, and the
// outboxes start empty (their Seqs start again from 1). Nothing is ever emptied or
// deleted silently: the old file stays for inspection. Damage found after Open (by Read's CRC check, or a page bbolt cannot
// read) is returned as an error and left for the next Open to move aside. Errors of
// the file system (permissions, a directory in the way) are returned, never taken for
// corruption.
//
// # Limits
//
// MaxBytes counts payload bytes; on disk each entry takes about 28 bytes more (key,
// CRC, bbolt's leaf element). A bbolt file never shrinks by itself: pages freed by
// Remove are reused, not returned to the file system. So OpenDir compacts a store of
// 64 MiB or more that is more than three quarters free (as after a long outage was
// sent) into a new file that it renames over the old one; a crash leaves one of them
// whole.
package outbox
