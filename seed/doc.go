// Package seed is Phoenix's seed format v1: the types, the strict loader that
// reports file:line:col, semantic validation, the JSON Schema and the
// per-section digests that markers and reseeding compare.
package seed
