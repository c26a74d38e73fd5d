// Package units holds Phoenix's systemd units, embedded in the binary, and
// enables or disables them on a live system (systemd over D-Bus) or on an
// offline root (a mounted image, a chroot) by managing the wants symlinks
// that `systemctl enable` would create.
//
// phoenix.service runs `phoenix run` at boot until every module converged;
// the engine then disables it. phoenix-reseed.path watches
// /etc/phoenix/seed.yaml and starts phoenix-reseed.service when the admin
// drops a new seed, which re-runs only the modules whose section changed.
package units
