package main

// The on-disk store. Several gocacheprog processes (one per concurrent `go`
// command, possibly in different sandboxes) share one directory:
//
//	<dir>/o/<2 hex>/<OutputID hex>   output bodies, named by their own sha256
//	<dir>/a/<2 hex>/<ActionID hex>   action records (one self-checksummed line)
//	<dir>/tmp/                       files being written, renamed into place when complete
//	<dir>/lock                       flock: shared while renaming in or marking old files used, exclusive while deleting
//	<dir>/trim.txt                   unix time (decimal seconds) of the last trim
//
// Files are trimmed the way Go trims its GOCACHE: a get marks the files it
// serves as used by setting their mtime, and trim deletes the files whose
// mtime says they have not been used for trimUnused.
//
// (flock makes this Unix-only, like Pants.)
//
// Nothing read from the directory is trusted: every get re-hashes the output
// and checks the record's own checksum, so corruption at rest (bit flips,
// truncation, lost files, partially written files after a crash) turns into a
// miss and Go rebuilds the entry. That is also why there is no fsync: a torn
// write is just another corruption that the next get detects.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// idLen is the size of Go's ActionIDs and OutputIDs (sha256).
const idLen = sha256.Size

// recordVersion starts every action record; change it if the format changes so
// that old records are discarded as corrupt instead of misread.
const recordVersion = "kocache-action-v1"

// maxRecordLen bounds how much of an action file is read; real ones are ~240 bytes.
const maxRecordLen = 1024

var errMiss = errors.New("not in cache")

// The trim policy is Go's own (cmd/go/internal/cache): nearly all reuse of a
// cache entry happens within 5 days of its previous use (golang.org/issue/22990).
const (
	// markUsedAfter: a get rewrites an mtime only when it is older than this,
	// which saves nearly all inode writes; mtimes lag real use by at most this.
	markUsedAfter = time.Hour
	// trimInterval: the store is walked at most this often (see trim.txt).
	trimInterval = 24 * time.Hour
	// trimUnused: files unused for this long are deleted.
	trimUnused = 5 * 24 * time.Hour
)

// corruptError reports an entry that was found damaged and deleted.
type corruptError struct{ reason string }

func (e *corruptError) Error() string { return e.reason }

// mismatchError reports a put whose body is not what its OutputID promises.
type mismatchError struct{ reason string }

func (e *mismatchError) Error() string { return e.reason }

type entry struct {
	OutputID []byte
	Size     int64
	Time     time.Time
	Path     string // absolute path of the verified body
}

type store struct{ dir string }

func openStore(dir string) (*store, error) {
	dir, err := filepath.Abs(dir) // Go requires absolute DiskPaths.
	if err != nil {
		return nil, err
	}
	s := &store{dir: dir}
	for _, d := range []string{"a", "o", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o777); err != nil {
			return nil, err
		}
	}
	s.sweepTmp()
	return s, nil
}

// sweepTmp removes temp files left by killed processes. The age threshold keeps
// it away from files that a live process is still writing.
func (s *store) sweepTmp() {
	ents, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.Remove(filepath.Join(s.dir, "tmp", e.Name()))
		}
	}
}

func (s *store) path(kind string, id []byte) string {
	h := hex.EncodeToString(id)
	return filepath.Join(s.dir, kind, h[:2], h)
}

// get returns the verified entry for action, errMiss, a *corruptError (the
// entry has been deleted), or an I/O error (the entry is left alone).
func (s *store) get(action []byte) (*entry, error) {
	af, err := os.Open(s.path("a", action))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errMiss
	}
	if err != nil {
		return nil, err
	}
	defer af.Close()
	rec, err := io.ReadAll(io.LimitReader(af, maxRecordLen+1))
	if err != nil {
		return nil, err
	}
	e, err := parseRecord(rec, action)
	if err != nil {
		return nil, s.discard(err.Error(), af)
	}
	e.Path = s.path("o", e.OutputID)

	of, err := os.Open(e.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, s.discard(fmt.Sprintf("output %x is missing", e.OutputID), af)
	}
	if err != nil {
		return nil, err
	}
	defer of.Close()
	h := sha256.New()
	n, err := io.Copy(h, of)
	if err != nil {
		return nil, err
	}
	if sum := h.Sum(nil); n != e.Size || !bytes.Equal(sum, e.OutputID) {
		return nil, s.discard(fmt.Sprintf("output %x does not match its content (%d bytes with sha256 %x; recorded %d bytes)",
			e.OutputID, n, sum, e.Size), af, of)
	}
	if err := s.markUsed(of, af); err != nil {
		return nil, err
	}
	return e, nil
}

// markUsed sets the mtimes of a verified entry's body and record to now when
// they are older than markUsedAfter, so that trim keeps them. It is best
// effort: a file whose mtime cannot be set is served all the same. It does
// return errMiss if the body has been trimmed since it was opened, since the
// path handed to Go would then name nothing. The shared lock keeps trim out
// while it looks and marks, so a body marked here is not trimmed afterwards.
// (Imported entries need no marking: put has just written their files.)
func (s *store) markUsed(body, record *os.File) error {
	now := time.Now()
	var stale []*os.File
	for _, f := range []*os.File{body, record} {
		if fi, err := f.Stat(); err == nil && now.Sub(fi.ModTime()) >= markUsedAfter {
			stale = append(stale, f)
		}
	}
	if len(stale) == 0 {
		return nil // the common case: no lock, no write
	}
	unlock, err := s.lock(syscall.LOCK_SH)
	if err != nil {
		return nil
	}
	defer unlock()
	for _, f := range stale {
		was, err1 := f.Stat()
		cur, err2 := os.Lstat(f.Name())
		switch {
		case err1 == nil && err2 == nil && os.SameFile(was, cur):
			os.Chtimes(f.Name(), now, now)
		case f == body && errors.Is(err2, fs.ErrNotExist):
			return errMiss
		}
		// Otherwise a put has replaced the file with a new, fresh one.
	}
	return nil
}

// trim deletes the store's files that have not been used for trimUnused,
// unless trim.txt says that the store was trimmed less than trimInterval ago
// (a missing or unparsable trim.txt, or one from the future, means trim now).
// It returns how many files it deleted.
//
// The exclusive lock keeps puts from renaming files in and gets from marking
// files as used meanwhile, and makes concurrent exits trim one at a time; the
// later ones find the new trim.txt and stop. Files in use are safe: a get
// refreshes any mtime older than markUsedAfter, far below trimUnused.
func (s *store) trim(now time.Time) (int64, error) {
	stamp := filepath.Join(s.dir, "trim.txt")
	if trimmedRecently(stamp, now) {
		return 0, nil // the common case: no lock
	}
	unlock, err := s.lock(syscall.LOCK_EX)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if trimmedRecently(stamp, now) {
		return 0, nil
	}
	// A file's mtime may lag its last use by up to markUsedAfter.
	cutoff := now.Add(-trimUnused - markUsedAfter)
	var removed, failed int64
	var firstErr error
	fail := func(err error) {
		if failed++; firstErr == nil {
			firstErr = err
		}
	}
	for _, kind := range []string{"a", "o"} {
		// WalkDir reads a whole directory before visiting it, so removing is safe.
		filepath.WalkDir(filepath.Join(s.dir, kind), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				fail(err)
				return nil // go on with the rest
			}
			if !d.Type().IsRegular() {
				return nil
			}
			// Checked right before the removal, under the lock.
			fi, err := os.Lstat(path)
			if err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(cutoff) {
				if err = os.Remove(path); err == nil {
					removed++
				}
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				fail(err)
			}
			return nil
		})
	}
	// The stamp is written even after errors, like Go does: they are likely to
	// recur, and repeating the walk at every exit would not help.
	if err := s.writeFile(stamp, fmt.Sprintf("%d\n", now.Unix())); err != nil {
		fail(err)
	}
	switch {
	case failed > 1:
		return removed, fmt.Errorf("%v (and %d more errors)", firstErr, failed-1)
	case failed == 1:
		return removed, firstErr
	}
	return removed, nil
}

// trimmedRecently reports whether the trim stamp holds a time less than
// trimInterval ago. A stamp more than markUsedAfter in the future (a clock
// that was wrong) does not count, so one bad clock cannot stop trimming.
func trimmedRecently(stamp string, now time.Time) bool {
	b, err := os.ReadFile(stamp)
	if err != nil {
		return false
	}
	t, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return false
	}
	d := now.Sub(time.Unix(t, 0))
	return d < trimInterval && d > -markUsedAfter
}

// writeFile replaces name with a file holding text, written in tmp/ and
// renamed into place so that readers never see part of it.
func (s *store) writeFile(name, text string) error {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "t-")
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// discard deletes the files of a corrupt entry, but only if each path still
// names the very file that was found corrupt: another process may have just
// renamed a good copy into place, and `go` may already hold that path. The
// exclusive lock keeps such renames out between the check and the removal.
func (s *store) discard(reason string, files ...*os.File) error {
	unlock, err := s.lock(syscall.LOCK_EX)
	if err != nil {
		return fmt.Errorf("%s; not deleted: %v", reason, err)
	}
	defer unlock()
	for _, f := range files {
		bad, err1 := f.Stat()
		cur, err2 := os.Lstat(f.Name())
		if err1 == nil && err2 == nil && os.SameFile(bad, cur) {
			os.Remove(f.Name())
		}
	}
	return &corruptError{reason}
}

// put stores body as the output of action. The body is hashed while it is
// written, so a body that does not match output is never renamed into place.
// It returns the path of the stored body.
func (s *store) put(action, output []byte, size int64, body io.Reader) (string, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "o-")
	if err != nil {
		return "", err
	}
	// Temp names are removed only while still ours: once renamed away, the
	// same random name could belong to another process's temp file.
	var cleanup []string
	defer func() {
		for _, f := range cleanup {
			os.Remove(f)
		}
	}()
	cleanup = append(cleanup, tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if sum := h.Sum(nil); n != size || !bytes.Equal(sum, output) {
		return "", &mismatchError{fmt.Sprintf("body (%d bytes with sha256 %x) does not match OutputID %x (%d bytes)",
			n, sum, output, size)}
	}
	rtmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "a-")
	if err != nil {
		return "", err
	}
	cleanup = append(cleanup, rtmp.Name())
	_, err = rtmp.WriteString(formatRecord(action, output, size, time.Now()))
	if cerr := rtmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	// CreateTemp makes 0600 files; make them readable like Go's own cache files.
	for _, f := range []string{tmp.Name(), rtmp.Name()} {
		if err := os.Chmod(f, 0o644); err != nil {
			return "", err
		}
	}

	opath, apath := s.path("o", output), s.path("a", action)
	for _, p := range []string{opath, apath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			return "", err
		}
	}
	unlock, err := s.lock(syscall.LOCK_SH)
	if err != nil {
		return "", err
	}
	defer unlock()
	// The output goes first so that a record never points at a body that was
	// not yet there. Any existing body is replaced, not trusted: it may be the
	// corrupt copy that made Go rebuild this entry.
	if err := os.Rename(tmp.Name(), opath); err != nil {
		return "", err
	}
	cleanup = cleanup[1:]
	if err := os.Rename(rtmp.Name(), apath); err != nil {
		return "", err
	}
	cleanup = nil
	return opath, nil
}

// lock takes the store-wide flock. A fresh descriptor per call keeps the
// goroutines of one process from sharing (and silently converting) a lock.
func (s *store) lock(how int) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}

// An action record is one line,
//
//	kocache-action-v1 <ActionID> <OutputID> <size> <unix nanos> <sha256 of everything before it>
//
// The checksum matters: a flipped bit in the OutputID could otherwise point
// at another, perfectly valid output and serve it. The ActionID is repeated
// so that a record under the wrong name is rejected too.
func formatRecord(action, output []byte, size int64, t time.Time) string {
	body := fmt.Sprintf("%s %x %x %d %d", recordVersion, action, output, size, t.UnixNano())
	return fmt.Sprintf("%s %x\n", body, sha256.Sum256([]byte(body)))
}

func parseRecord(rec, action []byte) (*entry, error) {
	line, ok := strings.CutSuffix(string(rec), "\n")
	i := strings.LastIndexByte(line, ' ')
	if !ok || i < 0 || len(rec) > maxRecordLen {
		return nil, fmt.Errorf("action record %x is malformed", action)
	}
	body, check := line[:i], line[i+1:]
	if sum := sha256.Sum256([]byte(body)); check != hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("action record %x fails its checksum", action)
	}
	f := strings.Split(body, " ")
	if len(f) != 5 || f[0] != recordVersion || f[1] != hex.EncodeToString(action) {
		return nil, fmt.Errorf("action record %x is not a %s record for this action", action, recordVersion)
	}
	output, err1 := hex.DecodeString(f[2])
	size, err2 := strconv.ParseInt(f[3], 10, 64)
	nanos, err3 := strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || len(output) != idLen || size < 0 {
		return nil, fmt.Errorf("action record %x has bad fields", action)
	}
	return &entry{OutputID: output, Size: size, Time: time.Unix(0, nanos)}, nil
}

// importGo copies the entry for action from goCache, a plain GOCACHE directory
// in Go's own format, into the store and returns it; errMiss if goCache has no
// (usable) entry. goCache is someone else's cache and is only read. Go does not
// re-hash its entries, so this does: the body goes through put, which refuses
// one that does not match its OutputID (a *mismatchError).
func (s *store) importGo(goCache string, action []byte) (*entry, error) {
	aname := goCacheFile(goCache, action, "a")
	af, err := os.Open(aname)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errMiss
	}
	if err != nil {
		return nil, err
	}
	rec, err := io.ReadAll(io.LimitReader(af, maxRecordLen+1))
	af.Close()
	if err != nil {
		return nil, err
	}
	output, size, err := parseGoEntry(rec, action)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", aname, err)
	}

	of, err := os.Open(goCacheFile(goCache, output, "d"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errMiss // Go trims bodies and entries separately
	}
	if err != nil {
		return nil, err
	}
	defer of.Close()
	if fi, err := of.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, errMiss // a directory holds a cached executable, which Go asks for differently
	}
	// One byte over size is enough for put to see a body that is too long.
	path, err := s.put(action, output, size, io.LimitReader(of, size+1))
	if err != nil {
		return nil, err
	}
	return &entry{OutputID: output, Size: size, Time: time.Now(), Path: path}, nil
}

// goCacheFile names a file of Go's own cache (cmd/go/internal/cache.fileName).
func goCacheFile(dir string, id []byte, kind string) string {
	h := hex.EncodeToString(id)
	return filepath.Join(dir, h[:2], h+"-"+kind)
}

// parseGoEntry reads Go's action entry, written as
//
//	fmt.Sprintf("v1 %x %x %20d %20d\n", ActionID, OutputID, size, unixNanos)
//
// The padding is not relied on. Go checks no more than this either; the body
// is what gets verified.
func parseGoEntry(rec, action []byte) (output []byte, size int64, err error) {
	f := strings.Fields(string(rec))
	if len(rec) > maxRecordLen || len(f) != 5 || f[0] != "v1" {
		return nil, 0, errors.New("not a v1 action entry")
	}
	if id, err := hex.DecodeString(f[1]); err != nil || !bytes.Equal(id, action) {
		return nil, 0, errors.New("action entry is for another action")
	}
	output, err1 := hex.DecodeString(f[2])
	size, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || len(output) != idLen || size < 0 {
		return nil, 0, errors.New("action entry has bad fields")
	}
	return output, size, nil
}
