package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

func captured(t *testing.T, name string) podexec.Result {
	t.Helper()
	read := func(ext string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name+"."+ext))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	rc, err := strconv.Atoi(strings.TrimSpace(read("rc")))
	if err != nil {
		t.Fatal(err)
	}
	return podexec.Result{Stdout: read("stdout"), Stderr: read("stderr"), ExitCode: rc}
}

func TestClassifyCaptured(t *testing.T) {
	tests := []struct {
		file     string
		classify func(podexec.Result) observe.Check
		want     observe.Outcome
		detail   string
	}{
		{"ping-ok", ClassifyPing, observe.OK, "2/2 replies"},
		{"ping-timeout", ClassifyPing, observe.Timeout, "0/2 replies"},
		{"ping-noroute", ClassifyPing, observe.Unreachable, "network is unreachable"},
		{"ping-badname", ClassifyPing, observe.DNSFailure, ""},
		// netcheck-ping (unprivileged ICMP socket) reads as busybox's ping.
		{"netcheck-ping-ok", ClassifyPing, observe.OK, "3/3 replies"},
		{"netcheck-ping-timeout", ClassifyPing, observe.Timeout, "0/3 replies"},
		{"netcheck-ping-noroute", ClassifyPing, observe.Unreachable, "network is unreachable"},
		{"netcheck-ping-badname", ClassifyPing, observe.DNSFailure, ""},
		{"netcheck-ping-nogroup", ClassifyPing, observe.Error, "no unprivileged ICMP socket"},
		{"tcp-ok", ClassifyTCP, observe.OK, ""},
		{"tcp-refused", ClassifyTCP, observe.Refused, ""},
		{"tcp-timeout", ClassifyTCP, observe.Timeout, ""},
		{"tcp-noroute", ClassifyTCP, observe.Unreachable, ""},
		{"tcp-hostunreach", ClassifyTCP, observe.Timeout, ""},
		{"http-ok", ClassifyHTTP, observe.OK, "HTTP 200"},
		{"http-404", ClassifyHTTP, observe.HTTPError, "HTTP 404"},
		{"http-refused", ClassifyHTTP, observe.Refused, ""},
		{"http-timeout", ClassifyHTTP, observe.Timeout, ""},
		{"https-plain-port", ClassifyHTTP, observe.TLSFailure, "bad TLS record"},
		{"https-401", ClassifyHTTP, observe.HTTPError, "HTTP 401"},
		{"https-403", ClassifyHTTP, observe.HTTPError, "HTTP 403"},
		{"dns-ok", ClassifyDNS, observe.OK, "198.19.0.1"},
		{"dns-nxdomain", ClassifyDNS, observe.DNSFailure, "NXDOMAIN"},
		{"dns-noserver", ClassifyDNS, observe.DNSFailure, "no DNS server answered"},
		{"dns-refused", ClassifyDNS, observe.DNSFailure, "REFUSED"},
		{"dns-servfail", ClassifyDNS, observe.DNSFailure, "SERVFAIL"},
		{"dns-port", ClassifyDNS, observe.OK, "198.19.0.7"}, // asked as server:port
		// https: netcheck-wget against the lab's kube-apiserver v1.37 and
		// servers in namespaces of its own (capture-netcheck-wget.sh).
		{"netcheck-wget-ok", ClassifyHTTP, observe.OK, "HTTP 200"},
		{"netcheck-wget-403", ClassifyHTTP, observe.HTTPError, "HTTP 403"},
		{"netcheck-wget-plain", ClassifyHTTP, observe.TLSFailure, "plain HTTP"},
		{"netcheck-wget-refused", ClassifyHTTP, observe.Refused, "connection refused"},
		{"netcheck-wget-timeout", ClassifyHTTP, observe.Timeout, "no answer within the timeout"},
		// why netcheck-wget: busybox's own TLS against a Go 1.25+ server
		{"wget-busybox-tls-go125", ClassifyHTTP, observe.TLSFailure, "alert code 40"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := tt.classify(captured(t, tt.file))
			if c.Outcome != tt.want {
				t.Fatalf("outcome = %s (%s), want %s", c.Outcome, c.Detail, tt.want)
			}
			if tt.detail != "" && !strings.Contains(c.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", c.Detail, tt.detail)
			}
		})
	}
}

func TestPingLatency(t *testing.T) {
	c := ClassifyPing(captured(t, "ping-ok"))
	if c.Latency <= 0 || c.Latency > time.Second {
		t.Fatalf("latency = %s", c.Latency)
	}
}

func TestTransportFailures(t *testing.T) {
	if c := ClassifyTCP(podexec.Result{ExitCode: -1, Err: fmt.Errorf("stream: %w", context.DeadlineExceeded)}); c.Outcome != observe.Timeout {
		t.Errorf("deadline: %s", c.Outcome)
	}
	if c := ClassifyPing(podexec.Result{ExitCode: -1, Err: fmt.Errorf("pods \"x\" is forbidden")}); c.Outcome != observe.Error {
		t.Errorf("exec forbidden must be an error of the probe, got %s", c.Outcome)
	}
	// "success with no output" is never a verdict.
	if c := ClassifyPing(podexec.Result{}); c.Outcome != observe.Error {
		t.Errorf("empty success: %s", c.Outcome)
	}
	if c := ClassifyTCP(podexec.Result{ExitCode: 1, Stderr: "nc: invalid option -- 'z'"}); c.Outcome != observe.Error || !strings.Contains(c.Detail, "lacks") {
		t.Errorf("old busybox: %+v", c)
	}
}

func TestArgvHasNoShell(t *testing.T) {
	for _, argv := range [][]string{
		PingArgv("198.19.0.1", 3*time.Second), TCPArgv("db.example", 5432, 3*time.Second),
		HTTPArgv("http://198.19.0.1:80/", 3*time.Second), DNSArgv("db.example"),
	} {
		if base := filepath.Base(argv[0]); base == "sh" || base == "bash" || base == "ash" {
			t.Errorf("argv %q goes through a shell", argv)
		}
	}
	if got := DNSArgv("db.example"); got[1] != "db.example." {
		t.Errorf("DNS names are made absolute: %q", got)
	}
}

func TestClassifyHairpin(t *testing.T) {
	for _, tc := range []struct {
		out  string
		rc   int
		want observe.Outcome
	}{
		{"8/8\n", 0, observe.OK},
		{"5/8\n", 0, observe.Timeout},
		{"0/8\n", 0, observe.Timeout},
		{"", 127, observe.Error},
	} {
		if c := ClassifyHairpin(podexec.Result{Stdout: tc.out, ExitCode: tc.rc}); c.Outcome != tc.want {
			t.Errorf("%q rc %d: %s (%s), want %s", tc.out, tc.rc, c.Outcome, c.Detail, tc.want)
		}
	}
	if argv := HairpinArgv("10.96.0.5", 80, 3*time.Second); argv[0] != "sh" || argv[len(argv)-2] != "10.96.0.5" || argv[len(argv)-1] != "80" {
		t.Errorf("argv %q: the address and port go in as parameters", argv)
	}
}

// The resolv.conf the lab's kubelet writes into pods, as the probe reads it
// (capture-resolv-conf.sh): the nameservers, the search path and ndots.
func TestClassifyResolvConfCaptured(t *testing.T) {
	read := func(name string) podexec.Result {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return podexec.Result{Stdout: string(b)}
	}
	cf := ClassifyResolvConf(read("resolv-conf.clusterfirst.stdout"))
	want := observe.Check{Kind: observe.ResolvConf, Outcome: observe.OK, Resolved: []string{"10.96.0.10"},
		Detail:   "search nc-shop.svc.cluster.local svc.cluster.local cluster.local; nameserver 10.96.0.10; options ndots:5",
		Resolver: &observe.Resolver{Search: []string{"nc-shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Ndots: 5}}
	if d := cmp.Diff(want, cf); d != "" {
		t.Errorf("ClusterFirst (-want +got):\n%s", d)
	}
	df := ClassifyResolvConf(read("resolv-conf.default.stdout"))
	want = observe.Check{Kind: observe.ResolvConf, Outcome: observe.OK, Resolved: []string{"198.19.0.53"},
		Detail: "nameserver 198.19.0.53", Resolver: &observe.Resolver{Ndots: 1}}
	if d := cmp.Diff(want, df); d != "" {
		t.Errorf("Default (-want +got):\n%s", d)
	}
	if c := ClassifyResolvConf(podexec.Result{ExitCode: 1, Stderr: "cat: can't open '/etc/resolv.conf': No such file or directory"}); c.Outcome != observe.Error || c.Resolver != nil {
		t.Errorf("unreadable: %+v", c)
	}
}
