package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

const (
	mediaTypeGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	mediaTypeTar  = "application/vnd.oci.image.layer.v1.tar"
)

// descriptor is written as compact JSON; the field order below is the
// sorted key order.
type descriptor struct {
	DiffID    string `json:"diffID"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeLayer streams the layer in a single pass:
//
//	tar -> sha256 (diffID) -> [gzip] -> sha256 + byte count (digest, size) -> temp file
//
// then renames the temp file to <out>/blobs/sha256/<hex> and writes
// <out>/descriptor.json. Nothing but copy buffers is held in memory.
func writeLayer(s *Spec, nodes []*node, out string) (err error) {
	blobDir := filepath.Join(out, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return fmt.Errorf("creating output directory: %v", err)
	}
	tmp, err := os.CreateTemp(out, ".layer-*.tmp")
	if err != nil {
		return fmt.Errorf("creating temporary blob: %v", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		if err != nil {
			os.Remove(tmpName)
		}
	}()

	buffered := bufio.NewWriterSize(tmp, 1<<20)
	digestHash := sha256.New()
	blob := &countingWriter{w: io.MultiWriter(buffered, digestHash)}
	diffHash := sha256.New()

	var compressor *gzip.Writer
	var tarSink io.Writer
	mediaType := mediaTypeTar
	if *s.Compression == compressionGzip {
		// The gzip header is left at its zero value: no name, no comment,
		// no extra field, MTIME 0; OS stays Go's default (255, unknown).
		compressor, err = gzip.NewWriterLevel(blob, *s.Level)
		if err != nil {
			return fmt.Errorf("gzip: %v", err)
		}
		tarSink = io.MultiWriter(diffHash, compressor)
		mediaType = mediaTypeGzip
	} else {
		tarSink = io.MultiWriter(diffHash, blob)
	}

	tw := tar.NewWriter(tarSink)
	mtime := time.Unix(*s.Mtime, 0)
	for _, n := range nodes {
		if err := writeEntry(tw, n, mtime); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing tar stream: %v", err)
	}
	if compressor != nil {
		if err := compressor.Close(); err != nil {
			return fmt.Errorf("finishing gzip stream: %v", err)
		}
	}
	if err := buffered.Flush(); err != nil {
		return fmt.Errorf("writing blob: %v", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing blob: %v", err)
	}
	if err := tmp.Close(); err != nil {
		tmp = nil
		return fmt.Errorf("writing blob: %v", err)
	}
	tmp = nil

	digestHex := hex.EncodeToString(digestHash.Sum(nil))
	if err := os.Rename(tmpName, filepath.Join(blobDir, digestHex)); err != nil {
		return fmt.Errorf("renaming blob: %v", err)
	}

	diffID := "sha256:" + hex.EncodeToString(diffHash.Sum(nil))
	desc, err := json.Marshal(descriptor{
		DiffID:    diffID,
		Digest:    "sha256:" + digestHex,
		MediaType: mediaType,
		Size:      blob.n,
	})
	if err != nil {
		return fmt.Errorf("encoding descriptor: %v", err)
	}
	if err := os.WriteFile(filepath.Join(out, "descriptor.json"), desc, 0o644); err != nil {
		return fmt.Errorf("writing descriptor: %v", err)
	}
	return nil
}

// writeEntry writes one tar header (and file contents).
//
// Header policy (fixed; changing it requires bumping toolVersion):
//   - Format is left unset, so archive/tar writes a USTAR header whenever the
//     entry fits (names up to 100 bytes, or 255 bytes splittable into
//     prefix/name, ASCII only, size < 8 GiB) and otherwise a PAX header
//     carrying only the path/linkpath/size records that need it. GNU is never
//     chosen because every path is valid UTF-8 without NUL, so PAX can always
//     encode it.
//   - ModTime is whole seconds within the USTAR range, AccessTime and
//     ChangeTime are zero: no PAX time records are ever emitted.
//   - Uid = Gid = 0, Uname = Gname = "", Devmajor = Devminor = 0, no xattrs.
//   - Directory names end with "/"; no name starts with "./" or "/".
//   - Mode holds permission bits only (file type is in Typeflag);
//     symlinks are 0777 with Size 0.
func writeEntry(tw *tar.Writer, n *node, mtime time.Time) error {
	hdr := &tar.Header{
		Name:    n.path,
		Mode:    n.mode,
		ModTime: mtime,
	}
	switch n.kind {
	case kindDir:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		return tarHeader(tw, hdr)
	case kindSymlink:
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = n.target
		return tarHeader(tw, hdr)
	}

	f, err := os.Open(n.src) // follows symlinks
	if err != nil {
		return fmt.Errorf("%s: %v", n.origin, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %v", n.origin, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %q is not a regular file", n.origin, n.src)
	}
	hdr.Typeflag = tar.TypeReg
	hdr.Size = st.Size()
	if err := tarHeader(tw, hdr); err != nil {
		return err
	}
	copied, err := io.Copy(tw, f)
	if err != nil {
		if errors.Is(err, tar.ErrWriteTooLong) {
			return fmt.Errorf("%s: %q grew while it was being read", n.origin, n.src)
		}
		return fmt.Errorf("%s: copying %q: %v", n.origin, n.src, err)
	}
	if copied != hdr.Size {
		return fmt.Errorf("%s: %q shrank while it was being read (%d of %d bytes)", n.origin, n.src, copied, hdr.Size)
	}
	return nil
}

func tarHeader(tw *tar.Writer, hdr *tar.Header) error {
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing tar header for %q: %v", hdr.Name, err)
	}
	return nil
}
