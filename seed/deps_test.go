package seed

// Pins the project's dependencies in go.mod while packages are being written
// in parallel. Remove once each is imported for real.
import (
	_ "github.com/coreos/go-systemd/v22/dbus"
	_ "github.com/diskfs/go-diskfs"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
)
