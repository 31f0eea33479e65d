package facts

import (
	"net/netip"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// An IPv6 ClusterIP's rules live in ip6tables. Captured on nc-node1 of the
// dual-stack lab (e2e/cluster/exec-node.sh nc-node1 ip6tables-save -t nat,
// then -t filter): nc-dual/web6's IPv6 ClusterIP with three endpoints,
// nc-dual/half's with none (kube-proxy's REJECT in filter).
func TestKubeProxyRulesIPv6(t *testing.T) {
	v6 := []Ruleset{ParseIptablesSave(read(t, "kubeproxy-dual.ip6tables.txt"))}
	v4 := []Ruleset{ParseIptablesSave(read(t, "kubeproxy-service.txt"))}
	web6 := VIP{Addr: netip.MustParseAddr("fd00:10:96::a88f"), Proto: "tcp", Port: 80}
	half6 := VIP{Addr: netip.MustParseAddr("fd00:10:96::a703"), Proto: "tcp", Port: 80}
	web4 := VIP{Addr: netip.MustParseAddr("10.98.230.191"), Proto: "tcp", Port: 80}
	tests := []struct {
		name       string
		in         ProxyInput
		vip        VIP
		programmed observe.Tri
		endpoints  int
		rejects    bool
	}{
		{"IPv6 ClusterIP, three endpoints, in ip6tables", ProxyInput{Sets: v4, Sets6: v6}, web6, observe.Yes, 3, false},
		{"IPv6 ClusterIP without endpoints: ip6tables' REJECT", ProxyInput{Sets: v4, Sets6: v6}, half6, observe.Yes, 0, true},
		{"an IPv4 ClusterIP still in iptables", ProxyInput{Sets: v4, Sets6: v6}, web4, observe.Yes, 3, false},
		{"ip6tables unread: the IPv6 ClusterIP is not found in the IPv4 rules", ProxyInput{Sets: v4}, web6, observe.No, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp := KubeProxy(tt.in, []VIP{tt.vip})
			sr := kp.Services[0]
			if kp.Mode != "iptables" || sr.Programmed != tt.programmed || sr.Endpoints != tt.endpoints || sr.Rejects != tt.rejects {
				t.Errorf("mode %s, %+v; want programmed %s, %d endpoints, rejects %t", kp.Mode, sr, tt.programmed, tt.endpoints, tt.rejects)
			}
			if sr.VIP != tt.vip.Key() {
				t.Errorf("VIP %q, want %q", sr.VIP, tt.vip.Key())
			}
		})
	}
}
