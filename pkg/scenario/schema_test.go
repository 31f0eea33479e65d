package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Every golden -o json object is what docs/output.schema.json says (the e2e
// suite checks every real run's too), and the schema refuses what the
// output no longer is.
func TestGoldenMatchesOutputSchema(t *testing.T) {
	schema, err := jsonschema.NewCompiler().Compile("../../docs/output.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/*.json.golden")
	if len(files) == 0 {
		t.Fatal("no golden JSON")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		// The old shape: a latency in nanoseconds, a duration as a string.
		old := strings.Replace(string(b), `"durationMillis": `, `"duration": `, 1)
		v, _ = jsonschema.UnmarshalJSON(strings.NewReader(old))
		if schema.Validate(v) == nil {
			t.Errorf("%s: the schema accepts a status without durationMillis", f)
		}
	}
}
