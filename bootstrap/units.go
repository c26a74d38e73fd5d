package bootstrap

import (
	"context"

	"github.com/phoenix-pve/phoenix/bootstrap/host"
	"github.com/phoenix-pve/phoenix/units"
)

// UnitSwitch turns the boot unit on and off. Tests can stand in for it.
type UnitSwitch interface {
	EnableBoot(ctx context.Context) error
	DisableBoot(ctx context.Context) error
}

// BootUnits is the production UnitSwitch: units.Enable/Disable of
// units.Boot, over D-Bus when Live and the root is "/", else by editing the
// wants symlink in the (offline) root.
type BootUnits struct {
	Root host.Root
	Live bool
}

// EnableBoot implements UnitSwitch.
func (u BootUnits) EnableBoot(ctx context.Context) error {
	return units.Enable(ctx, u.Root, u.Live, units.Boot)
}

// DisableBoot implements UnitSwitch. It removes the wants symlink
// directly, without systemd's D-Bus API and its daemon-reload: the link is
// only read when the next boot builds its transaction, and a reload in the
// middle of a boot costs seconds (11 s in the e2e VM under emulation) on
// the way to multi-user.target. A unit already disabled costs one lstat.
func (u BootUnits) DisableBoot(ctx context.Context) error {
	if !BootEnabled(u.Root) {
		return nil
	}
	return units.Disable(ctx, u.Root, false, units.Boot)
}

// BootEnabled reports whether the boot unit is enabled in root.
func BootEnabled(r host.Root) bool {
	ok, _ := units.IsEnabled(r, units.Boot)
	return ok
}
