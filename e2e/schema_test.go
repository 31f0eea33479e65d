//go:build e2e

package e2e

import (
	"bytes"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	outputSchemaOnce sync.Once
	outputSchema     *jsonschema.Schema
	outputSchemaErr  error
)

// validateOutput checks one -o json object against docs/output.schema.json.
func validateOutput(t *testing.T, b []byte) {
	t.Helper()
	outputSchemaOnce.Do(func() {
		outputSchema, outputSchemaErr = jsonschema.NewCompiler().Compile(filepath.Join(repoRoot(), "docs", "output.schema.json"))
	})
	if outputSchemaErr != nil {
		t.Fatalf("docs/output.schema.json: %v", outputSchemaErr)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	if err := outputSchema.Validate(v); err != nil {
		t.Fatalf("output does not match docs/output.schema.json: %v\n%s", err, b)
	}
}
