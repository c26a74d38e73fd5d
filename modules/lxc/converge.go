package lxc

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/phoenix-pve/phoenix/seed"
)

// options is the container config the seed asks for, in pct's option
// syntax: key -> value. An empty value means "absent" (pct set --delete).
type options map[string]string

func boolOpt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// gpuDevices are the device nodes a container with these GPUs needs.
func gpuDevices(gpus []int) []string {
	if len(gpus) == 0 {
		return nil
	}
	var devs []string
	for _, g := range gpus {
		devs = append(devs, fmt.Sprintf("/dev/nvidia%d", g))
	}
	return append(devs, "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")
}

// desired renders the seed's container as pct options. mounts holds the
// host path of each mount (dataset mountpoints resolved); devKeys says
// whether GPUs go in as devN keys (PVE 8.1+).
func desired(c *seed.Container, mounts []string, devKeys bool) options {
	o := options{"hostname": c.Hostname}
	if c.Memory > 0 {
		o["memory"] = strconv.Itoa(c.Memory)
	}
	if c.Swap != nil {
		o["swap"] = strconv.Itoa(*c.Swap)
	}
	if c.Cores > 0 {
		o["cores"] = strconv.Itoa(c.Cores)
	}
	if c.Nameserver != "" {
		o["nameserver"] = c.Nameserver
	}
	if c.Onboot != nil {
		o["onboot"] = boolOpt(*c.Onboot)
	}
	if f := c.Features; f != nil {
		var parts []string
		if f.Fuse {
			parts = append(parts, "fuse=1")
		}
		if f.Keyctl {
			parts = append(parts, "keyctl=1")
		}
		if f.Nesting {
			parts = append(parts, "nesting=1")
		}
		o["features"] = strings.Join(parts, ",")
	}
	if s := c.Startup; s != nil {
		var parts []string
		if s.Order > 0 {
			parts = append(parts, fmt.Sprintf("order=%d", s.Order))
		}
		if s.Up > 0 {
			parts = append(parts, fmt.Sprintf("up=%d", s.Up))
		}
		if s.Down > 0 {
			parts = append(parts, fmt.Sprintf("down=%d", s.Down))
		}
		o["startup"] = strings.Join(parts, ",")
	}
	if len(c.Tags) > 0 {
		o["tags"] = strings.Join(c.Tags, ";")
	}
	if c.Description != "" {
		o["description"] = c.Description
	}
	for i, n := range c.Net {
		name := n.Name
		if name == "" {
			name = fmt.Sprintf("eth%d", i)
		}
		p := []string{"name=" + name}
		if n.Bridge != "" {
			p = append(p, "bridge="+n.Bridge)
		}
		if n.GW != "" {
			p = append(p, "gw="+n.GW)
		}
		if n.HWAddr != "" {
			p = append(p, "hwaddr="+strings.ToUpper(n.HWAddr))
		}
		if n.IP != "" {
			p = append(p, "ip="+n.IP)
		}
		if n.MTU > 0 {
			p = append(p, fmt.Sprintf("mtu=%d", n.MTU))
		}
		if n.VLAN > 0 {
			p = append(p, fmt.Sprintf("tag=%d", n.VLAN))
		}
		o[fmt.Sprintf("net%d", i)] = strings.Join(p, ",")
	}
	for i, m := range c.Mounts {
		v := mounts[i] + ",mp=" + m.Path
		if m.ReadOnly {
			v += ",ro=1"
		}
		o[fmt.Sprintf("mp%d", i)] = v
	}
	if devKeys {
		for i, d := range gpuDevices(c.GPUs) {
			o[fmt.Sprintf("dev%d", i)] = d
		}
	}
	return o
}

// props parses a PVE property string; a part without "=" belongs to def.
func props(s, def string) map[string]string {
	m := map[string]string{}
	if s == "" {
		return m
	}
	for _, p := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			k, v = def, p
		}
		m[k] = v
	}
	return m
}

// netKeys are the netN properties the seed manages; pct adds type and a
// generated hwaddr of its own.
var netKeys = []string{"name", "bridge", "ip", "gw", "tag", "mtu"}

// same reports whether the actual value of key already is what the seed
// wants, comparing the way pct normalises each key.
func same(key, want, have string) bool {
	switch {
	case key == "features":
		return equalMaps(nonZero(props(want, "")), nonZero(props(have, "")))
	case key == "startup":
		return equalMaps(props(want, "order"), props(have, "order"))
	case key == "tags":
		return equalSets(splitTags(want), splitTags(have))
	case key == "onboot":
		return want == have || want == "0" && have == ""
	case key == "description":
		return strings.TrimSpace(want) == strings.TrimSpace(have)
	case strings.HasPrefix(key, "net"):
		w, h := props(want, ""), props(have, "")
		for _, k := range netKeys {
			if w[k] != h[k] {
				return false
			}
		}
		return w["hwaddr"] == "" || strings.EqualFold(w["hwaddr"], h["hwaddr"])
	case strings.HasPrefix(key, "mp"):
		w, h := props(want, "volume"), props(have, "volume")
		return w["volume"] == h["volume"] && w["mp"] == h["mp"] && (w["ro"] == "1") == (h["ro"] == "1")
	case strings.HasPrefix(key, "dev"):
		return props(want, "path")["path"] == props(have, "path")["path"]
	}
	return want == have
}

// setValue is what pct set gets for key: for a netN, the MAC the container
// already has is kept unless the seed names one, so a converge never
// changes a container's address.
func setValue(key, want, have string) string {
	if strings.HasPrefix(key, "net") {
		w, h := props(want, ""), props(have, "")
		if w["hwaddr"] == "" && h["hwaddr"] != "" {
			return want + ",hwaddr=" + h["hwaddr"]
		}
	}
	return want
}

func nonZero(m map[string]string) map[string]string {
	for k, v := range m {
		if v == "0" {
			delete(m, k)
		}
	}
	return m
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func splitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == ' ' })
}

func equalSets(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// indexed reports whether key is a netN, mpN or devN key.
func indexed(key string) bool {
	for _, p := range []string{"net", "mp", "dev"} {
		if n, ok := strings.CutPrefix(key, p); ok {
			if _, err := strconv.Atoi(n); err == nil {
				return true
			}
		}
	}
	return false
}

// change is one pct set argument pair, or a key to delete.
type change struct {
	Key, From, To string
}

// diff lists what pct set must change on have to get want. managed are the
// indexed keys Phoenix set before: those the seed no longer has are
// deleted; keys Phoenix never managed are left alone.
func diff(want options, have map[string]string, managed []string) []change {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []change
	for _, k := range keys {
		w, h := want[k], have[k]
		if w == "" {
			if h != "" {
				out = append(out, change{Key: k, From: h})
			}
			continue
		}
		if !same(k, w, h) {
			out = append(out, change{Key: k, From: h, To: setValue(k, w, h)})
		}
	}
	for _, k := range managed {
		if _, ok := want[k]; !ok && have[k] != "" {
			out = append(out, change{Key: k, From: have[k]})
		}
	}
	return out
}

// setArgs renders changes as pct set arguments.
func setArgs(id int, cs []change) []string {
	args := []string{"set", strconv.Itoa(id)}
	var del []string
	for _, c := range cs {
		if c.To == "" {
			del = append(del, c.Key)
			continue
		}
		args = append(args, "--"+c.Key, c.To)
	}
	if len(del) > 0 {
		args = append(args, "--delete", strings.Join(del, ","))
	}
	return args
}

func (c change) String() string {
	if c.To == "" {
		return "delete " + c.Key
	}
	if c.Key == "description" {
		return "description"
	}
	if c.From == "" {
		return c.Key + "=" + c.To
	}
	return fmt.Sprintf("%s %s -> %s", c.Key, c.From, c.To)
}
