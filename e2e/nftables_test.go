//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

// onNode runs argv inside a lab node, as an operator with a shell there would.
func onNode(t *testing.T, node string, argv ...string) {
	t.Helper()
	script := filepath.Join(repoRoot(), "e2e", "cluster", "exec-node.sh")
	if out, err := exec.Command("bash", append([]string{script, node}, argv...)...).CombinedOutput(); err != nil {
		t.Fatalf("on %s: %s: %v\n%s", node, strings.Join(argv, " "), err, out)
	}
}

// command is a fix line as a shell would read it: words, quotes, and no
// trailing "# comment".
func command(line string) []string {
	var out []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == '#' && !inWord:
			return out
		case r == ' ' || r == '\t':
			if inWord {
				out, inWord = append(out, word.String()), false
				word.Reset()
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, word.String())
	}
	return out
}

// TestExternalNftablesForwardDrop: a firewalld-like native table drops
// forwarded pod traffic on nc-node2 while iptables accepts it. The verdict
// names the table, chain and handle; the printed nft fix, applied on the
// node, makes it healthy.
func TestExternalNftablesForwardDrop(t *testing.T) {
	lab(t)
	fault(t, "nc-node2", "nft-forward-drop")
	r := netcheck(t, 2*time.Minute, "external", extCIDR, "--port", "80", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := finding(t, r, diagnose.CauseForwardDrop)
	if strings.Join(f.Nodes, ",") != "nc-node2" || len(r.report.Findings) != 1 {
		t.Fatalf("want one forward-drop on nc-node2, got %+v", r.report.Findings)
	}
	mustContain(t, "evidence", f.Evidence, "nftables forward hook: drop: table inet netcheck_fw chain filter_FORWARD_POLICIES handle ")
	mustContain(t, "fix", f.Fix, "nft delete rule inet netcheck_fw filter_FORWARD_POLICIES handle ")
	if !strings.HasPrefix(f.Fix[0], "nft delete rule ") {
		t.Fatalf("first fix %q", f.Fix[0])
	}
	onNode(t, "nc-node2", command(f.Fix[0])...)
	healthy(t, netcheck(t, 2*time.Minute, "external", extCIDR, "--port", "80", "--node", "nc-node2", "-o", "json"))
	noProbePodsLeft(t)
}

// TestNftablesMasqueradeHealthy: the pod masquerade lives in a native nft
// table on every node, not in iptables: pods reach outside, and no command
// reports missing NAT.
func TestNftablesMasqueradeHealthy(t *testing.T) {
	lab(t)
	for _, n := range []string{"nc-node1", "nc-node2", "nc-node3"} {
		fault(t, n, "nft-masquerade")
	}
	r := netcheck(t, 2*time.Minute, "external", extCIDR, "--port", "80", "-o", "json")
	healthy(t, r)
	for _, n := range r.report.Nodes {
		for _, tf := range n.Facts.Targets {
			if tf.NAT.Datapath != "nftables" || tf.NAT.Result != "yes" {
				t.Errorf("%s: masquerade not found in nftables: %+v", n.Name, tf.NAT)
			}
		}
	}
	healthy(t, netcheck(t, 2*time.Minute, "node", "-o", "json"))
	healthy(t, podsCheck(t))
	noProbePodsLeft(t)
}

// TestNodeIptablesBackendsSplit: a rule written with iptables-legacy on a
// node whose kube-proxy uses iptables-nft. The warning names which chains
// live where; the printed flush of the legacy chain, applied on the node,
// makes the node healthy.
func TestNodeIptablesBackendsSplit(t *testing.T) {
	lab(t)
	fault(t, "nc-node1", "iptables-legacy-rule")
	r := netcheck(t, 2*time.Minute, "node", "--node", "nc-node1", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stdout)
	}
	f := finding(t, r, diagnose.CauseMixedIptables)
	mustContain(t, "evidence", f.Evidence, "iptables-legacy-save (host, via nsenter): filter/FORWARD")
	mustContain(t, "evidence", f.Evidence, "kube-proxy's chains (")
	var flush string
	for _, l := range f.Fix {
		if strings.HasPrefix(l, "iptables-legacy -t filter -F FORWARD") {
			flush = l
		}
	}
	if flush == "" {
		t.Fatalf("no flush of the legacy chain in %q", f.Fix)
	}
	onNode(t, "nc-node1", command(flush)...)
	healthy(t, netcheck(t, 2*time.Minute, "node", "--node", "nc-node1", "-o", "json"))
	noProbePodsLeft(t)
}

// TestNodeRulesReadFromAgentContainer: nc-node2 has neither iptables nor
// nft of its own (a Talos-like host), but a CNI agent's container ships
// them: the rules are read with that container's tools, the output says
// whose, and the verdicts are the same as with the host's.
func TestNodeRulesReadFromAgentContainer(t *testing.T) {
	lab(t)
	fault(t, "nc-node2", "host-tools-hidden")
	r := netcheck(t, 2*time.Minute, "node", "-o", "json")
	healthy(t, r)
	for _, n := range r.report.Nodes {
		tools := strings.Join(n.Facts.Tools, "; ")
		wantVia := "(host, via nsenter" // then ")" or "; left out …)"
		if n.Name == "nc-node2" {
			wantVia = "(calico-node's mount namespace, pid "
		}
		if !strings.Contains(tools, "iptables-nft-save "+wantVia) || !strings.Contains(tools, "nft -j list table "+wantVia) {
			t.Errorf("%s: tools %q, want both read %s…", n.Name, tools, wantVia)
		}
		if len(n.Facts.Targets) == 0 || n.Facts.Targets[0].Forward.Result != "yes" || n.Facts.Targets[0].NAT.Result != "yes" {
			t.Errorf("%s: verdicts %+v", n.Name, n.Facts.Targets)
		}
	}
	noProbePodsLeft(t)
}

// TestNodeRulesUnreadable: nothing on nc-node2 can read the rules. The run
// says so, and claims no FORWARD or NAT verdict for that node.
func TestNodeRulesUnreadable(t *testing.T) {
	lab(t)
	fault(t, "nc-node2", "host-tools-hidden:alone")
	r := netcheck(t, 2*time.Minute, "node", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: an unread node is no finding of a fault\n%s", r.code, r.stdout)
	}
	for _, n := range r.report.Nodes {
		if n.Name != "nc-node2" {
			continue
		}
		if n.Facts.RulesRead || n.Facts.Targets[0].Forward.Result != "unknown" || n.Facts.Targets[0].NAT.Result != "unknown" {
			t.Errorf("rules read %v, verdicts %+v", n.Facts.RulesRead, n.Facts.Targets[0])
		}
		mustContain(t, "notes", n.Facts.Notes, "iptables rules not read: neither the host nor a kube-proxy or CNI agent container has")
	}
	out := netcheck(t, 2*time.Minute, "node", "--node", "nc-node2")
	if !strings.Contains(out.stdout, "unknown (no iptables rules could be read)") {
		t.Errorf("the table says the rules were not read:\n%s", out.stdout)
	}
	noProbePodsLeft(t)
}
