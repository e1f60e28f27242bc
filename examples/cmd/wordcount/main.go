// Command wordcount counts lines and words on stdin.
package main

import (
	"fmt"
	"os"

	"example.com/monorepo/internal/textstats"
)

func main() {
	s, err := textstats.Count(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d lines, %d words\n", s.Lines, s.Words)
}
