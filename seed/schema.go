package seed

import _ "embed"

// schemaJSON is the JSON Schema (draft 2020-12) of seed format v1. It is
// only printed (`phoenix schema`) and shipped as docs/schema.json for
// editors; Load never compiles it, so it costs nothing at boot. Tests check
// that it agrees with the Go validation on every seed under testdata/seeds.
//
// docs/schema.json is generated from it (`go generate ./seed`);
// TestSchemaShippedCopy fails when the two differ.
//
//go:generate cp schema.json ../docs/schema.json
//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema of seed format v1.
func Schema() []byte { return append([]byte(nil), schemaJSON...) }
