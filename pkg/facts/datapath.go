package facts

import (
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Datapath is one mechanism that filters and translates a node's packets:
// iptables (legacy or nft), a native nftables table, … A node may have
// several at once and the kernel runs them all, so a verdict is asked of
// each (NAT, Forward below). Nothing outside this package branches on
// which datapath a node runs: the verdicts name it, and the fixes are
// written by it (FixerFor), in its own tool.
type Datapath interface {
	// Name is what the verdicts and fixes are attributed to ("iptables").
	Name() string
	// Tool says what the rules were read with, for the report.
	Tool() string
	// NAT says whether p is source-NATed on its way out.
	NAT(p Packet) observe.Verdict
	// Forward says whether p passes the forward hook.
	Forward(p Packet) observe.Verdict
	// Input says whether p, addressed to the node, passes the input hook
	// (an overlay's encapsulated packets from the other nodes).
	Input(p Packet) observe.Verdict
	// Masquerading lists the rules that source-NAT some traffic, quoted
	// as evidence when none matched the flow.
	Masquerading() []string
}

// Fixer writes fix commands in one datapath's tool.
type Fixer interface {
	// Masquerade masquerades m's traffic.
	Masquerade(m Masquerade) []string
	// AllowForward lets pod traffic of podCIDR through what v says drops it;
	// both also accepts new flows towards the pods (pod-to-pod traffic).
	AllowForward(v observe.Verdict, podCIDR string, both bool) []string
	// AllowInbound lets the node accept proto/port from the peers (an
	// overlay's encapsulated traffic) through what v says drops it.
	AllowInbound(v observe.Verdict, proto string, port int, peers string) []string
}

// Masquerade describes the traffic a masquerade rule must cover.
type Masquerade struct {
	Src string // the pod CIDR
	// Dst is the destination prefix; with NotDst, every destination but it.
	Dst    string
	NotDst bool
	Out    string // the outgoing interface
	V6     bool
}

// FixerFor is the fix writer of the datapath a verdict names; verdicts
// no datapath judged (no rules read) get iptables', the most common.
func FixerFor(datapath string) Fixer {
	switch datapath {
	case Nftables{}.Name():
		return nftablesFixer{}
	default:
		return iptablesFixer{}
	}
}

// NAT asks every datapath whether p is source-NATed: the first that
// translates it decides, as the kernel's first NAT does.
func NAT(dps []Datapath, p Packet) observe.Verdict {
	if len(dps) == 0 {
		return observe.Verdict{Result: observe.Unknown, Action: "no iptables rules could be read"}
	}
	v := observe.Verdict{Result: observe.No, Action: "no MASQUERADE/SNAT rule matches", Datapath: dps[0].Name()}
	for _, dp := range dps {
		d := dp.NAT(p)
		v.Uncertain = append(v.Uncertain, d.Uncertain...)
		if d.Result == observe.Yes {
			d.Uncertain = v.Uncertain
			return d
		}
		if len(d.Rules) > 0 {
			v.Rules = append(v.Rules, d.Rules...)
			v.Action = d.Action
		}
	}
	if len(v.Uncertain) > 0 {
		v.Result = observe.Unknown
	}
	if len(v.Rules) == 0 {
		for _, dp := range dps {
			v.Rules = append(v.Rules, dp.Masquerading()...)
		}
		if len(v.Rules) == 0 {
			v.Action = "no MASQUERADE/SNAT rule in nat POSTROUTING at all"
		}
	}
	return v
}

// Forward asks every datapath whether p passes: the first that drops it
// decides, since each one's drop is final.
func Forward(dps []Datapath, p Packet) observe.Verdict {
	return filter(dps, p, Datapath.Forward)
}

// Input asks every datapath whether the node accepts p.
func Input(dps []Datapath, p Packet) observe.Verdict {
	return filter(dps, p, Datapath.Input)
}

func filter(dps []Datapath, p Packet, hook func(Datapath, Packet) observe.Verdict) observe.Verdict {
	if len(dps) == 0 {
		return observe.Verdict{Result: observe.Unknown, Action: "no iptables rules could be read"}
	}
	v := observe.Verdict{Result: observe.Yes}
	for _, dp := range dps {
		d := hook(dp, p)
		v.Uncertain = append(v.Uncertain, d.Uncertain...)
		if d.Result == observe.No {
			d.Uncertain = v.Uncertain
			return d
		}
		if v.Datapath == "" { // the first datapath's accept is the one to show
			v.Action, v.Rules, v.Datapath, v.Hook, v.Policy, v.Owner = d.Action, d.Rules, d.Datapath, d.Hook, d.Policy, d.Owner
		}
		if d.Result == observe.Unknown {
			v.Result = observe.Unknown
		}
	}
	return v
}
