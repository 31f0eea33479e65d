package scenario

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/report"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestGolden renders every command's report, as the plugin printed it on the
// lab cluster (-o json, testdata/*.json), as table, wide table and json,
// and diffs each with its golden file. A change to what users read shows
// up here; regenerate with: go test ./pkg/scenario -run TestGolden -update
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no captured reports: %v", err)
	}
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		var r report.Result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		for _, format := range []string{"table", "wide", "json"} {
			name := strings.TrimSuffix(in, ".json") + "." + format + ".golden"
			t.Run(filepath.Base(name), func(t *testing.T) {
				got := render(t, r, format)
				if *update {
					if err := os.WriteFile(name, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(name)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs from the golden file; if the change is meant, run go test ./pkg/scenario -run TestGolden -update\n--- got\n%s", name, got)
				}
			})
		}
	}
}
