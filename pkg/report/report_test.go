package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type testLayout struct{}

func (testLayout) Table(w io.Writer, r Result, _ bool) {
	fmt.Fprintf(w, "TABLE %d nodes\n", len(r.Nodes))
}
func (testLayout) Healthy(Result) string { return "all good" }

func TestPrintFindings(t *testing.T) {
	var ev []string
	for i := range 10 {
		ev = append(ev, fmt.Sprintf("line %d", i))
	}
	r := Result{Status: Status{Nodes: []observe.Node{{Name: "n1", Facts: observe.NodeFacts{Tools: []string{"host iptables-nft"}}}},
		Findings: []diagnose.Finding{{Severity: diagnose.Error, Cause: "forward-drop", Nodes: []string{"n1"}, Target: "192.0.2.1",
			Summary: "dropped", Evidence: ev, Fix: []string{"iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT"}}}}}
	var b bytes.Buffer
	if err := Print(&b, r, "table", testLayout{}); err != nil {
		t.Fatal(err)
	}
	want := `TABLE 1 nodes

ERROR forward-drop on n1 → 192.0.2.1
  dropped
  evidence:
    line 0
    line 1
    line 2
    line 3
    line 4
    line 5
    line 6
    line 7
    … 2 more (-o wide or -o json for all)
  fix:
    iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT
node facts (n1) read with: host iptables-nft
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	// No probe ran (dns with no server ready): no table, the findings first.
	b.Reset()
	empty := Result{Status: Status{Notes: []string{"no DNS server is ready: no probe pod was started"}, Findings: r.Findings}}
	if err := Print(&b, empty, "table", testLayout{}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); strings.Contains(got, "TABLE") || !strings.HasPrefix(got, "note: no DNS server is ready") {
		t.Errorf("no nodes, yet:\n%s", got)
	}
	b.Reset()
	r.Findings = nil
	_ = Print(&b, r, "wide", testLayout{})
	if !strings.Contains(b.String(), "\nall good\n") {
		t.Errorf("the layout's healthy line is printed when nothing was found:\n%s", b.String())
	}
	if err := Print(&b, r, "xml", testLayout{}); err == nil {
		t.Error("an unknown format is an error")
	}
}

// The result reads as a Kubernetes object: kubectl's printers take it.
func TestTemplateOutputs(t *testing.T) {
	r := Result{TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: "ExternalCheck"}, Metadata: Meta{Name: "abc123"},
		Spec: Spec{Command: "external", Namespace: "netcheck"}, Status: Status{Healthy: true, Nodes: []observe.Node{{Name: "n1"}, {Name: "n2"}}}}
	for format, want := range map[string]string{
		"jsonpath={.status.healthy}":                       "true",
		"jsonpath={.metadata.name} {.spec.probeNamespace}": "abc123 netcheck",
		"jsonpath={range .status.nodes[*]}{.name},{end}":   "n1,n2,",
		"go-template={{.kind}} {{len .status.nodes}}":      "ExternalCheck 2",
		"name": "externalcheck/abc123\n",
	} {
		var b bytes.Buffer
		if err := Print(&b, r, format, testLayout{}); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if b.String() != want {
			t.Errorf("%s: got %q, want %q", format, b.String(), want)
		}
	}
	if _, err := TemplatePrinter("jsonpath={.status.healthy"); err == nil {
		t.Error("an unclosed template was accepted")
	}
	var b bytes.Buffer
	if err := Print(&b, r, "json", testLayout{}); err != nil || !strings.Contains(b.String(), `"status": {`) || !strings.Contains(b.String(), `"metadata": {`) {
		t.Errorf("json is not shaped as an object: %v\n%s", err, b.String())
	}
}

// The node-side filter's counts differ between nodes: the table groups
// the nodes by their tools, and -o json keeps the counts.
func TestToolsLineWithoutFilterCounts(t *testing.T) {
	node := func(name, n string) observe.Node {
		return observe.Node{Name: name, Facts: observe.NodeFacts{Tools: []string{"iptables-nft-save (host, via nsenter; left out " + n + " rules and 25 chains of Services not asked about)", "busybox ip (probe)"}}}
	}
	r := Result{Spec: Spec{Command: "external"}, Status: Status{Healthy: true, Nodes: []observe.Node{node("n1", "69"), node("n2", "71")}}}
	var b bytes.Buffer
	if err := Print(&b, r, "table", testLayout{}); err != nil {
		t.Fatal(err)
	}
	if want := "node facts (n1, n2) read with: iptables-nft-save (host, via nsenter), busybox ip (probe)\n"; !strings.Contains(b.String(), want) {
		t.Errorf("missing %q in:\n%s", want, b.String())
	}
}
