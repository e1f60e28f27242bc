// Command hello prints a greeting.
package main

import (
	"fmt"
	"os"

	"example.com/monorepo/internal/buildinfo"
	"example.com/monorepo/internal/greeting"
)

func main() {
	name := ""
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	fmt.Println(greeting.For(name))
	fmt.Println("version", buildinfo.Version)
}
