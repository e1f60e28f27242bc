module kocache.dev/cacheprog

go 1.24
