package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func TestWriteJUnit(t *testing.T) {
	ts := metav1.NewTime(time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC))
	r := Result{Metadata: Meta{Name: "abc123", CreationTimestamp: ts}, Spec: Spec{Command: "external", Targets: []string{"198.19.0.1"}},
		Status: Status{DurationMillis: 2500, Nodes: []observe.Node{
			{Name: "n1", Pod: observe.SideResult{Checks: []observe.Check{{Kind: observe.Ping, ID: observe.TargetID("198.19.0.1"), Outcome: observe.Timeout, Detail: "0/3 replies"},
				{Kind: observe.MTUProbe, ID: observe.TargetID("198.19.0.1"), Outcome: observe.NotRun, Detail: "restricted"}}},
				Host: observe.SideResult{Checks: []observe.Check{{Kind: observe.Ping, ID: observe.TargetID("198.19.0.1"), Outcome: observe.OK, Latency: time.Millisecond}}}}},
			Findings: []diagnose.Finding{{Severity: diagnose.Error, Cause: "missing-nat", Nodes: []string{"n1"}, Target: "198.19.0.1",
				Summary: "no SNAT", Evidence: []string{"pod@n1 ping: timeout"}, Fix: []string{"iptables -t nat -A POSTROUTING -j MASQUERADE"}}}}}
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	s := got.Suites[0]
	if s.Name != "kubectl netcheck external 198.19.0.1" || s.Tests != 4 || s.Failures != 2 || s.Skipped != 1 || s.Time != "2.500" || s.Timestamp != "2026-12-02T16:00:00Z" {
		t.Fatalf("suite %+v", s)
	}
	ping := s.Cases[0]
	if ping.Classname != "n1" || ping.Failure == nil || ping.Failure.Type != "timeout" || !strings.Contains(ping.Failure.Body, "iptables -t nat -A POSTROUTING") {
		t.Errorf("the failed check carries the finding's fix: %+v", ping)
	}
	if s.Cases[2].Failure != nil || s.Cases[3].Failure == nil || s.Cases[3].Failure.Type != "missing-nat" {
		t.Errorf("cases %+v", s.Cases)
	}
}

// The XML validates against docs/junit.xsd (the Ant/Jenkins JUnit format
// CI viewers read), with xmllint; and the schema refuses a suite without
// its test count.
func TestJUnitValidatesAgainstTheXSD(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: apt-get install libxml2-utils (scripts/test.sh installs it)")
	}
	r := Result{Metadata: Meta{Name: "abc123", CreationTimestamp: metav1.NewTime(time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC))},
		Spec: Spec{Command: "external", Targets: []string{"198.19.0.1"}},
		Status: Status{DurationMillis: 2500, Nodes: []observe.Node{{Name: "n1", Pod: observe.SideResult{Checks: []observe.Check{
			{Kind: observe.Ping, ID: observe.TargetID("198.19.0.1"), Outcome: observe.Timeout, Detail: "0/3 replies <&>"},
			{Kind: observe.MTUProbe, ID: observe.TargetID("198.19.0.1"), Outcome: observe.NotRun, Detail: "restricted"}}}}},
			Findings: []diagnose.Finding{{Severity: diagnose.Error, Cause: "missing-nat", Nodes: []string{"n1"}, Summary: "no SNAT", Fix: []string{"iptables -t nat -A POSTROUTING -j MASQUERADE"}}}}}
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.xml")
	bad := filepath.Join(dir, "bad.xml")
	if err := os.WriteFile(good, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(b.String(), ` tests="`, ` count="`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	xsd := filepath.Join("..", "..", "docs", "junit.xsd")
	if out, err := exec.Command(xmllint, "--noout", "--schema", xsd, good).CombinedOutput(); err != nil {
		t.Fatalf("netcheck's JUnit does not validate: %v\n%s\n%s", err, out, b.String())
	}
	if out, err := exec.Command(xmllint, "--noout", "--schema", xsd, bad).CombinedOutput(); err == nil {
		t.Fatalf("the schema accepts a testsuite without tests=:\n%s", out)
	}
}
