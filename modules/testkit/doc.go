// Package testkit holds test helpers shared by the host-level modules (host,
// network, repos, kernel, users): golden call logs with an -update flag, a
// temp Root seeded with files, and a fakehost handler that runs the real tool
// where it is safe to (visudo -cf, useradd --root).
package testkit
