package files

import "os"

// canChown: a non-root test run cannot own files as anyone else, so owners
// are not compared there (host.WriteIfChanged does the same).
func canChown() bool { return os.Geteuid() == 0 }
