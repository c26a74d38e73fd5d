// Package testkit holds test helpers shared by the modules' tests: golden
// files with an -update flag, seeds and Envs on a temp Root, a temp Root
// seeded with files, a read-only Root for "Check only reads" tests, and a
// fakehost handler that runs the real tool where it is safe to (visudo -cf,
// useradd --root).
package testkit
