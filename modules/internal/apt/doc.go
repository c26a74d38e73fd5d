// Package apt is the one shared way Phoenix installs Debian packages. It is a
// helper, not a module: every module that needs packages calls it
// (apt.New(r).Install(ctx, pkgs...)), none shells out to apt on its own.
//
// apt never prompts: every call carries DEBIAN_FRONTEND=noninteractive,
// -y, Dpkg::Options::=--force-confdef,--force-confold and an empty stdin. It
// waits for the dpkg lock within a bound (DPkg::Lock::Timeout) and turns a
// lock still held after that into ErrLocked instead of hanging or retrying
// for ever; other failures are retried with exponential backoff. An
// interrupted dpkg run is repaired once with `dpkg --configure -a`.
package apt
