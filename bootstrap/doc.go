// Package bootstrap is Phoenix's engine: it takes the run lock, keeps a copy
// of the seed, runs the pending modules in order across as many reboots as
// they ask for, records a marker per finished module, keeps status.json up
// to date for `phoenix status`, and disables the boot unit when everything
// is done.
//
// Everything it touches goes through a host.Root and a host.Runner, so the
// same engine runs against the live host, an offline image (--root) and the
// temp directories of tests; bootstrap/fault drives it with injected
// failures and crashes.
//
// State lives in /var/lib/phoenix (see the State* constants); every record
// there is replaced atomically, so a crash at any point leaves either the
// old or the new record, never half of one.
package bootstrap
