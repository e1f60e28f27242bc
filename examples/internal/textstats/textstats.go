// Package textstats counts words and lines.
package textstats

import (
	"bufio"
	"io"
	"strings"
)

// Stats holds counts of a text.
type Stats struct {
	Lines, Words int
}

// Count reads r to the end.
func Count(r io.Reader) (Stats, error) {
	var s Stats
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		s.Lines++
		s.Words += len(strings.Fields(sc.Text()))
	}
	return s, sc.Err()
}
