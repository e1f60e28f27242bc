package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Spec is the JSON layer specification:
//
//	{
//	  "compression": "gzip",   // required: "gzip" or "none"
//	  "level": 1,              // required for "gzip": -1..9 (compress/gzip levels); optional (validated, unused) for "none"
//	  "mtime": 0,              // required: unix seconds for every entry, 0..8589934591 (fits USTAR)
//	  "entries": [...]         // may be empty
//	}
//
// Unknown fields are rejected, so typos cannot silently change the output.
type Spec struct {
	Compression *string `json:"compression"`
	Level       *int    `json:"level"`
	Mtime       *int64  `json:"mtime"`
	Entries     []Entry `json:"entries"`
}

// Entry is one element of Spec.Entries. Which fields are allowed depends on
// Type:
//
//	file:    src, dest required; mode optional (default 0644). src is opened
//	         following symlinks and must be a regular file.
//	dir:     dest required; mode optional (default 0755).
//	symlink: dest, target required; the target is stored verbatim (no checks
//	         besides non-empty / valid UTF-8 / no NUL). Header mode is 0777.
//	tree:    src, dest required; src must be a directory (a symlink to one is
//	         followed); its contents are copied recursively below dest
//	         (dest "." means the image root). mode is not supported.
type Entry struct {
	Type   string  `json:"type"`
	Src    *string `json:"src"`
	Dest   *string `json:"dest"`
	Mode   *int64  `json:"mode"`
	Target *string `json:"target"`
}

const (
	compressionGzip = "gzip"
	compressionNone = "none"

	// maxMtime is the largest value that fits the 11 octal digits of the
	// USTAR mtime field; larger values would need a PAX time record.
	maxMtime = 1<<33 - 1
	maxMode  = 0o7777
)

func loadSpec(specPath string) (*Spec, error) {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return nil, fmt.Errorf("reading spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("spec %q: invalid JSON: %v", specPath, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("spec %q: unexpected data after the JSON object", specPath)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("spec %q: %v", specPath, err)
	}
	return &s, nil
}

func (s *Spec) validate() error {
	if s.Compression == nil {
		return errors.New(`missing required field "compression"`)
	}
	switch *s.Compression {
	case compressionGzip:
		if s.Level == nil {
			return errors.New(`missing required field "level" (required when compression is "gzip")`)
		}
	case compressionNone:
	default:
		return fmt.Errorf(`"compression" must be "gzip" or "none", got %q`, *s.Compression)
	}
	if s.Level != nil && (*s.Level < -1 || *s.Level > 9) {
		return fmt.Errorf(`"level" must be between -1 and 9, got %d`, *s.Level)
	}
	if s.Mtime == nil {
		return errors.New(`missing required field "mtime"`)
	}
	if *s.Mtime < 0 || *s.Mtime > maxMtime {
		return fmt.Errorf(`"mtime" must be between 0 and %d, got %d`, int64(maxMtime), *s.Mtime)
	}
	for i := range s.Entries {
		if err := s.Entries[i].validate(); err != nil {
			return fmt.Errorf("%s: %v", s.Entries[i].describe(i), err)
		}
	}
	return nil
}

func (e *Entry) validate() error {
	type field struct {
		name    string
		present bool
	}
	fields := []field{
		{"src", e.Src != nil},
		{"dest", e.Dest != nil},
		{"mode", e.Mode != nil},
		{"target", e.Target != nil},
	}
	var required, allowed []string
	switch e.Type {
	case "file":
		required, allowed = []string{"src", "dest"}, []string{"mode"}
	case "dir":
		required, allowed = []string{"dest"}, []string{"mode"}
	case "symlink":
		required = []string{"dest", "target"}
	case "tree":
		required = []string{"src", "dest"}
	case "":
		return errors.New(`missing required field "type"`)
	default:
		return fmt.Errorf(`unknown type %q (want "file", "dir", "symlink" or "tree")`, e.Type)
	}
	for _, f := range fields {
		isReq, isAllowed := contains(required, f.name), contains(allowed, f.name)
		if isReq && !f.present {
			return fmt.Errorf("missing required field %q", f.name)
		}
		if !isReq && !isAllowed && f.present {
			return fmt.Errorf("field %q is not supported for %s entries", f.name, e.Type)
		}
	}
	if e.Mode != nil && (*e.Mode < 0 || *e.Mode > maxMode) {
		return fmt.Errorf("mode must be between 0 and 4095 (0o7777), got %d", *e.Mode)
	}
	if e.Src != nil {
		if err := validateSrc(*e.Src); err != nil {
			return err
		}
	}
	dest, err := cleanDest(*e.Dest, e.Type == "tree")
	if err != nil {
		return err
	}
	*e.Dest = dest
	if e.Target != nil {
		t := *e.Target
		if t == "" || strings.IndexByte(t, 0) >= 0 || !utf8.ValidString(t) {
			return fmt.Errorf("symlink %q: invalid target %q (must be non-empty valid UTF-8 without NUL)", dest, t)
		}
	}
	return nil
}

// cleanDest validates a destination path inside the image and returns its
// cleaned form: relative, no leading "./", no trailing "/". "." (the image
// root) is only allowed when allowRoot is set (tree entries).
func cleanDest(dest string, allowRoot bool) (string, error) {
	switch {
	case dest == "":
		return "", errors.New(`invalid dest "": must not be empty`)
	case strings.HasPrefix(dest, "/"):
		return "", fmt.Errorf("invalid dest %q: must be relative to the image root (no leading \"/\")", dest)
	case strings.IndexByte(dest, 0) >= 0 || !utf8.ValidString(dest):
		return "", fmt.Errorf("invalid dest %q: must be valid UTF-8 without NUL", dest)
	}
	for _, part := range strings.Split(dest, "/") {
		if part == ".." {
			return "", fmt.Errorf("invalid dest %q: must not contain \"..\"", dest)
		}
	}
	c := path.Clean(dest)
	if c == "." && !allowRoot {
		return "", fmt.Errorf("invalid dest %q: must name a path below the image root", dest)
	}
	return c, nil
}

// validateSrc keeps the tool hermetic: sources must stay inside the working
// directory (the sandbox).
func validateSrc(src string) error {
	if src == "" {
		return errors.New(`invalid src "": must not be empty`)
	}
	if filepath.IsAbs(src) {
		return fmt.Errorf("invalid src %q: must be relative to the working directory", src)
	}
	if c := filepath.Clean(src); c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("invalid src %q: must not escape the working directory", src)
	}
	return nil
}

// describe names an entry for error messages, e.g. `entries[3] (file src "bin/x")`.
func (e *Entry) describe(i int) string {
	d := fmt.Sprintf("entries[%d]", i)
	if e.Type == "" {
		return d
	}
	d += " (" + e.Type
	if e.Src != nil {
		d += fmt.Sprintf(" src %q", *e.Src)
	}
	return d + ")"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
