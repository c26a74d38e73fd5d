package seed

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const docsPath = "../docs/seed.md"

// TestDocsEveryKey checks that docs/seed.md documents every key of every
// seed type (as `key`).
func TestDocsEveryKey(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range seedTypes() {
		for _, f := range fieldsOf(typ) {
			if !strings.Contains(string(doc), "`"+f.key+"`") {
				t.Errorf("docs/seed.md does not document %s key `%s`", typ.Name(), f.key)
			}
		}
	}
}

// TestDocsExamples loads every ```yaml block of docs/seed.md: each is a
// complete seed and must validate.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?ms)^```yaml\n(.*?)^```").FindAllSubmatchIndex(doc, -1)
	if len(blocks) < 10 {
		t.Fatalf("only %d yaml examples in docs/seed.md", len(blocks))
	}
	for _, b := range blocks {
		line := strings.Count(string(doc[:b[2]]), "\n") + 1
		name := "seed.md:" + strconv.Itoa(line)
		if _, err := Load(name, doc[b[2]:b[3]]); err != nil {
			t.Errorf("example at docs/seed.md line %d does not validate (positions are relative to the block):\n%v", line, err)
		}
	}
}
