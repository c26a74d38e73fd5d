package modules

import (
	"path"
	"strings"
)

// HomeBase is where the users module's `useradd --create-home` puts a new
// home directory: Debian's default (HOME in /etc/default/useradd). A share
// or export below it may be a directory useradd is about to create, so the
// module that serves it waits for users (Concurrent).
const HomeBase = "/home"

// Overlap reports whether two absolute paths are the same or one lies
// below the other: two modules working on them are not independent.
func Overlap(a, b string) bool {
	a, b = path.Clean(a), path.Clean(b)
	below := func(p, dir string) bool { return dir == "/" || strings.HasPrefix(p, dir+"/") }
	return a == b || below(a, b) || below(b, a)
}
