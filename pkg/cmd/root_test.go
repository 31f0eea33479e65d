package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/report"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func execute(args ...string) (string, error) {
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	c := NewCmdNetcheck(streams)
	c.SetArgs(args)
	err := c.Execute()
	return out.String() + errOut.String(), err
}

// A typo gets cobra's suggestion; a bad flag points at the subcommand's help.
func TestUsageErrors(t *testing.T) {
	if _, err := execute("servce"); err == nil || !strings.Contains(err.Error(), "Did you mean this?\n\tservice") {
		t.Errorf("typo: %v", err)
	}
	_, err := execute("external", "--bogus")
	if code, _ := ExitCode(err); code != ExitError || !strings.Contains(err.Error(), "see 'kubectl netcheck external --help'") {
		t.Errorf("bad flag: exit %d, %v", code, err)
	}
	if out, err := execute("external", "--help"); err != nil || !strings.Contains(out, "-v, --v Level") {
		t.Errorf("-v is not offered: %v\n%s", err, out)
	}
}

// Exit 2 with -o json still prints an object, its status.error saying why.
func TestErrorAsObject(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	c := NewCmdNetcheck(streams)
	c.SetArgs([]string{"external", "198.19.0.1", "--kubeconfig", "/nonexistent", "-o", "json"})
	err := c.Execute()
	if code, _ := ExitCode(err); code != ExitError {
		t.Fatalf("exit %d", code)
	}
	var res report.Result
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
		t.Fatalf("stdout is not an object: %v\n%s", jerr, out.String())
	}
	if res.Kind != "ExternalCheck" || res.Command != "external" || !strings.Contains(res.Error, "kubeconfig") || res.Healthy {
		t.Errorf("result %+v", res)
	}
}

// --junit-file gets the run, also when it could not give a verdict.
func TestJUnitFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "netcheck.xml")
	r := runExternalIn(t, healthyExec(t), context.Background(), nil, nil, "198.19.0.1", "--junit-file", path)
	if r.code != ExitHealthy {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `<testsuite name="kubectl netcheck external`) || !strings.Contains(string(b), `failures="0"`) {
		t.Fatalf("%v\n%s", err, b)
	}
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	c := NewCmdNetcheck(streams)
	c.SetArgs([]string{"external", "198.19.0.1", "--kubeconfig", "/nonexistent", "--junit-file", path})
	_ = c.Execute()
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), `errors="1"`) || !strings.Contains(string(b), "kubeconfig") {
		t.Errorf("exit 2 in JUnit:\n%s", b)
	}
}

// -o completes to the formats the printers take.
func TestOutputCompletion(t *testing.T) {
	out, err := execute("__complete", "external", "-o", "")
	if err != nil || !strings.Contains(out, "jsonpath=\n") || !strings.Contains(out, "go-template=\n") || !strings.Contains(out, "wide\n") {
		t.Errorf("%v\n%s", err, out)
	}
}
