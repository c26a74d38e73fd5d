package source

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-pve/phoenix/seed/remote"
)

// rescanEvery is the poll interval while waiting for a late device. udev
// events would be quicker to notice, but polling sysfs costs ~1 ms and keeps
// Phoenix free of a netlink dependency.
const rescanEvery = 250 * time.Millisecond

// candidate is one device to probe.
type candidate struct {
	dev  string // /dev/NAME (display) or the path given with --device
	real string
}

// scanSysfs lists removable disks, CD-ROMs, USB disks and virtual machine
// (virtio, Xen) disks from /sys/class/block (through the Root), and why
// every other device was skipped. Fixed SATA/SAS/NVMe disks are left alone:
// they are the machine's own disks, not a seed someone plugged in. Partitions are not listed: probing a disk reads its partition
// table itself, which also works for image files.
func (l *locator) scanSysfs() (cands []candidate, skipped []string) {
	const class = "/sys/class/block"
	ents, err := l.o.Root.ReadDir(class)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: %s", class, why(err))}
	}
	for _, e := range ents {
		name := e.Name()
		dir := path.Join(class, name)
		if _, err := l.o.Root.Stat(path.Join(dir, "partition")); err == nil {
			continue // probed through its disk
		}
		dev := "/dev/" + name
		removable := strings.TrimSpace(l.readSys(path.Join(dir, "removable"))) == "1"
		cdrom := strings.HasPrefix(name, "sr")
		link, _ := l.o.Root.Readlink(dir)
		usb := strings.Contains(link, "/usb")
		// A hypervisor attaches a seed volume as a virtio or Xen disk
		// (qemu -drive if=virtio), which reports removable=0.
		vm := strings.HasPrefix(name, "vd") || strings.HasPrefix(name, "xvd") || strings.Contains(link, "/virtio")
		switch {
		case hasAnyPrefix(name, "loop", "ram", "zram", "dm-", "md", "nbd", "zd"):
			skipped = append(skipped, dev+": virtual device")
			continue
		case !removable && !cdrom && !usb && !vm:
			skipped = append(skipped, dev+": fixed disk (not removable, USB, CD-ROM or virtio)")
			continue
		}
		if s := strings.TrimSpace(l.readSys(path.Join(dir, "size"))); s == "0" {
			skipped = append(skipped, dev+": no medium")
			continue
		}
		cands = append(cands, candidate{dev: dev, real: l.o.Root.Path(dev)})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].dev < cands[j].dev })
	return cands, skipped
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (l *locator) readSys(p string) string {
	b, err := l.o.Root.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(b)
}

// match is one volume holding a seed.
type match struct {
	v       volume
	seed    string // path of the seed on the volume
	data    []byte
	signed  bool
	signer  string
	man     *Manifest // the signed manifest, when signed
	primary bool      // label matched (PHOENIX or phoenix.seed=label:), not PROXMOX-AIS
}

// fromVolumes scans (and waits for) volumes labelled label.
func (l *locator) fromVolumes(ctx context.Context, label string) (*Found, error) {
	wait := l.o.Wait
	if wait == 0 {
		wait = DefaultWait
	}
	if len(l.o.Devices) > 0 {
		wait = -1
	}
	deadline := time.Now().Add(wait)
	for attempt := 0; ; attempt++ {
		matches, seen, report := l.scanVolumes(label)
		if len(matches) > 0 {
			return l.choose(matches), nil
		}
		// Once a labelled volume was seen (even refused), waiting longer
		// cannot help; nor can it when time is up.
		if seen || wait < 0 || !time.Now().Before(deadline) {
			for _, r := range report {
				l.note("%s", r)
			}
			if wait > 0 {
				l.note("waited %s for late devices", wait)
			}
			return nil, &NotFoundError{Trace: l.trace}
		}
		if attempt == 0 && l.o.Log != nil {
			l.o.Log(fmt.Sprintf("no seed volume yet; waiting up to %s for a volume labelled %s", wait, label))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("seed: waiting for a volume labelled %s: %w", label, ctx.Err())
		case <-time.After(rescanEvery):
		}
	}
}

// scanVolumes probes every candidate once. It returns the acceptable
// matches, whether any labelled volume was seen, and one line per candidate.
func (l *locator) scanVolumes(label string) (matches []match, seen bool, report []string) {
	var cands []candidate
	if len(l.o.Devices) > 0 {
		for _, d := range l.o.Devices {
			cands = append(cands, candidate{dev: d, real: d})
		}
	} else {
		var skipped []string
		cands, skipped = l.scanSysfs()
		report = append(report, skipped...)
	}
	for _, c := range cands {
		vols, err := probeDevice(c.dev, c.real)
		if err != nil {
			report = append(report, fmt.Sprintf("%s: %v", c.dev, err))
			continue
		}
		for _, v := range vols {
			m, ok, why := l.tryVolume(v, label)
			if ok {
				matches = append(matches, m)
			}
			if m.seed != "" {
				seen = true
			}
			report = append(report, fmt.Sprintf("%s: %s", v, why))
		}
	}
	if len(cands) == 0 {
		report = append(report, "no removable, USB, CD-ROM or virtio disk present")
	}
	return matches, seen, report
}

// tryVolume reads and judges the seed on one volume. m.seed is set when the
// volume carries a seed at all (accepted or not).
func (l *locator) tryVolume(v volume, label string) (m match, ok bool, reason string) {
	m.v = v
	var names []string
	switch {
	case strings.EqualFold(v.Label, label):
		names, m.primary = append(volumeSeeds[:len(volumeSeeds):len(volumeSeeds)], remote.SourceFile), true
	case label == Label && strings.EqualFold(v.Label, AISLabel):
		names = []string{AISSeed}
	default:
		if v.Label == "" {
			return m, false, "no label"
		}
		return m, false, fmt.Sprintf("label %q is not %s", v.Label, label)
	}
	fsys, closer, err := v.mount()
	if err != nil {
		return m, false, err.Error()
	}
	defer closer.Close()
	for _, n := range names {
		data, err := readVolumeFile(fsys, n)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			m.seed = n
			return m, false, err.Error()
		}
		m.seed, m.data = n, data
		break
	}
	if m.seed == "" {
		return m, false, fmt.Sprintf("labelled %s but holds no %s", v.Label, strings.Join(names, " or "))
	}
	sig, err := readVolumeFile(fsys, sigName(m.seed))
	if err != nil && !isNotExist(err) {
		return m, false, err.Error()
	}
	if isNotExist(err) {
		sig = nil
	}
	var man []byte
	if sig != nil {
		man, err = readVolumeFile(fsys, manifestName(m.seed))
		if err != nil && !isNotExist(err) {
			return m, false, err.Error()
		}
		if isNotExist(err) {
			man = nil
		}
	}
	m.signed, m.signer, m.man, err = l.judge(m.seed, m.data, sig, man)
	if err != nil {
		l.warn("%s ignored: %v", v, err)
		return m, false, "ignored: " + err.Error()
	}
	if m.signed {
		return m, true, fmt.Sprintf("%s signed by %s", m.seed, m.signer)
	}
	return m, true, m.seed + " (unsigned)"
}

// choose picks one match deterministically: a PHOENIX-labelled volume over
// PROXMOX-AIS, then the first by device name, and warns when there was a
// choice to make.
func (l *locator) choose(ms []match) *Found {
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].primary != ms[j].primary {
			return ms[i].primary
		}
		return ms[i].v.Device < ms[j].v.Device
	})
	m := ms[0]
	if len(ms) > 1 {
		var others []string
		for _, o := range ms[1:] {
			others = append(others, o.v.Device)
		}
		l.warn("%d seed volumes found; using %s (first by device name), ignoring %s", len(ms), m.v.Device, strings.Join(others, ", "))
	}
	how := "unsigned"
	if m.signed {
		how = "signed by " + m.signer
	}
	l.note("using %s: %s (%s)", m.v, m.seed, how)
	if path.Base(m.seed) == remote.SourceFile {
		// Judged and chosen: an unreadable source file is an error, not a
		// reason to try another volume.
		src, err := remote.ParseSource(m.seed, m.data)
		return &Found{Origin: m.v.String(), Name: m.seed, Signed: m.signed, Signer: m.signer, source: &src, sourceErr: err}
	}
	return &Found{
		Origin:   m.v.String(),
		Name:     m.seed,
		Data:     m.data,
		Signed:   m.signed,
		Signer:   m.signer,
		Manifest: m.man,
		Bundle:   volumeBundle{v: m.v, dir: path.Dir(m.seed)},
	}
}
