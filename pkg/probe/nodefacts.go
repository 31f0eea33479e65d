package probe

import (
	"context"
	"net/netip"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

// FactTarget is an address the node's facts are read for.
type FactTarget struct {
	Key   string
	Addr  netip.Addr
	Proto string // "icmp" or "tcp"
	Port  int
}

// Raw is what the node probe printed, kept apart from its meaning so the
// assembly below is tested on captured output.
type Raw struct {
	Sysctls      string
	Links        string
	Hairpin      string // /sys/class/net/*/brport/hairpin_mode, one "path:value" per bridge port
	RouteTable   string
	Route6Table  string
	PodRouteDev  observe.Route
	RouteGet     map[string]observe.Route // key → ip route get T
	PodRouteGet  map[string]observe.Route // key → ip route get T from podIP iif dev
	Dumps        []facts.Dump
	Dumps6       []facts.Dump
	Conntrack    string
	ConntrackSrc string // "" when unreadable
	// Procs are the Service proxies seen running (hostPID); ProcsRead says the list was read.
	Procs     []string
	ProcsRead bool
	// Agents are the CNI agents seen running (flanneld, or k3s that embeds it).
	Agents     []string
	AgentsRead bool
	// VXLAN is `ip -d -o link show type vxlan`; FDB and Neigh are per device.
	VXLAN         string
	FDB, Neigh    map[string]string
	SubnetEnv     string // /run/flannel/subnet.env
	Addrs         string // ip -o addr show
	SubnetEnvRead bool
	IPVSAddrs     string // kube-ipvs0's addresses, when the link exists
	// NftRuleset is `nft -j list table` of each native table; NftRead
	// says nft could be run at all.
	NftRuleset string
	NftRead    bool
	// NftVia says whose nft read it: "host", or a container's mount namespace.
	NftVia string
	// NftLeftOut is the filter's account of kube-proxy's chains left out.
	NftLeftOut string
	Notes      []string
}

// hostArgv runs a tool of the host: enter only the mount namespace of
// PID 1; the network namespace is already the node's (hostNetwork).
func hostArgv(tool string, args ...string) []string {
	return append([]string{"nsenter", "-t", "1", "-m", "--", tool}, args...)
}

// Gatherer reads node facts through the node probe pod.
type Gatherer struct {
	Exec      podexec.Execer
	Namespace string
	Pod       string
	Container string
}

func (g Gatherer) run(ctx context.Context, argv ...string) podexec.Result {
	return g.Exec.Exec(ctx, g.Namespace, g.Pod, g.Container, argv)
}

// Conntrack reads the pod's flows after the checks ran. busybox can read
// /proc/net/nf_conntrack; kernels without it need the host's conntrack.
//
// podIPs are the pod's addresses, one per family. The kernel prints an
// IPv6 address in /proc/net/nf_conntrack in full (eight groups of four
// digits), conntrack -L in its short form.
func (g Gatherer) Conntrack(ctx context.Context, raw *Raw, podIPs ...string) {
	grep := []string{"grep", "-F"}
	var addrs []netip.Addr
	for _, ip := range podIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			addrs = append(addrs, a)
			grep = append(grep, "-e", "src="+facts.ConntrackAddr(a)+" ")
		}
	}
	if len(addrs) == 0 {
		return
	}
	r := g.run(ctx, append(grep, "/proc/net/nf_conntrack")...)
	if r.Err == nil && (r.ExitCode == 0 || r.ExitCode == 1) {
		raw.Conntrack, raw.ConntrackSrc = r.Stdout, "/proc/net/nf_conntrack"
		return
	}
	var out strings.Builder
	ok := false
	for _, a := range addrs {
		r = g.run(ctx, hostArgv("conntrack", "-L", "-f", map[bool]string{true: "ipv6", false: "ipv4"}[a.Is6()], "-s", a.String())...)
		if r.Err == nil && r.ExitCode == 0 {
			ok = true
			out.WriteString(r.Stdout)
		}
	}
	if ok {
		raw.Conntrack, raw.ConntrackSrc = out.String(), "conntrack -L (host, via nsenter)"
		return
	}
	raw.Notes = append(raw.Notes, "conntrack not readable: no /proc/net/nf_conntrack and no host conntrack tool; the flow witness is unavailable")
}

// Flows are what a node's facts are asked about.
type Flows struct {
	// PodIP and PodIP6 are the pod's addresses of each family: a flow's
	// packets leave from the one of its destination's family.
	PodIP    string
	PodIP6   string
	PodCIDRs []string
	Targets  []FactTarget
	VIPs     []facts.VIP // Service addresses, for the Service proxy's rules
	// Self and Peers are this node's address and the other nodes': their
	// overlay packets are walked through this node's input hook.
	Self  netip.Addr
	Peers []netip.Addr
	// Local are addresses on the node that its pods send to (NodeLocal
	// DNSCache's): their packets are walked through the input hook.
	Local []FactTarget
}

// Assemble turns raw output into facts for each target and, when vips
// are given, for the Service proxy.
func Assemble(raw Raw, podIP string, podCIDRs []string, targets []FactTarget, vips []facts.VIP) observe.NodeFacts {
	return AssembleFlows(raw, Flows{PodIP: podIP, PodCIDRs: podCIDRs, Targets: targets, VIPs: vips})
}

// AssembleFlows is Assemble with the overlay's peers.
func AssembleFlows(raw Raw, fl Flows) observe.NodeFacts {
	podIP, podCIDRs, targets, vips := fl.PodIP, fl.PodCIDRs, fl.Targets, fl.VIPs
	nf := observe.NodeFacts{PodCIDRs: podCIDRs, IPForward: observe.Unknown, IP6Forward: observe.Unknown, BridgeNF: observe.Unknown, PodDev: raw.PodRouteDev.Dev}
	nf.Notes = append(nf.Notes, raw.Notes...)
	sc := facts.ParseSysctls(raw.Sysctls)
	nf.IPForward, nf.IP6Forward, nf.BridgeNF, nf.SELinux = sc.IPForward, sc.IP6Forward, sc.BridgeNF, sc.SELinux
	nf.ConntrackCount, nf.ConntrackMax = sc.ConntrackCount, sc.ConntrackMax
	nf.MTUs = facts.ParseLinkMTUs(raw.Links)
	nf.Overlay = facts.DetectOverlay(nf.MTUs)
	nf.HairpinOff, nf.BridgePorts = facts.ParseHairpin(raw.Hairpin)
	sets, tools := facts.Rulesets(raw.Dumps)
	sets6, tools6 := facts.Rulesets(raw.Dumps6)
	nf.Tools = append(append(nf.Tools, tools...), tools6...)
	nf.RulesRead = len(sets) > 0
	if len(sets) > 1 {
		nf.IptablesBackends = facts.Backends(sets, tools)
	}
	for _, rs := range sets {
		if p := rs.Policy("filter", "FORWARD"); p != "" && (nf.ForwardPolicy == "" || p != "ACCEPT") {
			nf.ForwardPolicy = p
		}
	}
	if raw.ConntrackSrc != "" {
		nf.Tools = append(nf.Tools, raw.ConntrackSrc)
	}
	nf.Tools = append(nf.Tools, "busybox ip (probe)")
	dps, dps6 := facts.IptablesDatapaths(sets, tools), facts.IptablesDatapaths(sets6, tools6)
	nft, ok := readNftables(raw, &nf)
	if ok {
		dps, dps6 = append(dps, nft), append(dps6, nft)
	}
	if len(vips) > 0 {
		kp := facts.KubeProxy(facts.ProxyInput{Sets: sets, Sets6: sets6, Links: nf.MTUs, Processes: raw.Procs, ProcessesRead: raw.ProcsRead,
			IPVSAddrs: raw.IPVSAddrs, Nft: nft}, vips)
		nf.KubeProxy = &kp
	}
	table := facts.ParseRouteTable(raw.RouteTable, false)
	table6 := facts.ParseRouteTable(raw.Route6Table, true)
	overlayFacts(&nf, raw, fl, table, dps)
	for _, l := range fl.Local {
		dp, from := dps, podIP
		if l.Addr.Is6() {
			dp, from = dps6, fl.PodIP6
		}
		lf := observe.LocalFacts{Target: l.Key, Addr: l.Addr.String()}
		if src, err := netip.ParseAddr(from); err == nil && len(dp) > 0 {
			lf.Input = facts.Input(dp, facts.Packet{Src: src, Dst: l.Addr, Proto: l.Proto, DPort: l.Port, In: nf.PodDev, DstLocal: true})
		}
		nf.Local = append(nf.Local, lf)
	}
	for _, t := range targets {
		from := podIP
		if t.Addr.Is6() {
			from = fl.PodIP6
		}
		src, _ := netip.ParseAddr(from)
		tf := observe.TargetFacts{Target: t.Key, Addr: t.Addr.String(), NodeRoute: raw.RouteGet[t.Key], ConntrackRead: raw.ConntrackSrc != ""}
		tbl, dp := table, dps
		if t.Addr.Is6() {
			tbl, dp = table6, dps6
		}
		if e := facts.Lookup(tbl, t.Addr); e != nil && tf.NodeRoute.Err == "" {
			tf.NodeRoute.Default = e.Prefix.Bits() == 0
			tf.NodeRoute.Match = e.Prefix.String()
		}
		if pr, ok := raw.PodRouteGet[t.Key]; ok {
			pr := pr
			tf.PodRoute = &pr
		}
		pkt := facts.Packet{Src: src, Dst: t.Addr, Proto: t.Proto, DPort: t.Port, In: nf.PodDev, Out: tf.NodeRoute.Dev}
		if src.IsValid() {
			tf.NAT = facts.NAT(dp, pkt)
			tf.Forward = facts.Forward(dp, pkt)
		}
		tf.Conntrack = facts.ParseConntrack(raw.Conntrack, from, t.Addr.String())
		nf.Targets = append(nf.Targets, tf)
	}
	return nf
}

// readNftables reads the host's native nftables tables; iptables-nft's own
// tables are left to the iptables datapath when its dumps were read.
func readNftables(raw Raw, nf *observe.NodeFacts) (facts.Nftables, bool) {
	if !raw.NftRead {
		return facts.Nftables{}, false
	}
	iptablesNft := false
	for _, d := range append(append([]facts.Dump(nil), raw.Dumps...), raw.Dumps6...) {
		iptablesNft = iptablesNft || !strings.Contains(d.Tool, "legacy")
	}
	nft, err := facts.ParseNftJSON(raw.NftRuleset, iptablesNft)
	nft.Via, nft.LeftOut = raw.NftVia, raw.NftLeftOut
	if err != nil {
		nf.Notes = append(nf.Notes, "native nftables tables not judged: "+err.Error())
		return nft, false
	}
	nf.RulesRead = true
	nf.Tools = append(nf.Tools, nft.Tool())
	return nft, !nft.Empty()
}

// overlayFacts fills in the overlay: the VXLAN device, its FDB and
// neighbours, flannel's lease, the agents, and each peer's encapsulated
// packets at this node's input hook.
func overlayFacts(nf *observe.NodeFacts, raw Raw, fl Flows, table []facts.RouteEntry, dps []facts.Datapath) {
	o := nf.Overlay
	if o == nil {
		if !raw.SubnetEnvRead {
			return
		}
		o = &observe.Overlay{Name: "flannel VXLAN (no device)", Link: "flannel.1", CNI: observe.CNIFlannel, Encap: observe.EncapVXLAN, Port: "VXLAN UDP 8472", Overhead: 50, DstPort: 8472}
		nf.Overlay = o
	}
	o.Agents, o.AgentsRead = raw.Agents, raw.AgentsRead
	if raw.SubnetEnvRead {
		o.Lease, o.LeaseRead = facts.ParseEnvFile(raw.SubnetEnv), true
	}
	for _, d := range facts.ParseVXLAN(raw.VXLAN) {
		if d.Name != o.Link {
			continue
		}
		o.VNI, o.MAC, o.Local, o.Dev, o.MTU = d.VNI, d.MAC, d.Local, d.Dev, d.MTU
		if addrs := facts.ParseAddrs(raw.Addrs); len(addrs) > 0 && d.Local != "" {
			owned := addrs[d.Local]
			o.LocalOwned = &owned
		}
		if d.DstPort != 0 {
			o.DstPort = d.DstPort // the device's own, over the encapsulation's usual one
		}
		o.FDB, o.Neigh = facts.ParseFDB(raw.FDB[d.Name]), facts.ParseNeigh(raw.Neigh[d.Name])
	}
	port := o.DstPort // UDP encapsulations only (IP-in-IP has no port)
	if port == 0 || !fl.Self.IsValid() || len(dps) == 0 {
		return
	}
	for _, peer := range fl.Peers {
		p := facts.Packet{Src: peer, Dst: fl.Self, Proto: "udp", DPort: port}
		if e := facts.Lookup(table, peer); e != nil {
			p.In = e.Dev
		}
		o.Inbound = append(o.Inbound, observe.OverlayInbound{From: peer.String(), Verdict: facts.Input(dps, p)})
	}
}
