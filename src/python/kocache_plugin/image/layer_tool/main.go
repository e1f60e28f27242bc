// Command layertool turns files into a reproducible OCI image layer.
//
// Usage:
//
//	layertool -spec <spec.json> -out <outdir>
//	layertool -version
//
// It reads the JSON layer spec (see spec.go), builds an uncompressed tar
// stream (see plan.go for the entry rules and write.go for the exact header
// policy), optionally gzip-compresses it with Go's compress/gzip, and writes:
//
//	<outdir>/blobs/sha256/<hex digest>   the layer blob
//	<outdir>/descriptor.json             {"diffID":…,"digest":…,"mediaType":…,"size":…}
//
// The output depends only on the spec, the input file contents, the input
// files' executable bits (for "tree" entries) and the Go toolchain used to
// build this tool; never on the host's zlib, file mtimes, owners, umask or
// time zone.
//
// On success nothing is printed. On failure a single line starting with
// "layertool: " is printed to stderr and the exit status is 1 (2 for usage
// errors).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// toolVersion identifies the output format of this tool. It is part of the
// cache identity of every layer built with it: bump it whenever the bytes
// produced for a given spec and inputs could change.
const toolVersion = "layertool 1"

const usageLine = "usage: layertool -spec <spec.json> -out <outdir> | layertool -version"

// usageError marks errors caused by a bad command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	err := runErr(args, stdout)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, usageLine)
		return 0
	}
	fmt.Fprintln(stderr, "layertool: "+oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func runErr(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("layertool", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print our own single-line messages
	specPath := fs.String("spec", "", "path to the JSON layer spec")
	outDir := fs.String("out", "", "output directory")
	version := fs.Bool("version", false, "print the tool version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{fmt.Sprintf("%v; %s", err, usageLine)}
	}
	if *version {
		_, err := fmt.Fprintln(stdout, toolVersion)
		return err
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q; %s", fs.Args(), usageLine)}
	}
	if *specPath == "" || *outDir == "" {
		return usageError{"both -spec and -out are required; " + usageLine}
	}

	spec, err := loadSpec(*specPath)
	if err != nil {
		return err
	}
	nodes, err := plan(spec)
	if err != nil {
		return err
	}
	return writeLayer(spec, nodes, *outDir)
}

// oneLine guarantees the error report is a single line even if some
// (unquoted) component of the message contains a newline.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
