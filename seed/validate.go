package seed

import "strings"

// checker runs the semantic rules over a decoded seed. Every rule reports
// through errf with the path of the offending value; the position comes
// from the decoder's path index (the nearest present parent when the value
// itself is missing).
type checker struct {
	s   *Seed
	rep *Report
	pos map[string]pos
	// basePos, for a host's effective seed, holds the positions of the
	// sections its overlay does not touch (they were decoded once, with
	// the base); touched names the sections decoded again into pos.
	basePos map[string]pos
	touched map[string]bool
}

// at is the position of path's value node.
func (c *checker) at(path string) (pos, bool) {
	if c.basePos != nil {
		top := path
		if i := strings.IndexAny(top, ".["); i >= 0 {
			top = top[:i]
		}
		if !c.touched[top] {
			at, ok := c.basePos[path]
			return at, ok
		}
	}
	at, ok := c.pos[path]
	return at, ok
}

func (c *checker) errf(path, format string, args ...any) {
	p := path
	for {
		if at, ok := c.at(p); ok {
			c.rep.add(at.line, at.col, path, format, args...)
			return
		}
		parent, ok := parentPath(p)
		if !ok {
			c.rep.add(1, 1, path, format, args...)
			return
		}
		p = parent
	}
}

// has reports whether the seed wrote a value at path.
func (c *checker) has(path string) bool { _, ok := c.at(path); return ok }

// required reports a missing or empty required string.
func (c *checker) required(path, v string) bool {
	if v != "" {
		return true
	}
	if c.has(path) {
		c.errf(path, "must not be empty")
	} else {
		c.errf(path, "required")
	}
	return false
}

// intRange checks an integer the seed wrote (absent means "default").
func (c *checker) intRange(path string, v, lo, hi int, unit string) {
	if c.has(path) && (v < lo || v > hi) {
		c.errf(path, "%d out of range %d..%d%s", v, lo, hi, unit)
	}
}

func (c *checker) text(path, v string) {
	if !plain(v) {
		c.errf(path, "must not contain control characters or line breaks")
	}
}

func (c *checker) pattern(path, v string, ok func(string) bool, what string) {
	if v != "" && !ok(v) {
		c.errf(path, "%q is not %s", v, what)
	}
}

// dups reports repeated values in a list: names, disks, ids.
type dups map[string]string // value -> path of first use

func (d dups) seen(c *checker, path, v, what string) {
	if v == "" {
		return
	}
	if first, ok := d[v]; ok {
		c.errf(path, "duplicate %s %q (first at %s)", what, v, first)
		return
	}
	d[v] = path
}

func (c *checker) check() {
	s := c.s
	switch {
	case !c.has("version"):
		c.errf("version", "required: add `version: 1` (supported versions: %d)", Version)
	case s.Version != Version:
		c.errf("version", "unsupported seed version %d (supported versions: %d)", s.Version, Version)
	}
	for _, sec := range sections {
		if sec.get(s) != nil {
			sec.check(c, s)
		}
	}
	c.webhook(s.Report)
}
