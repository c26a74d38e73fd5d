// Package prop normalizes ZFS property values so that what a seed says
// ("1M", "100G", "none") compares equal to what `zfs get -p` prints
// ("1048576", "107374182400", "0"). The zfs module and its fakes share it,
// so both sides agree on one definition.
package prop

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeProps are the properties whose parsable (-p) value is a byte count.
var sizeProps = map[string]bool{
	"recordsize": true, "volblocksize": true, "volsize": true,
	"quota": true, "refquota": true, "reservation": true, "refreservation": true,
	"special_small_blocks": true,
}

// IsSize reports whether property p holds a byte count.
func IsSize(p string) bool { return sizeProps[p] }

// ParseSize parses a ZFS-style size: a plain byte count or a number with a
// binary suffix K, M, G, T, P, E (optionally followed by "B" or "iB"), as
// zfs(8) and the ARC limit accept them. "none" is 0.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "none") {
		return 0, nil
	}
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(u, "IB")
	u = strings.TrimSuffix(u, "B")
	mult := float64(1)
	if n := len(u); n > 0 {
		if i := strings.IndexByte("KMGTPE", u[n-1]); i >= 0 {
			mult = math.Pow(1024, float64(i+1))
			u = u[:n-1]
		}
	}
	f, err := strconv.ParseFloat(u, 64)
	if err != nil || f < 0 || u == "" {
		return 0, fmt.Errorf("bad size %q (want e.g. 512K, 1M, 32G or a byte count)", s)
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return int64(v), nil
}

// Normalize returns value in the form `zfs get -p` prints for property p:
// sizes in bytes, on/off lowercase; other values unchanged.
func Normalize(p, value string) (string, error) {
	if IsSize(p) {
		n, err := ParseSize(value)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		return strconv.FormatInt(n, 10), nil
	}
	switch l := strings.ToLower(value); l {
	case "on", "off":
		return l, nil
	}
	return value, nil
}
