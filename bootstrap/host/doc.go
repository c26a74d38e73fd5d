// Package host holds the two seams every module goes through: the Runner for
// external commands (argv only, secrets on stdin) and the Root, a
// root-prefixed filesystem with atomic writes. Production uses "/" and exec;
// tests use a temp dir and the recording fake in host/fakehost.
package host
