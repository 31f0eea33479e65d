package target

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		kind    Kind
		host    string
		port    int
		canon   string
		wantErr string
	}{
		{in: "192.168.2.10", kind: KindIP, host: "192.168.2.10", canon: "192.168.2.10"},
		{in: "2001:db8::1", kind: KindIP, host: "2001:db8::1", canon: "2001:db8::1"},
		{in: "192.168.2.7/24", kind: KindCIDR, host: "192.168.2.1", canon: "192.168.2.0/24"},
		{in: "198.19.0.1/32", kind: KindCIDR, host: "198.19.0.1", canon: "198.19.0.1/32"},
		{in: "2001:db8::/64", kind: KindCIDR, host: "2001:db8::1", canon: "2001:db8::/64"},
		{in: "db.corp.example", kind: KindHost, host: "db.corp.example", canon: "db.corp.example"},
		{in: "DB.Corp.Example.", kind: KindHost, host: "db.corp.example", canon: "db.corp.example"},
		{in: "db.corp.example:5432", kind: KindHostPort, host: "db.corp.example", port: 5432, canon: "db.corp.example:5432"},
		{in: "[2001:db8::1]:443", kind: KindHostPort, host: "2001:db8::1", port: 443, canon: "[2001:db8::1]:443"},
		{in: "http://192.168.2.20:8080/health", kind: KindURL, host: "192.168.2.20", port: 8080, canon: "http://192.168.2.20:8080/health"},
		{in: "https://api.example", kind: KindURL, host: "api.example", port: 443, canon: "https://api.example:443/"},
		{in: "http://h.example/a%20b?x=1", kind: KindURL, host: "h.example", port: 80, canon: "http://h.example:80/a%20b?x=1"},
		{in: "http://h.example/?x=1&y=2", wantErr: "not allowed"},
		{in: "", wantErr: "empty target"},
		{in: "192.168.2.0/33", wantErr: "not a valid CIDR"},
		{in: "host:0", wantErr: "between 1 and 65535"},
		{in: "host:99999", wantErr: "between 1 and 65535"},
		{in: "ftp://x.example/", wantErr: "only http"},
		{in: "http://u:p@x.example/", wantErr: "credentials"},
		{in: "a;rm -rf /", wantErr: "not a valid"},
		{in: "a;rm", wantErr: "not a valid DNS name"},
		{in: "12345", wantErr: "neither an IP address nor a DNS name"},
		{in: "10.1.1.999", wantErr: "neither an IP address nor a DNS name"},
		{in: "http://3232235777/", wantErr: "neither an IP address nor a DNS name"},
		{in: "1password.example", kind: KindHost, host: "1password.example", canon: "1password.example"},
		{in: "$(reboot)", wantErr: "not a valid DNS name"},
		{in: "-flag", wantErr: "not a valid DNS name"},
		{in: "fe80::1%eth0", wantErr: "zones"},
		{in: "http://x.example/a!b", wantErr: "not allowed"},
		{in: "http://x.example/`id`", kind: KindURL, host: "x.example", port: 80, canon: "http://x.example:80/%60id%60"},
		{in: "under_score.example", wantErr: "not a valid DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got.Kind != tt.kind || got.Host != tt.host || got.Port != tt.port || got.String() != tt.canon {
				t.Errorf("Parse(%q) = kind %s host %s port %d canon %s; want %s %s %d %s",
					tt.in, got.Kind, got.Host, got.Port, got.String(), tt.kind, tt.host, tt.port, tt.canon)
			}
		})
	}
}

// FuzzParse proves that whatever the input, an accepted target's parts
// (the only strings that reach a probe's argv) hold no shell metacharacter,
// no whitespace and cannot be read as a flag.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"192.168.2.10", "10.0.0.0/8", "db.example:5432", "http://a.example:8080/x?y=1",
		"[::1]:80", "a;b", "$(id)", "http://x/`id`", "-rf", "https://h/%0a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := Parse(s)
		if err != nil {
			return
		}
		for _, part := range []string{tg.Host, tg.String(), tg.URL} {
			if part == "" {
				continue
			}
			if strings.HasPrefix(part, "-") {
				t.Fatalf("accepted %q yields a flag-like argv part %q", s, part)
			}
			if i := strings.IndexAny(part, " \t\n\r;|&$`\\\"'<>(){}*!"); i >= 0 {
				t.Fatalf("accepted %q yields argv part %q with metacharacter %q", s, part, part[i])
			}
		}
		if tg.Kind != KindHost && tg.Kind != KindHostPort && tg.Kind != KindURL && !tg.Addr.IsValid() {
			t.Fatalf("accepted %q as %s without an address", s, tg.Kind)
		}
	})
}
