// Package observe holds what the probes saw, as typed values: the contract
// between the probes (which run commands and parse their output) and the
// diagnosis (which only reads these values).
package observe

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Side is the network namespace a check ran in.
type Side string

// The two sides compared on every node.
const (
	SidePod  Side = "pod"  // the pod network, like the user's workloads
	SideNode Side = "node" // the node's own namespace (hostNetwork)
)

// Outcome classifies one check.
type Outcome string

// Outcomes, from the point of view of the client.
const (
	OK          Outcome = "ok"
	Timeout     Outcome = "timeout"
	Refused     Outcome = "refused"
	Unreachable Outcome = "unreachable" // ICMP unreachable / EHOSTUNREACH / ENETUNREACH
	DNSFailure  Outcome = "dns-failure"
	HTTPError   Outcome = "http-error" // connected, the server answered with an error status
	TLSFailure  Outcome = "tls-error"  // connected, the TLS handshake failed
	NotRun      Outcome = "not-run"
	Error       Outcome = "error" // the check itself could not run (exec failed, permission)
)

// Failed reports whether the outcome says the target was not reached.
func (o Outcome) Failed() bool {
	switch o {
	case Timeout, Refused, Unreachable, DNSFailure, HTTPError, TLSFailure:
		return true
	}
	return false
}

// CheckKind is the kind of test.
type CheckKind string

// The tests run from both sides.
const (
	Ping CheckKind = "ping"
	TCP  CheckKind = "tcp"
	HTTP CheckKind = "http"
	DNS  CheckKind = "dns"
	// ResolvConf is the side's /etc/resolv.conf (Resolved = its nameservers).
	ResolvConf CheckKind = "resolv.conf"
	// MTUProbe is the largest packet that passes with DF set (Check.PathMTU).
	MTUProbe CheckKind = "path-mtu"
	// Lookup is a name looked up as applications do, through the side's
	// search list, and with a trailing dot (Check.Lookup).
	Lookup CheckKind = "lookup"
)

// Check is one test from one side.
type Check struct {
	Kind CheckKind `json:"kind"`
	// ID identifies the check; Target is its display name (ID.String()).
	ID      CheckID `json:"id"`
	Target  string  `json:"target"`
	Outcome Outcome `json:"outcome"`
	// Latency is written as latencyMillis (MarshalJSON): every duration in
	// the output is a number of milliseconds.
	Latency time.Duration `json:"-"`
	// Detail is the short human reason: "HTTP 200", "3/3 replies", the error line.
	Detail string `json:"detail,omitempty"`
	// HTTPStatus is the status code an HTTP server answered with (0: none).
	HTTPStatus int `json:"httpStatus,omitempty"`
	// Resolved lists addresses when Kind is DNS.
	Resolved []string `json:"resolved,omitempty"`
	// PathMTU is the measurement when Kind is PathMTU.
	PathMTU *PathMTU `json:"pathMTU,omitempty"`
	// Resolver is the search path and ndots when Kind is ResolvConf.
	Resolver *Resolver `json:"resolver,omitempty"`
	// Lookup is what the name cost when Kind is Lookup.
	Lookup *LookupCost `json:"lookup,omitempty"`
}

// LookupCost is one name looked up as the C resolvers do it for an
// application, both ways of writing it (median of the probe's rounds).
type LookupCost struct {
	Search LookupWay `json:"search"` // as written: the search list and ndots apply
	Dotted LookupWay `json:"dotted"` // with a trailing dot: one candidate
}

// LookupWay is one way of writing the name: the queries it took (A and
// AAAA per candidate, retries included), how it ended, and its time.
type LookupWay struct {
	Queries int      `json:"queries"`
	Rcode   string   `json:"rcode"`
	Answer  string   `json:"answer,omitempty"` // the candidate that answered with an address
	Millis  float64  `json:"millis"`
	Tried   []string `json:"tried,omitempty"`
}

// Resolver is how a side's resolv.conf expands a name: the search domains
// tried first for a name with fewer than Ndots dots.
type Resolver struct {
	Search []string `json:"search,omitempty"`
	Ndots  int      `json:"ndots"` // 1 when resolv.conf does not say (the resolvers' default)
}

// PathMTU is what probing with the don't-fragment bit found (sizes are whole
// IP packets, headers included).
type PathMTU struct {
	Dev   string `json:"dev,omitempty"` // the interface the side sent on
	Local int    `json:"local"`         // its MTU
	// Largest is the largest size the host answered; Failed the smallest it did not.
	Largest int `json:"largest"`
	Failed  int `json:"failed,omitempty"`
	// Told is the MTU a router named in "fragmentation needed" (ToldBy), 0 if none did.
	Told   int    `json:"told,omitempty"`
	ToldBy string `json:"toldBy,omitempty"`
	// NoDF is "ok" or "lost" for one packet 1 byte over Local, fragmented
	// by the sender (no DF), sent when a full-size DF packet was lost.
	NoDF   string `json:"noDF,omitempty"`
	Probes int    `json:"probes"`
	Tool   string `json:"tool"`
}

// Route is a forwarding decision as `ip route get` printed it.
type Route struct {
	Query string `json:"query"`          // the argv that asked, for evidence
	Line  string `json:"line,omitempty"` // first line of the answer
	Dev   string `json:"dev,omitempty"`
	Via   string `json:"via,omitempty"`
	Src   string `json:"src,omitempty"`
	// Err is set when the kernel refused (e.g. "Network is unreachable").
	Err string `json:"err,omitempty"`
	// Default is true when the decision used the default route.
	Default bool `json:"default,omitempty"`
	// Match is the routing-table entry that covers the target ("198.19.0.0/24"), when known.
	Match string `json:"match,omitempty"`
}

// Tri is a three-valued answer for facts that may be unreadable.
type Tri string

// Tri values.
const (
	Yes     Tri = "yes"
	No      Tri = "no"
	Unknown Tri = "unknown"
)

// Verdict of walking a netfilter chain with one packet.
type Verdict struct {
	Result Tri `json:"result"` // for NAT: masqueraded?  for FORWARD: accepted?
	// Action is what decided: "MASQUERADE", "SNAT", "ACCEPT", "DROP", "REJECT", "policy DROP", "no rule".
	Action string `json:"action,omitempty"`
	// Policy: no rule decided; the chain's policy did (a fix then inserts
	// a rule rather than deleting one).
	Policy bool `json:"policy,omitempty"`
	// Owner is the firewall front-end that writes the deciding chain
	// ("ufw"), when one does: its own command is the lasting fix.
	Owner string `json:"owner,omitempty"`
	// Rules are the rule lines that decided or were uncertain, quoted as evidence.
	Rules []string `json:"rules,omitempty"`
	// Uncertain lists matches the evaluator could not judge (ipsets, marks of other flows...).
	Uncertain []string `json:"uncertain,omitempty"`
	// Datapath names what judged the packet ("iptables"): its fixes are
	// written in that datapath's tool.
	Datapath string `json:"datapath,omitempty"`
	// Hook names where the datapath judged it, when not iptables' chain
	// ("nftables forward hook").
	Hook string `json:"hook,omitempty"`
	// Rule locates the deciding nftables rule or chain, for a fix that
	// names it (a handle of 0: the chain's policy).
	Rule *RuleRef `json:"ruleRef,omitempty"`
}

// RuleRef is where an nftables rule lives.
type RuleRef struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	Chain  string `json:"chain"`
	Handle int    `json:"handle,omitempty"`
}

// TargetFacts are the node's facts about one target address.
type TargetFacts struct {
	Target string `json:"target"`
	// Addr is the address the facts were read for: the target's, or its
	// name's as resolved.
	Addr string `json:"addr,omitempty"`
	// NodeRoute is `ip route get T` in the node namespace.
	NodeRoute Route `json:"nodeRoute"`
	// PodRoute is `ip route get T from podIP iif <pod-side dev>`: the decision for pod traffic.
	PodRoute *Route `json:"podRoute,omitempty"`
	// NAT: would a packet podIP→T be masqueraded in POSTROUTING?
	NAT Verdict `json:"nat"`
	// Forward: would it pass the filter FORWARD chain?
	Forward Verdict `json:"forward"`
	// Conntrack holds the entries of the pod's flow to T after the checks ran.
	Conntrack []ConntrackEntry `json:"conntrack,omitempty"`
	// ConntrackRead tells whether the table could be read at all.
	ConntrackRead bool `json:"conntrackRead"`
}

// LocalFacts is one pod flow to an address the node owns.
type LocalFacts struct {
	Target string  `json:"target"`
	Addr   string  `json:"addr"`
	Input  Verdict `json:"input"` // would it pass the node's input hook?
}

// ConntrackEntry is one parsed conntrack line.
type ConntrackEntry struct {
	Raw       string `json:"raw"`
	Proto     string `json:"proto"`
	OrigSrc   string `json:"origSrc"`
	OrigDst   string `json:"origDst"`
	ReplySrc  string `json:"replySrc"`
	ReplyDst  string `json:"replyDst"`
	Unreplied bool   `json:"unreplied"`
}

// Natted reports whether the reply goes to another address than the
// original source: the source was rewritten (SNAT/MASQUERADE).
func (c ConntrackEntry) Natted() bool { return c.ReplyDst != "" && c.ReplyDst != c.OrigSrc }

// NodeFacts are what the node probe read about its node.
type NodeFacts struct {
	// Tools says what the facts were read with, e.g. "iptables-nft-save (host, via nsenter)".
	Tools     []string `json:"tools,omitempty"`
	PodCIDRs  []string `json:"podCIDRs,omitempty"`
	IPForward Tri      `json:"ipForward"`
	// IP6Forward is net.ipv6.conf.all.forwarding.
	IP6Forward Tri `json:"ip6Forward,omitempty"`
	BridgeNF   Tri `json:"bridgeNfCallIptables"`
	// ForwardPolicy is the filter FORWARD chain's policy, "" if unread.
	ForwardPolicy string `json:"forwardPolicy,omitempty"`
	// IptablesBackends lists, when rules live in more than one iptables
	// backend (iptables-nft and iptables-legacy), each backend with the
	// chains that hold its rules.
	IptablesBackends []IptablesBackend `json:"iptablesBackends,omitempty"`
	// RulesRead tells whether iptables rules could be read.
	RulesRead bool `json:"rulesRead"`
	// ConntrackCount and ConntrackMax are the table's fill (0 when unread).
	ConntrackCount int `json:"conntrackCount,omitempty"`
	ConntrackMax   int `json:"conntrackMax,omitempty"`
	// SELinux is "enforcing", "permissive" or "" (absent).
	SELinux string `json:"selinux,omitempty"`
	// MTUs maps interface names to their MTU.
	MTUs map[string]int `json:"mtus,omitempty"`
	// BridgePorts counts the node's bridge ports; HairpinOff names those
	// with hairpin mode off (a pod there cannot reach itself via a Service).
	BridgePorts int      `json:"bridgePorts,omitempty"`
	HairpinOff  []string `json:"hairpinOff,omitempty"`
	// Overlay is the pod network's encapsulation on this node; nil when
	// the node has no overlay device (a routed pod network) or its links were not read.
	Overlay *Overlay `json:"overlay,omitempty"`
	// PodDev is the node-side interface towards the probe pod (cni0, cali…, lxc…).
	PodDev  string        `json:"podDev,omitempty"`
	Targets []TargetFacts `json:"targets,omitempty"`
	// Local are the pods' flows to addresses on the node itself, as its
	// input hook judges them (NodeLocal DNSCache's).
	Local []LocalFacts `json:"local,omitempty"`
	// KubeProxy is the Service proxy as the node shows it (only when a
	// command asked about Services).
	KubeProxy *KubeProxy `json:"kubeProxy,omitempty"`
	// Notes are things the reader wants the user to know (a tool missing, a fallback used).
	Notes []string `json:"notes,omitempty"`
}

// IptablesBackend is one iptables backend in use on a node.
type IptablesBackend struct {
	Tool string `json:"tool"` // "iptables-legacy-save (host, via nsenter)"
	// Chains are "table/chain" holding rules, e.g. "nat/KUBE-SERVICES".
	Chains []string `json:"chains"`
	// KubeProxy is set when kube-proxy's chains are among them.
	KubeProxy bool `json:"kubeProxy,omitempty"`
}

// CNI names the agent that programs an overlay.
type CNI string

// The agents whose overlay devices are known.
const (
	CNIFlannel CNI = "flannel"
	CNICalico  CNI = "calico"
	CNICilium  CNI = "cilium"
	CNIWeave   CNI = "weave"
)

// Encap is how an overlay carries pod packets between nodes.
type Encap string

// The encapsulations known.
const (
	EncapVXLAN     Encap = "vxlan"
	EncapWireGuard Encap = "wireguard"
	EncapIPIP      Encap = "ipip"
	EncapGeneve    Encap = "geneve"
	EncapWeave     Encap = "weave"
)

// Overlay is a pod-network encapsulation between nodes.
type Overlay struct {
	Name string `json:"name"` // "flannel VXLAN"
	Link string `json:"link"` // its device, "flannel.1"
	// CNI is the agent that owns the device and Encap its encapsulation:
	// the verdicts branch on these, never on Name.
	CNI   CNI   `json:"cni,omitempty"`
	Encap Encap `json:"encap,omitempty"`
	// Port is how it travels between nodes: "VXLAN UDP 8472".
	Port string `json:"port"`
	// Overhead is the bytes its headers add to each packet.
	Overhead int `json:"overhead"`
	// The VXLAN device as the kernel has it (ip -d link): its VNI, the
	// local address and device it sends from, its UDP port and MTU.
	VNI   int    `json:"vni,omitempty"`
	MAC   string `json:"mac,omitempty"` // the device's own: the VTEP MAC the other nodes' FDBs map to this node
	Local string `json:"local,omitempty"`
	// LocalOwned says whether Local is an address of this node (nil: not read).
	LocalOwned *bool  `json:"localOwned,omitempty"`
	Dev        string `json:"dev,omitempty"`
	DstPort    int    `json:"dstPort,omitempty"` // its UDP port: the device's, else the encapsulation's usual one
	MTU        int    `json:"mtu,omitempty"`
	// FDB maps each remote VTEP's MAC to the node address its frames go
	// to; Neigh each remote subnet's gateway address to its VTEP MAC.
	FDB   map[string]string `json:"fdb,omitempty"`
	Neigh map[string]string `json:"neigh,omitempty"`
	// Lease is flannel's /run/flannel/subnet.env (FLANNEL_SUBNET, …);
	// LeaseRead says whether it was there.
	Lease     map[string]string `json:"lease,omitempty"`
	LeaseRead bool              `json:"leaseRead,omitempty"`
	// Agents are the CNI agents seen running (flanneld, k3s which embeds
	// it); AgentsRead says whether the list was read.
	Agents     []string `json:"agents,omitempty"`
	AgentsRead bool     `json:"agentsRead,omitempty"`
	// Inbound is each other node's encapsulated packet walked through
	// this node's input hook: does the node accept the overlay's traffic?
	Inbound []OverlayInbound `json:"inbound,omitempty"`
}

// OverlayInbound is one peer's encapsulated traffic at this node's input.
type OverlayInbound struct {
	From    string  `json:"from"` // the peer node's address
	Verdict Verdict `json:"verdict"`
}

// SideResult is everything one side ran.
type SideResult struct {
	Pod string `json:"pod,omitempty"`
	// As is set when the pod side ran as a workload's pod (--from): its
	// checks ran in that pod's network namespace, entered from the node probe.
	As string `json:"as,omitempty"`
	IP string `json:"ip,omitempty"`
	// IPs are all of the pod's addresses (status.podIPs), IP first: a
	// dual-stack pod has one per family.
	IPs    []string `json:"ips,omitempty"`
	Checks []Check  `json:"checks,omitempty"`
	// Err is set when the side could not run at all (pod failed to start...).
	Err string `json:"error,omitempty"`
}

// IPFor is the side's address of dst's family: a flow to an IPv6
// address leaves a dual-stack pod from its IPv6 address. "" when the side
// has none of that family.
func (s SideResult) IPFor(dst netip.Addr) string {
	if !dst.IsValid() {
		return s.IP
	}
	for _, ip := range append([]string{s.IP}, s.IPs...) {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is4() == dst.Unmap().Is4() {
			return a.String()
		}
	}
	return ""
}

// Node is the observation of one node.
type Node struct {
	Name  string     `json:"name"`
	IP    string     `json:"ip,omitempty"`
	Pod   SideResult `json:"podSide"`
	Host  SideResult `json:"nodeSide"`
	Facts NodeFacts  `json:"facts"`
	// Err is set when this node could not be probed at all.
	Err string `json:"error,omitempty"`
	// Timeline is the node's way through the run, from the run's start.
	Timeline []Event `json:"timeline,omitempty"`
}

// Event is one step of a node's run: a pod created or Ready, an exec
// (with its duration and output size), the facts assembled.
type Event struct {
	What       string `json:"what"`
	AtMillis   int64  `json:"atMillis"`
	TookMillis int64  `json:"tookMillis,omitempty"`
	Bytes      int    `json:"bytes,omitempty"`
}

// Cluster holds cluster-wide facts the diagnosis compares targets with.
type Cluster struct {
	PodCIDRs     []string `json:"podCIDRs,omitempty"`
	ServiceCIDRs []string `json:"serviceCIDRs,omitempty"`
}

// KubeProxy is what a node shows of the Service proxy: which datapath
// programs Services, and whether it programmed the ones asked about.
type KubeProxy struct {
	// Mode is "iptables", "ipvs", "nftables", or "none" when no kube-proxy
	// rules exist at all.
	Mode string `json:"mode"`
	// Processes are the Service proxies running on the node (kube-proxy,
	// cilium-agent, …); nil when the process list could not be read.
	Processes []string `json:"processes"`
	// ProcessesRead tells whether the process list was read.
	ProcessesRead bool           `json:"processesRead"`
	Services      []ServiceRules `json:"services,omitempty"`
}

// ServiceRules says whether one Service address is programmed on the node.
type ServiceRules struct {
	// VIP is the key: "10.96.0.10:53/udp" or "nodeport 30080/tcp".
	VIP        string `json:"vip"`
	Programmed Tri    `json:"programmed"`
	// Endpoints counts the backends in the rules, -1 when unknown.
	Endpoints int `json:"endpoints"`
	// Rejects is set when the rules reject the address ("has no endpoints").
	Rejects bool `json:"rejects,omitempty"`
	// Rules quotes the rules found, as evidence.
	Rules []string `json:"rules,omitempty"`
}

// checkJSON is Check as written: its latency in (fractional) milliseconds,
// as every duration in the output is.
type checkJSON struct {
	plainCheck
	LatencyMillis float64 `json:"latencyMillis,omitempty"`
}

type plainCheck Check

// MarshalJSON writes Latency as latencyMillis.
func (c Check) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkJSON{plainCheck: plainCheck(c), LatencyMillis: Millis(c.Latency)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (c *Check) UnmarshalJSON(b []byte) error {
	var j checkJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = Check(j.plainCheck)
	c.Latency = time.Duration(j.LatencyMillis * float64(time.Millisecond))
	return nil
}

// Millis is d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
