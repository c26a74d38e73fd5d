package seed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("seed.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("seed.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

// instance reads a seed file the way an editor's schema validator would:
// JSON as JSON, YAML as YAML (first document, duplicate keys last-wins).
func instance(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".json") {
		return jsonschema.UnmarshalJSON(bytes.NewReader(data))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty document")
	}
	return toValue(doc.Content[0])
}

// toValue turns a YAML node into the JSON data model jsonschema expects.
func toValue(n *yaml.Node) (any, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := toValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := toValue(c)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return l, nil
	}
	switch n.Tag {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		var i int64
		err := n.Decode(&i)
		return json.Number(strconv.FormatInt(i, 10)), err
	case "!!float":
		var f float64
		err := n.Decode(&f)
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), err
	}
	return n.Value, nil
}

// schemaErrors validates path against the schema; "" means it passes.
// jsonschema reports in random order, so the leaf messages are sorted.
func schemaErrors(sch *jsonschema.Schema, path string) string {
	v, err := instance(path)
	if err != nil {
		return "unparseable: " + err.Error()
	}
	err = sch.Validate(v)
	if err == nil {
		return ""
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var leaves []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, fmt.Sprintf("/%s: %s %v", strings.Join(e.InstanceLocation, "/"), strings.Join(e.ErrorKind.KeywordPath(), "/"), e.ErrorKind))
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Strings(leaves)
	return strings.Join(leaves, "\n")
}

// TestSchemaAgrees proves the schema and the Go validation agree: valid
// seeds pass both; an invalid seed fails the schema too unless its golden
// file says the rule is a gap the schema cannot express, and then the
// schema must really accept it (so a gap that gets closed is noticed).
func TestSchemaAgrees(t *testing.T) {
	sch := compileSchema(t)
	for _, path := range seedFiles(t, "valid") {
		if e := schemaErrors(sch, path); e != "" {
			t.Errorf("%s: valid for Go, rejected by the schema:\n%s", path, e)
		}
	}
	for _, path := range seedFiles(t, "invalid") {
		g := readGolden(t, path)
		e := schemaErrors(sch, path)
		switch {
		case g.schema == "rejects" && e == "":
			t.Errorf("%s: invalid for Go, but the schema accepts it (express the rule in schema.json, or mark the golden `# schema: gap: WHY`)", path)
		case g.schema != "rejects" && e != "":
			t.Errorf("%s: marked %q but the schema rejects it; mark it `# schema: rejects`:\n%s", path, g.schema, e)
		}
	}
}

// TestSchemaShippedCopy keeps docs/schema.json, which `go generate ./seed`
// writes, identical to the embedded schema that `phoenix schema` prints:
// it fails when the generated copy is stale.
func TestSchemaShippedCopy(t *testing.T) {
	shipped, err := os.ReadFile("../docs/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, Schema()) {
		t.Error("docs/schema.json differs from seed/schema.json (stale): run go generate ./seed")
	}
}

// TestSchemaCoversTypes checks that every seed struct has a $defs entry of
// the same name whose properties are exactly its yaml keys.
func TestSchemaCoversTypes(t *testing.T) {
	var raw struct {
		Defs map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, typ := range seedTypes() {
		def, ok := raw.Defs[typ.Name()]
		if !ok {
			t.Errorf("schema has no $defs/%s", typ.Name())
			continue
		}
		var want, got []string
		for _, f := range fieldsOf(typ) {
			want = append(want, f.key)
		}
		for k := range def.Properties {
			got = append(got, k)
		}
		sort.Strings(want)
		sort.Strings(got)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("$defs/%s properties %v, struct keys %v", typ.Name(), got, want)
		}
	}
}

// seedTypes is every struct type reachable from Seed.
func seedTypes() []reflect.Type {
	seen := map[reflect.Type]bool{}
	var out []reflect.Type
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		out = append(out, t)
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() {
				walk(t.Field(i).Type)
			}
		}
	}
	walk(reflect.TypeOf(Seed{}))
	return out
}
