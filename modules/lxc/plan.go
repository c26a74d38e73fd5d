package lxc

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/phoenix-pve/phoenix/seed"
)

// ct is one container of the plan: its seed entry with the defaults filled
// in, and the containers it waits for.
type ct struct {
	ID   int
	C    seed.Container
	Deps []int // clone source and depends_on, in the plan
}

// plan is the containers to handle in dependency order.
type plan struct {
	order []*ct
	byID  map[int]*ct
}

// dependents lists the containers that wait for id.
func (p *plan) dependents(id int) []int {
	var out []int
	for _, c := range p.order {
		for _, d := range c.Deps {
			if d == id {
				out = append(out, c.ID)
			}
		}
	}
	return out
}

// withDefaults fills the unset fields of c from d.
func withDefaults(c seed.Container, d *seed.ContainerDefaults) seed.Container {
	if d == nil {
		return c
	}
	if c.Template == "" && c.TemplateURL == "" && c.TemplateFile == "" && c.CloneFrom == nil {
		c.Template = d.Template
	}
	if c.Memory == 0 {
		c.Memory = d.Memory
	}
	if c.Swap == nil {
		c.Swap = d.Swap
	}
	if c.Cores == 0 {
		c.Cores = d.Cores
	}
	if c.Unprivileged == nil {
		c.Unprivileged = d.Unprivileged
	}
	if c.Onboot == nil {
		c.Onboot = d.Onboot
	}
	if c.Features == nil {
		c.Features = d.Features
	}
	if c.Nameserver == "" {
		c.Nameserver = d.Nameserver
	}
	if d.Storage != "" {
		if c.RootFS == nil {
			c.RootFS = &seed.RootFS{}
		} else {
			r := *c.RootFS
			c.RootFS = &r
		}
		if c.RootFS.Storage == "" {
			c.RootFS.Storage = d.Storage
		}
	}
	if d.Bridge != "" {
		net := append([]seed.NetIf(nil), c.Net...)
		for i := range net {
			if net[i].Bridge == "" {
				net[i].Bridge = d.Bridge
			}
		}
		if len(net) == 0 && c.CloneFrom == nil {
			net = []seed.NetIf{{Bridge: d.Bridge, IP: "dhcp"}}
		}
		c.Net = net
	}
	return c
}

// newPlan orders the seed's containers, limited to selected CTIDs (and what
// they depend on) when selected is not empty.
func newPlan(l *seed.LXC, selected []string) (*plan, error) {
	p := &plan{byID: map[int]*ct{}}
	if l == nil {
		return p, nil
	}
	all := map[int]*ct{}
	for key, c := range l.Containers {
		id, err := strconv.Atoi(key)
		if err != nil || id < 100 {
			return nil, fmt.Errorf("containers: %q is not a CTID (100 or more)", key)
		}
		if c == nil {
			return nil, fmt.Errorf("%d: empty entry", id)
		}
		x := &ct{ID: id, C: withDefaults(*c, l.Defaults)}
		if cf := c.CloneFrom; cf != nil {
			if cf.CTID == id {
				return nil, fmt.Errorf("%d: clone_from itself", id)
			}
			x.Deps = append(x.Deps, cf.CTID)
		}
		x.Deps = append(x.Deps, c.DependsOn...)
		all[id] = x
	}
	// A clone source outside the seed must already exist: it is not part
	// of the plan. depends_on must name a container of the seed.
	for _, x := range all {
		var deps []int
		for i, d := range x.Deps {
			if _, ok := all[d]; ok {
				deps = append(deps, d)
			} else if i > 0 || x.C.CloneFrom == nil {
				return nil, fmt.Errorf("%d: depends_on %d: not a container of the seed", x.ID, d)
			}
		}
		sort.Ints(deps)
		x.Deps = dedup(deps)
		if cf := x.C.CloneFrom; cf != nil {
			if src, ok := all[cf.CTID]; ok && !src.C.External && !slices.Contains(src.C.Snapshots, cf.Snapshot) {
				return nil, fmt.Errorf("%d: clone_from %d snapshot %q: %d never takes that snapshot (add it to its snapshots)", x.ID, cf.CTID, cf.Snapshot, cf.CTID)
			}
		}
	}
	want := all
	if len(selected) > 0 {
		want = map[int]*ct{}
		var add func(id int)
		add = func(id int) {
			if _, ok := want[id]; ok {
				return
			}
			want[id] = all[id]
			for _, d := range all[id].Deps {
				add(d)
			}
		}
		for _, s := range selected {
			id, err := strconv.Atoi(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CTID", s)
			}
			if _, ok := all[id]; !ok {
				return nil, fmt.Errorf("%d: not a container of the seed", id)
			}
			add(id)
		}
	}
	// Kahn's algorithm, smallest CTID first, so the order is stable.
	indeg := map[int]int{}
	for _, x := range want {
		indeg[x.ID] = len(x.Deps)
	}
	for len(p.order) < len(want) {
		var ready []int
		for id, n := range indeg {
			if n == 0 {
				ready = append(ready, id)
			}
		}
		if len(ready) == 0 {
			var left []int
			for id := range indeg {
				left = append(left, id)
			}
			sort.Ints(left)
			return nil, fmt.Errorf("dependency cycle among %v", left)
		}
		sort.Ints(ready)
		for _, id := range ready {
			delete(indeg, id)
			p.order = append(p.order, want[id])
			p.byID[id] = want[id]
			for _, x := range want {
				if _, left := indeg[x.ID]; left && slices.Contains(x.Deps, id) {
					indeg[x.ID]--
				}
			}
		}
	}
	return p, nil
}

func dedup(s []int) []int {
	var out []int
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
