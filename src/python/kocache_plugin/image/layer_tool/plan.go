package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

type nodeKind int

const (
	kindDir nodeKind = iota
	kindFile
	kindSymlink
)

func (k nodeKind) String() string {
	switch k {
	case kindDir:
		return "directory"
	case kindFile:
		return "file"
	default:
		return "symlink"
	}
}

// Directory strength decides which of several directory entries for the same
// path wins. Directories may be merged (e.g. a "dir" entry and a "tree" whose
// dest is the same path, or two trees sharing a subdirectory); only two
// explicit "dir" entries for the same path are a conflict. Files and symlinks
// never merge with anything.
type strength int

const (
	implicitDir strength = iota // missing parent of some entry, mode 0755
	treeDir                     // directory produced by a "tree" entry, mode 0755
	explicitDir                 // "dir" entry (mode from the spec)
)

const (
	defaultFileMode    = 0o644
	defaultExecMode    = 0o755
	defaultDirMode     = 0o755
	symlinkMode        = 0o777
	executableBitsMask = 0o111
)

// node is one tar entry of the layer.
type node struct {
	path     string // cleaned, relative to the image root, no trailing "/"
	kind     nodeKind
	mode     int64
	src      string // file contents source (kindFile)
	target   string // link target (kindSymlink)
	strength strength
	origin   string // human-readable origin for error messages
}

type planner struct {
	nodes map[string]*node
}

// plan expands the spec entries into the full, sorted list of tar entries.
//
// Ordering: plain byte order of the cleaned path (without the trailing "/"
// of directories). Since a path is a strict prefix of its descendants, a
// directory always sorts before its contents.
func plan(s *Spec) ([]*node, error) {
	p := &planner{nodes: map[string]*node{}}
	for i := range s.Entries {
		e := &s.Entries[i]
		origin := e.describe(i)
		var err error
		switch e.Type {
		case "file":
			err = p.addFile(e, origin)
		case "dir":
			mode := int64(defaultDirMode)
			if e.Mode != nil {
				mode = *e.Mode
			}
			err = p.add(&node{path: *e.Dest, kind: kindDir, mode: mode, strength: explicitDir, origin: origin})
		case "symlink":
			err = p.add(&node{path: *e.Dest, kind: kindSymlink, mode: symlinkMode, target: *e.Target, origin: origin})
		case "tree":
			err = p.addTree(e, origin)
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]*node, 0, len(p.nodes))
	for _, n := range p.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

func (p *planner) addFile(e *Entry, origin string) error {
	// os.Stat follows symlinks: Pants may materialize inputs as symlinks.
	st, err := os.Stat(*e.Src)
	if err != nil {
		return fmt.Errorf("%s: %v", origin, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: src %q is not a regular file (%v)", origin, *e.Src, st.Mode().Type())
	}
	mode := int64(defaultFileMode)
	if e.Mode != nil {
		mode = *e.Mode
	}
	return p.add(&node{path: *e.Dest, kind: kindFile, mode: mode, src: *e.Src, origin: origin})
}

// addTree copies a source directory recursively. Only the executable bits of
// regular files are taken from the file system (any x bit -> 0755, else
// 0644); directories are 0755; symlinks are kept if (and only if) their
// target stays inside the tree; anything else is an error.
func (p *planner) addTree(e *Entry, origin string) error {
	root := filepath.Clean(*e.Src)
	st, err := os.Stat(root) // the tree root itself may be a symlink
	if err != nil {
		return fmt.Errorf("%s: %v", origin, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: src %q is not a directory", origin, *e.Src)
	}
	if *e.Dest != "." {
		if err := p.add(&node{path: *e.Dest, kind: kindDir, mode: defaultDirMode, strength: treeDir, origin: origin}); err != nil {
			return err
		}
	}
	return p.walkTree(root, "", *e.Dest, origin)
}

// walkTree adds the contents of root/rel (rel is slash-separated, relative to
// the tree root, "" for the root itself).
func (p *planner) walkTree(root, rel, dest, origin string) error {
	dir := filepath.Join(root, filepath.FromSlash(rel))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: %v", origin, err)
	}
	for _, de := range ents {
		name := de.Name()
		childRel := path.Join(rel, name)
		fsPath := filepath.Join(root, filepath.FromSlash(childRel))
		if !utf8.ValidString(name) {
			return fmt.Errorf("%s: %q: file names must be valid UTF-8", origin, fsPath)
		}
		childDest := path.Join(dest, childRel) // dest "." joins to childRel
		info, err := os.Lstat(fsPath)
		if err != nil {
			return fmt.Errorf("%s: %v", origin, err)
		}
		kindWord := map[os.FileMode]string{0: "file", os.ModeDir: "directory", os.ModeSymlink: "symlink"}[info.Mode().Type()]
		nodeOrigin := fmt.Sprintf("%s %s %q", origin, kindWord, fsPath)
		switch t := info.Mode().Type(); {
		case t == 0: // regular file
			mode := int64(defaultFileMode)
			if info.Mode().Perm()&executableBitsMask != 0 {
				mode = defaultExecMode
			}
			err = p.add(&node{path: childDest, kind: kindFile, mode: mode, src: fsPath, origin: nodeOrigin})
		case t == os.ModeDir:
			if err = p.add(&node{path: childDest, kind: kindDir, mode: defaultDirMode, strength: treeDir, origin: nodeOrigin}); err == nil {
				err = p.walkTree(root, childRel, dest, origin)
			}
		case t == os.ModeSymlink:
			var target string
			if target, err = os.Readlink(fsPath); err != nil {
				return fmt.Errorf("%s: %v", origin, err)
			}
			if err = checkTreeLink(childRel, target); err != nil {
				return fmt.Errorf("%s: symlink %q -> %q %v", origin, fsPath, target, err)
			}
			err = p.add(&node{path: childDest, kind: kindSymlink, mode: symlinkMode, target: target, origin: nodeOrigin})
		default:
			return fmt.Errorf("%s: %q has unsupported file type %v", origin, fsPath, t)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkTreeLink verifies (lexically) that a symlink found at rel inside a
// tree points inside that tree.
func checkTreeLink(rel, target string) error {
	switch {
	case target == "":
		return fmt.Errorf("has an empty target")
	case !utf8.ValidString(target):
		return fmt.Errorf("has a target that is not valid UTF-8")
	case strings.HasPrefix(target, "/"):
		return fmt.Errorf("has an absolute target; only relative links inside the tree are allowed")
	}
	resolved := path.Clean(path.Join(path.Dir(rel), target))
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Errorf("escapes the tree; only relative links inside the tree are allowed")
	}
	return nil
}

// add inserts n, creating missing parent directories and detecting
// conflicts. Error messages name both conflicting origins.
func (p *planner) add(n *node) error {
	for dir := path.Dir(n.path); dir != "."; dir = path.Dir(dir) {
		existing, ok := p.nodes[dir]
		if !ok {
			p.nodes[dir] = &node{path: dir, kind: kindDir, mode: defaultDirMode, strength: implicitDir,
				origin: fmt.Sprintf("the parent directory of %q from %s", n.path, n.origin)}
			continue
		}
		if existing.kind != kindDir {
			return fmt.Errorf("conflict at %q: %s puts a %s there, but %s needs it to be a directory (for %q)",
				dir, existing.origin, existing.kind, n.origin, n.path)
		}
	}
	existing, ok := p.nodes[n.path]
	if !ok {
		p.nodes[n.path] = n
		return nil
	}
	if existing.kind == kindDir && n.kind == kindDir {
		if existing.strength == explicitDir && n.strength == explicitDir {
			return fmt.Errorf("duplicate dest %q: both %s and %s", n.path, existing.origin, n.origin)
		}
		if n.strength > existing.strength {
			p.nodes[n.path] = n
		}
		return nil
	}
	if existing.kind == kindDir && existing.strength == implicitDir {
		return fmt.Errorf("conflict at %q: %s puts a %s there, but it must be a directory as %s",
			n.path, n.origin, n.kind, existing.origin)
	}
	return fmt.Errorf("duplicate dest %q: both %s and %s", n.path, existing.origin, n.origin)
}
