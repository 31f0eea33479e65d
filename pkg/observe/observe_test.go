package observe

import (
	"net/netip"
	"testing"
)

func TestIPFor(t *testing.T) {
	dual := SideResult{IP: "10.244.1.5", IPs: []string{"10.244.1.5", "fd00:10:244:1::5"}}
	v4only := SideResult{IP: "10.244.1.5", IPs: []string{"10.244.1.5"}}
	tests := []struct {
		side SideResult
		dst  string
		want string
	}{
		{dual, "198.19.0.1", "10.244.1.5"},
		{dual, "fd00:198:19::1", "fd00:10:244:1::5"},
		{dual, "::ffff:198.19.0.1", "10.244.1.5"}, // a mapped IPv4 address goes out in IPv4
		{v4only, "fd00:198:19::1", ""},
		{SideResult{}, "198.19.0.1", ""},
	}
	for _, tt := range tests {
		if got := tt.side.IPFor(netip.MustParseAddr(tt.dst)); got != tt.want {
			t.Errorf("%v.IPFor(%s) = %q, want %q", tt.side.IPs, tt.dst, got, tt.want)
		}
	}
	// A name's flow whose address is unknown: the primary address.
	if got := dual.IPFor(netip.Addr{}); got != "10.244.1.5" {
		t.Errorf("IPFor(invalid) = %q, want the primary address", got)
	}
}
