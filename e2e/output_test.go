//go:build e2e

package e2e

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestJSONPathEveryCommand: every probing command's result is an object
// kubectl's printers read: -o jsonpath='{.status.healthy}' prints true on a
// healthy lab, and -o name names the run.
func TestJSONPathEveryCommand(t *testing.T) {
	shop(t)
	for _, args := range [][]string{
		{"node"},
		{"external", "198.19.0.1", "--port", "80"},
		{"dns"},
		{"service", "web", "-n", "nc-shop"},
		{"api"},
		{"pods"},
	} {
		r := netcheck(t, 2*time.Minute, append(args, "-o", "jsonpath={.status.healthy}")...)
		if r.code != 0 || r.stdout != "true" {
			t.Errorf("%v -o jsonpath: exit %d stdout %q\n%s", args, r.code, r.stdout, r.stderr)
		}
	}
	noProbePodsLeft(t)
}

// TestJUnitFile: --junit-file holds one case per node × check, loadable XML.
func TestJUnitFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "netcheck.xml")
	r := netcheck(t, time.Minute, "external", "198.19.0.1", "--port", "80", "--junit-file", path)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Classname string `xml:"classname,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("not JUnit XML: %v\n%s", err, b)
	}
	s := suites.Suites[0]
	nodes := map[string]bool{}
	for _, c := range s.Cases {
		nodes[c.Classname] = true
	}
	if s.Failures != 0 || s.Tests < 6 || !nodes["nc-node1"] || !nodes["nc-node3"] {
		t.Fatalf("suite: %d tests, %d failures, nodes %v\n%s", s.Tests, s.Failures, nodes, b)
	}
	// What CI viewers load: the file validates against docs/junit.xsd.
	if out, err := exec.Command("xmllint", "--noout", "--schema", filepath.Join(repoRoot(), "docs", "junit.xsd"), path).CombinedOutput(); err != nil {
		t.Fatalf("--junit-file does not validate against docs/junit.xsd: %v\n%s", err, out)
	}
}
