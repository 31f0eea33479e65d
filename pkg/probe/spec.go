package probe

import (
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
)

// Spec is one check to run: what, against which target key, with which argv.
type Spec struct {
	Kind     observe.CheckKind
	ID       observe.CheckID
	Argv     []string
	Classify func(podexec.Result) observe.Check
}

// SpecsFor lists the checks a target gets from each side. Ping always runs
// (with TCP/HTTP beside it, a failed ping alone is "ICMP filtered", not
// "unreachable"); names are resolved first, by the side's own resolver.
func SpecsFor(t target.Target, id observe.CheckID, port int, timeout time.Duration) []Spec {
	var out []Spec
	if t.IsName() {
		out = append(out, Spec{Kind: observe.DNS, ID: id, Argv: DNSArgv(t.Host), Classify: ClassifyDNS})
	}
	out = append(out, Spec{Kind: observe.Ping, ID: id, Argv: PingArgv(t.Host, timeout), Classify: ClassifyPing})
	p := t.Port
	if p == 0 {
		p = port
	}
	switch {
	case t.Kind == target.KindURL:
		out = append(out, Spec{Kind: observe.HTTP, ID: id, Argv: HTTPArgv(t.URL, timeout), Classify: ClassifyHTTP})
	case p != 0:
		out = append(out, Spec{Kind: observe.TCP, ID: id, Argv: TCPArgv(t.Host, p, timeout), Classify: ClassifyTCP})
	}
	return out
}
