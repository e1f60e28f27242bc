// Command gocacheprog is a Go build cache (GOCACHEPROG) that never serves a
// corrupt entry.
//
// Usage:
//
//	GOCACHEPROG="/path/to/gocacheprog [-import <go-cache-dir>] <cache-dir>" go build ...
//
// Go's own GOCACHE trusts its files once their size matches, so a bit flip at
// rest silently ends up in a binary. This program keeps the entries in
// <cache-dir> (see store.go) and re-hashes every output against its OutputID
// on every get; a damaged or missing entry is deleted and reported as a miss,
// so Go rebuilds it and puts a good copy back. Puts are verified the same way.
// Any number of processes may share <cache-dir>.
//
// Like Go's own GOCACHE, the store trims itself: a hit refreshes the mtimes of
// its files (at most once an hour), and on a normal exit, at most once a day
// per store, the files unused for 5 days are deleted (see store.trim).
//
// With -import, a get that misses looks for the action in <go-cache-dir>, a
// plain GOCACHE directory (Go's own format, only ever read), and copies a
// verified entry into <cache-dir>. Outputs compiled by a normal `go build`,
// such as the standard library, are then reused instead of compiled again.
//
// The protocol is that of cmd/go/internal/cacheprog, Go 1.24+ (Go 1.21-1.23
// had an experimental variant, behind GOEXPERIMENT=cacheprog, that this does
// not speak). The program announces its commands, then reads JSON requests
// from stdin, one per line; a "put" with a body is followed by the body as a
// base64 JSON string on the next line. Each request gets one JSON response
// line on stdout, matched by ID and possibly out of order.
//
// If KOCACHE_CACHEPROG_STATS names a file, one JSON line of counters is
// appended to it when the program exits (see stats).
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const usage = "usage: gocacheprog [-import <go-cache-dir>] <cache-dir>"

// request and response mirror cmd/go/internal/cacheprog, which is not importable.
type request struct {
	ID       int64
	Command  string
	ActionID []byte `json:",omitempty"`
	OutputID []byte `json:",omitempty"`
	BodySize int64  `json:",omitempty"`
}

type response struct {
	ID            int64
	Err           string     `json:",omitempty"`
	KnownCommands []string   `json:",omitempty"`
	Miss          bool       `json:",omitempty"`
	OutputID      []byte     `json:",omitempty"`
	Size          int64      `json:",omitempty"`
	Time          *time.Time `json:",omitempty"`
	DiskPath      string     `json:",omitempty"`
}

// stats are the counters written to $KOCACHE_CACHEPROG_STATS. Gets = Hits +
// Misses; Imported counts the hits copied from the -import directory;
// Corrupt counts the damaged entries that gets found (and discarded); Rejected
// counts puts whose body did not match their OutputID; Trimmed counts the
// files (records and bodies) that the exit's trim deleted.
type stats struct {
	Gets, Hits, Misses, Imported, Corrupt, Puts, Rejected, Trimmed atomic.Int64
}

func (s *stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]int64{
		"gets": s.Gets.Load(), "hits": s.Hits.Load(), "misses": s.Misses.Load(), "imported": s.Imported.Load(),
		"corrupt": s.Corrupt.Load(), "puts": s.Puts.Load(), "rejected": s.Rejected.Load(),
		"trimmed": s.Trimmed.Load(),
	})
}

type server struct {
	store   *store
	goCache string // the -import directory, or ""
	stats   stats

	outMu sync.Mutex // responses come from several goroutines
	out   *bufio.Writer

	inflight sync.WaitGroup
	slots    chan struct{} // bounds concurrent gets (each hashes a file)
}

func main() {
	flags := flag.NewFlagSet("gocacheprog", flag.ContinueOnError)
	flags.SetOutput(io.Discard) // bad arguments get the one-line usage only
	var goCache string
	flags.Func("import", "", func(dir string) error {
		if dir == "" {
			return errors.New("empty directory")
		}
		goCache = dir
		return nil
	})
	if err := flags.Parse(os.Args[1:]); err != nil || flags.NArg() != 1 || flags.Arg(0) == "" {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	st, err := openStore(flags.Arg(0))
	if err != nil {
		fatalf("%v", err)
	}
	s := &server{
		store:   st,
		goCache: goCache,
		out:     bufio.NewWriter(os.Stdout),
		slots:   make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	s.reply(&response{KnownCommands: []string{"get", "put", "close"}})
	err = s.serve(bufio.NewReaderSize(os.Stdin, 1<<16))
	s.inflight.Wait()
	if err == nil {
		s.trim()
	}
	s.writeStats()
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gocacheprog: "+format+"\n", args...)
	os.Exit(1)
}

// serve answers requests until "close" or the end of stdin. Gets run
// concurrently, since Go issues them from parallel build steps; a put is
// handled inline because its body follows it on stdin.
func (s *server) serve(in *bufio.Reader) error {
	for {
		req, err := readRequest(in)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch req.Command {
		case "get":
			s.slots <- struct{}{}
			s.inflight.Add(1)
			go func() {
				defer func() { <-s.slots; s.inflight.Done() }()
				s.reply(s.get(req))
			}()
		case "put":
			res, err := s.put(req, in)
			if err != nil {
				return err
			}
			s.reply(res)
		case "close":
			s.inflight.Wait()
			s.reply(&response{ID: req.ID})
			return nil
		default:
			s.reply(&response{ID: req.ID, Err: fmt.Sprintf("unknown command %q", req.Command)})
		}
	}
}

func (s *server) get(req *request) *response {
	if len(req.ActionID) != idLen {
		return &response{ID: req.ID, Err: fmt.Sprintf("get: ActionID must be %d bytes", idLen)}
	}
	s.stats.Gets.Add(1)
	e, err := s.store.get(req.ActionID)
	var corrupt *corruptError
	switch {
	case err == nil:
	case errors.As(err, &corrupt):
		s.stats.Corrupt.Add(1)
		fmt.Fprintf(os.Stderr, "gocacheprog: discarded corrupt cache entry for action %x: %v\n", req.ActionID, err)
	case err != errMiss:
		// A miss is always safe (Go rebuilds), so an unreadable entry should not fail the build.
		fmt.Fprintf(os.Stderr, "gocacheprog: treating action %x as a miss: %v\n", req.ActionID, err)
	}
	if (err == errMiss || corrupt != nil) && s.goCache != "" {
		// An entry left alone after an I/O error is not overwritten.
		if e, err = s.store.importGo(s.goCache, req.ActionID); err == nil {
			s.stats.Imported.Add(1)
		} else if err != errMiss {
			// Importing is only a shortcut: Go rebuilds what cannot be imported.
			fmt.Fprintf(os.Stderr, "gocacheprog: not importing action %x from %s: %v\n", req.ActionID, s.goCache, err)
		}
	}
	if err != nil {
		s.stats.Misses.Add(1)
		return &response{ID: req.ID, Miss: true}
	}
	s.stats.Hits.Add(1)
	return &response{ID: req.ID, OutputID: e.OutputID, Size: e.Size, Time: &e.Time, DiskPath: e.Path}
}

// put stores a body. Only a broken stdin is returned as an error (the stream
// cannot be resynchronised); everything else is answered in the response.
func (s *server) put(req *request, in *bufio.Reader) (*response, error) {
	body := io.Reader(bytes.NewReader(nil))
	var q *quoted
	if req.BodySize > 0 {
		var err error
		if q, err = openQuoted(in); err != nil {
			return nil, err
		}
		body = base64.NewDecoder(base64.StdEncoding, q)
	}

	var path string
	var err error
	if len(req.ActionID) != idLen || len(req.OutputID) != idLen || req.BodySize < 0 {
		err = fmt.Errorf("ActionID and OutputID must be %d bytes and BodySize >= 0", idLen)
	} else {
		path, err = s.store.put(req.ActionID, req.OutputID, req.BodySize, body)
	}
	if q != nil {
		// Skip whatever the store did not read, so the next request starts cleanly.
		if _, derr := io.Copy(io.Discard, q); derr != nil {
			return nil, derr
		}
	}
	if err != nil {
		var mismatch *mismatchError
		if errors.As(err, &mismatch) {
			s.stats.Rejected.Add(1)
		}
		return &response{ID: req.ID, Err: fmt.Sprintf("put %x: %v", req.ActionID, err)}, nil
	}
	s.stats.Puts.Add(1)
	return &response{ID: req.ID, DiskPath: path}, nil
}

func (s *server) reply(res *response) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	b, err := json.Marshal(res)
	if err == nil {
		s.out.Write(append(b, '\n'))
		err = s.out.Flush()
	}
	if err != nil {
		fatalf("writing response: %v", err) // Go has gone away; nothing left to serve
	}
}

// trim runs the store's daily trim. Go waits for this process to exit, so a
// trim delays the go command a little, once a day, as Go's own cache does.
// Trimming only saves space, so its errors are reported and otherwise ignored.
func (s *server) trim() {
	n, err := s.store.trim(time.Now())
	s.stats.Trimmed.Add(n)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gocacheprog: trimming %s: %v\n", s.store.dir, err)
	}
}

func (s *server) writeStats() {
	name := os.Getenv("KOCACHE_CACHEPROG_STATS")
	if name == "" {
		return
	}
	b, _ := json.Marshal(&s.stats)
	// One append-mode write per process, so concurrent processes' lines stay whole.
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gocacheprog: writing stats: %v\n", err)
	}
}

// readRequest reads the next request line. Go writes an empty line after each
// request, so blank lines are skipped.
func readRequest(in *bufio.Reader) (*request, error) {
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			req := new(request)
			if jerr := json.Unmarshal(line, req); jerr != nil {
				return nil, fmt.Errorf("bad request %q: %v", line, jerr)
			}
			return req, nil
		}
		if err != nil {
			return nil, err // io.EOF at a request boundary is a clean end
		}
	}
}

// quoted streams the inside of a JSON string holding base64 (which has no
// escapes), so bodies are never held in memory whole.
type quoted struct {
	in   *bufio.Reader
	done bool
}

func openQuoted(in *bufio.Reader) (*quoted, error) {
	for {
		c, err := in.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("reading put body: %w", noEOF(err))
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '"':
			return &quoted{in: in}, nil
		default:
			return nil, fmt.Errorf("put body does not start with '\"' (got %q)", c)
		}
	}
}

func (q *quoted) Read(p []byte) (int, error) {
	if q.done {
		return 0, io.EOF
	}
	if _, err := q.in.Peek(1); err != nil {
		return 0, fmt.Errorf("reading put body: %w", noEOF(err))
	}
	buf, _ := q.in.Peek(min(q.in.Buffered(), len(p)))
	if i := bytes.IndexByte(buf, '"'); i >= 0 {
		q.done = true
		n := copy(p, buf[:i])
		q.in.Discard(i + 1)
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
	n := copy(p, buf)
	q.in.Discard(n)
	return n, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
