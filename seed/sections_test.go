package seed

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSectionsTable holds the Seed struct and schema.json to the one table
// of sections: each Seed field but version is a row, in the same order,
// whose get returns that field (nil when absent), and schema.json's
// top-level properties are exactly version and the rows.
func TestSectionsTable(t *testing.T) {
	st := reflect.TypeOf(Seed{})
	var fields []string
	for i := 0; i < st.NumField(); i++ {
		key, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		if slices.Contains(metaKeys, key) || !st.Field(i).IsExported() {
			continue
		}
		fields = append(fields, key)
		row := slices.IndexFunc(sections, func(s section) bool { return s.name == key })
		if row < 0 {
			t.Errorf("Seed.%s (%q) has no row in sections", st.Field(i).Name, key)
			continue
		}
		var s Seed
		if got := sections[row].get(&s); got != nil {
			t.Errorf("%s: get on an empty seed = %v, want nil", key, got)
		}
		f := reflect.ValueOf(&s).Elem().Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		default:
			t.Fatalf("Seed.%s: a section is a pointer or a slice, not %s", st.Field(i).Name, f.Kind())
		}
		if got := sections[row].get(&s); got == nil || !reflect.DeepEqual(got, f.Interface()) {
			t.Errorf("%s: get returns %v, not Seed.%s", key, got, st.Field(i).Name)
		}
		if SectionDigest(&s, key) == "" {
			t.Errorf("%s: a present section digests to \"\"", key)
		}
	}
	if !slices.Equal(fields, Sections) {
		t.Errorf("Seed fields %v, sections %v: same keys, same order", fields, Sections)
	}
	var raw struct {
		Defs struct {
			Seed struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"Seed"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &raw); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(metaKeys), Sections...)
	var got []string
	for k := range raw.Defs.Seed.Properties {
		got = append(got, k)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("schema.json $defs/Seed properties %v, want version and the sections %v", got, want)
	}
}
