// Package greeting is shared by several mains of the example monorepo.
package greeting

import "fmt"

// For returns the greeting for name.
func For(name string) string {
	if name == "" {
		name = "world"
	}
	return fmt.Sprintf("Hello, %s!", name)
}
