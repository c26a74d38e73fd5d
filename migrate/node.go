package migrate

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// obj is one JSON object of an input file. Every key the converter reads is
// marked, so rest can report the keys nothing carried over.
type obj struct {
	r    *report
	file string
	path string // JSON path of this object ("zfs.pools[0]"), "" at the top
	m    map[string]any
	used map[string]bool
}

func newObj(r *report, file, path string, v any) *obj {
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return &obj{r: r, file: file, path: path, m: m, used: map[string]bool{}}
}

func (o *obj) at(k string) string {
	if o.path == "" {
		return k
	}
	return o.path + "." + k
}

func (o *obj) has(k string) bool { _, ok := o.m[k]; return ok }

func (o *obj) get(k string) (any, bool) {
	o.used[k] = true
	v, ok := o.m[k]
	return v, ok && v != nil
}

// skip marks k as handled without reading it (its loss is reported by the
// caller, or it is metadata).
func (o *obj) skip(keys ...string) {
	for _, k := range keys {
		o.used[k] = true
	}
}

func (o *obj) str(k string) string {
	v, ok := o.get(k)
	if !ok {
		return ""
	}
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	o.r.lost(o.file, o.at(k), "expected a string; left out")
	return ""
}

func (o *obj) num(k string) (int, bool) {
	v, ok := o.get(k)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.Atoi(x.String())
		if err == nil {
			return n, true
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err == nil {
			return n, true
		}
	}
	o.r.lost(o.file, o.at(k), "expected a whole number; left out")
	return 0, false
}

func (o *obj) boolean(k string) (val, ok bool) {
	v, ok := o.get(k)
	if !ok {
		return false, false
	}
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			return b, true
		}
	case json.Number:
		return x.String() != "0", true
	}
	o.r.lost(o.file, o.at(k), "expected true or false; left out")
	return false, false
}

func (o *obj) child(k string) *obj {
	v, _ := o.get(k)
	return newObj(o.r, o.file, o.at(k), v)
}

func (o *obj) list(k string) []any {
	v, _ := o.get(k)
	l, _ := v.([]any)
	return l
}

func (o *obj) strs(k string) []string {
	var out []string
	for i, v := range o.list(k) {
		s, ok := v.(string)
		if !ok {
			o.r.lost(o.file, fmt.Sprintf("%s[%d]", o.at(k), i), "expected a string; left out")
			continue
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (o *obj) item(k string, i int, v any) *obj {
	return newObj(o.r, o.file, fmt.Sprintf("%s[%d]", o.at(k), i), v)
}

// rest reports every key of o that nothing read: with the advice for it
// when the converter knows the key, else as a key the scripts never read.
// Keys whose value is empty ("", [], {}, null, false, "none") carry nothing
// and are not reported.
func (o *obj) rest(advice map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(o.m)) {
		if o.used[k] || empty(o.m[k]) {
			continue
		}
		if a, ok := advice[k]; ok {
			o.r.lost(o.file, o.at(k), a)
			continue
		}
		if secretKey(k) {
			o.r.lost(o.file, o.at(k), "a secret in plain text: not copied and not shown; give Phoenix secrets as files on the seed volume (see docs/seed.md)")
			continue
		}
		o.r.lost(o.file, o.at(k), "not a key the bash originals read, and Phoenix has no equivalent: left out")
	}
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		s := strings.TrimSpace(strings.ToLower(x))
		return s == "" || s == "none"
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// secretKey says whether a key names a secret, whose value must never be
// copied or echoed.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "passwd", "secret", "token", "api_key", "apikey", "private_key"} {
		if strings.Contains(k, s) && !strings.HasSuffix(k, "_file") && !strings.HasSuffix(k, "_hash") {
			return true
		}
	}
	return false
}
