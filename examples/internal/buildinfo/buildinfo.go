// Package buildinfo carries facts stamped in at link time with -ldflags -X.
package buildinfo

// Version is set with -ldflags "-X example.com/monorepo/internal/buildinfo.Version=...".
var Version = "dev"
