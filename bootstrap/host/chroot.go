package host

import "context"

// ChrootRunner runs commands inside an offline root (a mounted image, a
// chroot being prepared) instead of on the machine Phoenix runs on: each
// command becomes `unshare --net chroot DIR NAME ARGS...`. The new, empty
// network namespace keeps tools like ifreload from touching this machine's
// network, and the chroot keeps apt, update-initramfs and friends working on
// the image. Disks stay out of reach unless the admin bind-mounted /dev.
type ChrootRunner struct {
	Dir   string
	Inner Runner
}

// Run implements Runner.
func (c ChrootRunner) Run(ctx context.Context, cmd Cmd) (Output, error) {
	wrapped := cmd
	wrapped.Name = "unshare"
	wrapped.Args = append([]string{"--net", "chroot", c.Dir, cmd.Name}, cmd.Args...)
	return c.Inner.Run(ctx, wrapped)
}
