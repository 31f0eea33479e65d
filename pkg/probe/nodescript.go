package probe

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/facts"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

// factsScript reads every static fact of a node in one exec, instead of a
// dozen: each exec is an API round trip, and a cluster of a thousand nodes
// pays them all. The script is a constant; the pod IP and the target
// addresses arrive as positional parameters ("$@"), never as script text,
// and were parsed as IP addresses before they got here.
const factsScript = `ruleFilter='` + ruleFilter + `'
nftFilter='` + nftFilter + `'
mode=$1 pod=$2 pod6=$3; shift 3
sec() { echo "@@$1"; }
end() { echo "@@rc $1"; }
# Mode "routes" reads only the routes below (for the pod's address and
# the names the checks resolved); "all" reads everything.
if [ "$mode" = all ]; then
sec sysctl; grep -H . /proc/sys/net/ipv4/ip_forward /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/ipv6/conf/all/forwarding /proc/sys/net/netfilter/nf_conntrack_count /proc/sys/net/netfilter/nf_conntrack_max /sys/fs/selinux/enforce 2>/dev/null; end 0
sec links; ip -o link show 2>&1; end $?
sec addrs; ip -o addr show 2>&1; end $?
sec hairpin; grep -H . /sys/class/net/*/brport/hairpin_mode 2>/dev/null; end 0
sec route4; ip route show 2>&1; end $?
sec route6; ip -6 route show 2>&1; end $?
fi
# The pod's addresses, one per family (a dual-stack pod has both): its
# device towards the node, from either.
dev= p=${pod:-$pod6}
if [ -n "$p" ]; then
  sec poddev; out=$(ip route get "$p" 2>&1); rc=$?; echo "$out"; end $rc
  dev=$(echo "$out" | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
fi
# The targets, up to "--"; what follows are the rule filter's words. A
# target's pod route is asked from the pod's address of its family.
while [ $# -gt 0 ]; do
  t=$1; shift; [ "$t" = -- ] && break
  sec "get $t"; ip route get "$t" 2>&1; end $?
  case $t in *:*) src=$pod6 ;; *) src=$pod ;; esac
  if [ -n "$dev" ] && [ -n "$src" ]; then sec "podget $t"; ip route get "$t" from "$src" iif "$dev" 2>&1; end $?; fi
done
[ "$mode" = routes ] && exit 0
# Whose tools read the rules: the host's (pid 1's mount namespace), else
# those of a proxy's or CNI agent's container that ships them (Talos and
# Bottlerocket hosts have neither iptables nor nft). Process names are
# constants; a pid comes from pidof.
mntfor() {
  nsenter -t 1 -m -- "$1" --version >/dev/null 2>&1 && { echo 1 host; return; }
  for p in kube-proxy cilium-agent calico-node kube-router antrea-agent flanneld; do
    for pid in $(pidof "$p" 2>/dev/null); do
      nsenter -t "$pid" -m -- "$1" --version >/dev/null 2>&1 && { echo "$pid $p"; return; }
    done
  done
  echo 1 none
}
x=$(mntfor iptables-save) n=$(mntfor nft)
xm=${x%% *} xvia=${x#* } nm=${n%% *} nvia=${n#* }
sec "via xtables $xm"; echo "$xvia"; end 0
sec "via nft $nm"; echo "$nvia"; end 0
# rules prints a dump; a readable one through the filter below, which
# leaves out the per-Service chains of Services not asked about (a large
# cluster's nat table is megabytes of them).
rules() {
  o=$1 r=$2; shift 2
  if [ "$r" = 0 ]; then printf '%s\n' "$o" | awk "$ruleFilter" "$@"; else printf '%s\n' "$o"; fi
}
# legacy says whether the legacy backend holds any table: the kernel lists
# them in /proc/net/ip{,6}_tables_names (present only with the ip_tables
# module, per network namespace), so an unused backend costs no dump.
legacy() {
  t=
  case $1 in ip6*) f=/proc/net/ip6_tables_names ;; *) f=/proc/net/ip_tables_names ;; esac
  { read -r t <"$f"; } 2>/dev/null
  [ -n "$t" ]
}
found=
for tool in iptables-nft-save iptables-legacy-save ip6tables-nft-save ip6tables-legacy-save; do
  case $tool in *legacy*) legacy "$tool" || continue ;; esac
  sec "dump $tool"; out=$(nsenter -t "$xm" -m -- "$tool" 2>&1); rc=$?; rules "$out" "$rc" "$@"; end $rc
  [ $rc = 0 ] && found=1
  case "$rc:$tool" in 0:ip*-nft-save) xtnft=1 ;; esac
done
if [ -z "$found" ]; then
  for tool in iptables-save ip6tables-save; do
    sec "dump $tool"; out=$(nsenter -t "$xm" -m -- "$tool" 2>&1); rc=$?; rules "$out" "$rc" "$@"; end $rc
  done
fi
# The processes, listed once (busybox ps: pid and name).
running=$(ps -o pid,comm 2>/dev/null)
sec procs
for p in kube-proxy cilium-agent kube-router antrea-agent; do
  for pid in $(echo "$running" | while read -r i c; do [ "$c" = "$p" ] && echo "$i"; done); do
    # kube-router as a NetworkPolicy firewall only is no Service proxy.
    case "$p $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" in "kube-router "*--run-service-proxy=false*) continue;; esac
    echo "$p"; break
  done
done; end 0
sec agents; echo "$running" | while read -r i c; do case $c in flanneld|k3s-server|k3s-agent|k3s) echo "$c" ;; esac; done | sort -u; end 0
# The overlay as the kernel has it (the host's ip: busybox has no -d), its
# forwarding database and neighbours; flannel's lease of this node.
if vx=$(nsenter -t 1 -m -- ip -d -o link show type vxlan 2>/dev/null) && [ -n "$vx" ]; then
  sec vxlan; echo "$vx"; end 0
  for d in $(echo "$vx" | sed -n 's/^[0-9]*: \([^:@]*\).*/\1/p'); do
    sec "fdb $d"; nsenter -t 1 -m -- bridge fdb show dev "$d" 2>&1; end $?
    sec "neigh $d"; ip neigh show dev "$d" 2>&1; end $?
  done
fi
sec subnetenv; nsenter -t 1 -m -- cat /run/flannel/subnet.env 2>&1; end $?
if ip link show kube-ipvs0 >/dev/null 2>&1; then sec ipvs; ip -o addr show dev kube-ipvs0 2>&1; end $?; fi
# The native tables only: iptables-nft's own (already dumped above) can be
# megabytes on a large cluster. Table names are passed as arguments.
sec ruleset
if tables=$(nsenter -t "$nm" -m -- nft list tables 2>&1); then
  echo "$tables" | while read -r kw fam name; do
    [ "$kw" = table ] || continue
    case "$xtnft:$fam:$name" in 1:ip:filter|1:ip:nat|1:ip:mangle|1:ip:raw|1:ip:security|1:ip6:filter|1:ip6:nat|1:ip6:mangle|1:ip6:raw|1:ip6:security) continue ;; esac
    case "$name" in
    kube-proxy) nsenter -t "$nm" -m -- nft -j list table "$fam" "$name" | awk "$nftFilter" "$@" ;;
    *) nsenter -t "$nm" -m -- nft -j list table "$fam" "$name" ;;
    esac
  done
  end 0
else
  echo "$tables"; end 127
fi
`

// FactsQuery is what one run of the fact script reads.
type FactsQuery struct {
	// PodIP and PodIP6 are the pod's addresses of each family ("" when it
	// has none).
	PodIP, PodIP6 string
	Targets       []FactTarget
	// VIPs are the Services whose proxy rules are kept; the rest of the
	// per-Service chains are left out on the node.
	VIPs []facts.VIP
	// RoutesOnly reads the targets' routes and nothing else: for names
	// resolved after the first read.
	RoutesOnly bool
}

// FactsArgv is the argv of the one-exec fact reader: the mode, the pod
// IP, the targets, "--", then the rule filter's words.
func FactsArgv(q FactsQuery) []string {
	mode := "all"
	if q.RoutesOnly {
		mode = "routes"
	}
	argv := []string{"sh", "-c", factsScript, "netcheck-facts", mode, q.PodIP, q.PodIP6}
	for _, t := range q.Targets {
		argv = append(argv, t.Addr.String())
	}
	argv = append(argv, "--")
	return append(argv, filterWords(q)...)
}

// filterWords tells the rule filter what to keep: each address asked
// about (targets and Service addresses) and each node port.
func filterWords(q FactsQuery) []string {
	var words []string
	seen := map[string]bool{}
	add := func(w string) {
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	for _, t := range q.Targets {
		add("+a" + t.Addr.String())
	}
	for _, v := range q.VIPs {
		if v.Addr.IsValid() {
			add("+a" + v.Addr.String())
		} else if v.Port > 0 {
			add("+p" + strconv.Itoa(v.Port))
		}
	}
	return words
}

type section struct {
	name string
	body string
	rc   int
}

// splitSections cuts the script's output into its sections. Bodies are
// slices of out, not copies: at 5,000 nodes re-joined lines were a third of
// the live heap (docs/performance.md).
func splitSections(out string) []section {
	var secs []section
	var cur *section
	start := 0 // where the open section's body begins in out
	for off := 0; off <= len(out); {
		end, next := len(out), len(out)+1
		if i := strings.IndexByte(out[off:], '\n'); i >= 0 {
			end, next = off+i, off+i+1
		}
		line := out[off:end]
		switch {
		case strings.HasPrefix(line, "@@rc "):
			if cur != nil {
				cur.rc, _ = strconv.Atoi(strings.TrimPrefix(line, "@@rc "))
				if off > start {
					cur.body = out[start : off-1] // without the newline before "@@rc"
				}
				secs = append(secs, *cur)
				cur = nil
			}
		case strings.HasPrefix(line, "@@"):
			cur, start = &section{name: strings.TrimPrefix(line, "@@")}, next
		}
		off = next
	}
	return secs
}

// ParseFacts turns the script's output into Raw. Targets are matched back
// by address.
func ParseFacts(out string, q FactsQuery) Raw {
	targets := q.Targets
	raw := Raw{RouteGet: map[string]observe.Route{}, PodRouteGet: map[string]observe.Route{}, FDB: map[string]string{}, Neigh: map[string]string{}}
	keys := map[string][]string{}
	for _, t := range targets {
		keys[t.Addr.String()] = append(keys[t.Addr.String()], t.Key)
	}
	route := func(query string, s section) observe.Route {
		if s.rc != 0 {
			return facts.ParseRouteGet(query, "", s.body)
		}
		return facts.ParseRouteGet(query, s.body, "")
	}
	var missing []string
	xvia := "host"
	for _, s := range splitSections(out) {
		name, arg, _ := strings.Cut(s.name, " ")
		switch name {
		case "sysctl":
			raw.Sysctls = s.body
		case "links":
			raw.Links = s.body
		case "hairpin":
			raw.Hairpin = s.body
		case "route4":
			raw.RouteTable = s.body
		case "route6":
			raw.Route6Table = s.body
		case "poddev":
			raw.PodRouteDev = route("ip route get "+arg, s)
		case "get":
			for _, k := range keys[arg] {
				raw.RouteGet[k] = route("ip route get "+arg, s)
			}
		case "podget":
			for _, k := range keys[arg] {
				src := q.PodIP
				if strings.Contains(arg, ":") {
					src = q.PodIP6
				}
				raw.PodRouteGet[k] = route(fmt.Sprintf("ip route get %s from %s iif %s", arg, src, raw.PodRouteDev.Dev), s)
			}
		case "procs":
			raw.ProcsRead = true
			raw.Procs = strings.Fields(s.body)
		case "ipvs":
			raw.IPVSAddrs = s.body
		case "addrs":
			raw.Addrs = s.body
		case "agents":
			raw.AgentsRead, raw.Agents = true, strings.Fields(s.body)
		case "vxlan":
			raw.VXLAN = s.body
		case "fdb":
			raw.FDB[arg] = s.body
		case "neigh":
			raw.Neigh[arg] = s.body
		case "subnetenv":
			raw.SubnetEnv, raw.SubnetEnvRead = s.body, s.rc == 0
		case "via":
			kind, _, _ := strings.Cut(arg, " ")
			if kind == "nft" {
				raw.NftVia = toolsVia(arg, s.body)
			} else {
				xvia = toolsVia(arg, s.body)
			}
		case "ruleset":
			if s.rc == 0 {
				raw.NftRuleset, raw.NftRead = withoutAccounts(s.body), true
				if a := leftOut(s.body); a != "" {
					raw.NftLeftOut = strings.TrimPrefix(a, "; ")
				}
			} else {
				raw.Notes = append(raw.Notes, "native nftables tables not read: no nft on the host nor in a kube-proxy or CNI agent container (entered with nsenter -m); a firewall written in nftables (firewalld, a CNI's table) is not judged")
			}
		case "dump":
			d := facts.Dump{Tool: arg + " (" + xvia + ", via nsenter" + leftOut(s.body) + ")", Text: s.body}
			if s.rc != 0 {
				missing = append(missing, arg)
				continue
			}
			if strings.HasPrefix(arg, "ip6") {
				raw.Dumps6 = append(raw.Dumps6, d)
			} else {
				raw.Dumps = append(raw.Dumps, d)
			}
		}
	}
	if len(raw.Dumps) == 0 {
		raw.Notes = append(raw.Notes, "iptables rules not read: neither the host nor a kube-proxy or CNI agent container has "+strings.Join(missing, ", ")+
			" reachable with nsenter -m (no hostPID, or a host without iptables); NAT and FORWARD verdicts are unknown")
	}
	return raw
}

// leftOutRe is the filters' account line (ruleFilter, nftFilter).
var leftOutRe = regexp.MustCompile(`# netcheck: left out (\d+) rules? and (\d+) chains?`)

// leftOut reads back the rule filters' accounts of what they left out,
// added up: one dump may hold several filtered tables (kube-proxy's ip
// and ip6 tables in nftables mode), each with its own account.
func leftOut(dump string) string {
	ms := leftOutRe.FindAllStringSubmatch(dump, -1)
	if ms == nil {
		return ""
	}
	rules, chains := 0, 0
	for _, m := range ms {
		r, _ := strconv.Atoi(m[1])
		c, _ := strconv.Atoi(m[2])
		rules, chains = rules+r, chains+c
	}
	return fmt.Sprintf("; left out %d %s and %d %s of Services not asked about", rules, plural(rules, "rule"), chains, plural(chains, "chain"))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// withoutAccounts drops the filters' comment lines from a JSON ruleset.
func withoutAccounts(text string) string {
	if !strings.Contains(text, "# netcheck: ") {
		return text
	}
	var keep []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "# netcheck: ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// toolsVia names whose tools read the rules, from the script's "via KIND
// PID" section: "host", or a container's mount namespace.
func toolsVia(arg, body string) string {
	_, pid, _ := strings.Cut(arg, " ")
	switch who := strings.TrimSpace(body); who {
	case "host", "none", "":
		return "host"
	default:
		if _, err := strconv.Atoi(pid); err != nil {
			return "host"
		}
		return who + "'s mount namespace, pid " + pid
	}
}

// ReadFacts runs the fact script once.
func (g Gatherer) ReadFacts(ctx context.Context, q FactsQuery) Raw {
	r := g.run(ctx, FactsArgv(q)...)
	if r.Err == nil && r.Truncated {
		r.Err = fmt.Errorf("the output passed %d MiB and was cut: nothing of it is judged", podexec.MaxOutput>>20)
	}
	if r.Err != nil {
		raw := Raw{RouteGet: map[string]observe.Route{}, PodRouteGet: map[string]observe.Route{}}
		raw.Notes = append(raw.Notes, "node facts not read: "+r.Err.Error())
		return raw
	}
	return ParseFacts(r.Stdout, q)
}
