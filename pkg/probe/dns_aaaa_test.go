package probe

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func TestDNSTypeArgv(t *testing.T) {
	if d := cmp.Diff([]string{"nslookup", "-type=AAAA", "kube-dns.kube-system.svc.cluster.local.", "10.96.0.10"},
		DNSTypeArgv("AAAA", "kube-dns.kube-system.svc.cluster.local", "10.96.0.10")); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// What busybox nslookup printed on a dual-stack cluster (capture-dns-aaaa.sh):
// an AAAA lookup answered, answered empty (no AAAA record, or a Corefile
// filtering AAAA), NXDOMAIN; a lookup sent to the server's IPv6 address.
func TestClassifyDNSCapturedAAAA(t *testing.T) {
	tests := []struct {
		file     string
		want     observe.Outcome
		detail   string
		resolved []string
	}{
		{"dns-aaaa-ok", observe.OK, "fd00:10:244:3::5", []string{"fd00:10:244:3::5"}},
		{"dns-aaaa-nodata", observe.DNSFailure, "no address in the answer", nil},
		{"dns-aaaa-nxdomain", observe.DNSFailure, "NXDOMAIN", nil},
		// the server's own address (Server:/Address: lines) is not an answer
		{"dns-v6server-ok", observe.OK, "10.96.0.1", []string{"10.96.0.1"}},
		{"dns-v6server-noanswer", observe.DNSFailure, "no DNS server answered", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := ClassifyDNS(captured(t, tt.file))
			if c.Outcome != tt.want || !strings.Contains(c.Detail, tt.detail) {
				t.Fatalf("outcome %s (%s), want %s (%s)", c.Outcome, c.Detail, tt.want, tt.detail)
			}
			if d := cmp.Diff(tt.resolved, c.Resolved); d != "" {
				t.Errorf("resolved (-want +got):\n%s", d)
			}
		})
	}
}
