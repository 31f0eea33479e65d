// Package probe knows what to run inside the probe pods and what the output
// means. Every command is an argv built from parsed targets (package
// target); classification turns busybox's words into observe.Outcome.
package probe

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

// PingArgv pings host three times, 50 ms apart (one lost packet is not
// a verdict), giving up after timeout. The interval is on every pod's path
// to its verdict: 0.1 s took 0.28 s for a healthy answer in the lab, 0.05 s
// 0.16 s; three echo requests at 20/s stay far below any ICMP rate limit.
func PingArgv(host string, timeout time.Duration) []string {
	secs := strconv.Itoa(seconds(timeout))
	return []string{"ping", "-c", "3", "-i", "0.05", "-W", secs, "-w", secs, host}
}

// PingFamilyArgv pings a name in one address family (busybox ping -4/-6:
// it resolves the name in that family only).
func PingFamilyArgv(host string, v6 bool, timeout time.Duration) []string {
	argv := PingArgv(host, timeout)
	fam := "-4"
	if v6 {
		fam = "-6"
	}
	return append([]string{argv[0], fam}, argv[1:]...)
}

// UnprivilegedPing is a PingArgv run by netcheck-ping, the probe image's
// ping through an unprivileged ICMP socket (no NET_RAW): same flags, same
// output as busybox's.
func UnprivilegedPing(argv []string) []string {
	if len(argv) == 0 || argv[0] != "ping" {
		return argv
	}
	return append([]string{"netcheck-ping"}, argv[1:]...)
}

// TCPArgv connects to host:port and closes (busybox nc -z). -v makes nc
// name timeouts and unreachable networks; a refusal it leaves silent.
func TCPArgv(host string, port int, timeout time.Duration) []string {
	return []string{"nc", "-v", "-z", "-w", strconv.Itoa(seconds(timeout)), host, strconv.Itoa(port)}
}

// HTTPArgv fetches url, printing the server's status line on stderr:
// busybox wget for http, netcheck-wget (the probe image's, same flags, same
// output) for https, because busybox's own TLS cannot handshake with a
// server built with Go 1.25 or later (a Kubernetes API server among them).
func HTTPArgv(url string, timeout time.Duration) []string {
	tool := "wget"
	if strings.HasPrefix(strings.ToLower(url), "https://") {
		tool = "netcheck-wget"
	}
	return []string{tool, "-T", strconv.Itoa(seconds(timeout)), "-S", "-O", "/dev/null", url}
}

// DNSArgv resolves name with the side's own resolver (resolv.conf), or
// with the given server when there is one.
func DNSArgv(name string, server ...string) []string {
	// A trailing dot makes the name absolute: no search-path surprises.
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return append([]string{"nslookup", name}, server...)
}

// DNSTypeArgv asks server for name's records of one type only (busybox
// nslookup -type=AAAA): without it nslookup asks A and AAAA together and an
// answer to either counts.
func DNSTypeArgv(qtype, name, server string) []string {
	argv := DNSArgv(name, server)
	return append([]string{argv[0], "-type=" + qtype}, argv[1:]...)
}

// ResolvConfArgv prints the side's resolver configuration.
func ResolvConfArgv() []string { return []string{"cat", "/etc/resolv.conf"} }

// ClassifyResolvConf keeps the nameservers, search path and options.
func ClassifyResolvConf(r podexec.Result) observe.Check {
	c := observe.Check{Kind: observe.ResolvConf}
	if r.Err != nil || r.ExitCode != 0 {
		c.Outcome, c.Detail = observe.Error, "cannot read /etc/resolv.conf: "+firstLine(r.Stderr)
		return c
	}
	var lines []string
	res := observe.Resolver{Ndots: 1}
	for _, l := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			c.Resolved = append(c.Resolved, f[1])
			lines = append(lines, strings.Join(f, " "))
		case "search", "domain": // the last of them wins, as in the C resolvers
			res.Search = append([]string(nil), f[1:]...)
			lines = append(lines, strings.Join(f, " "))
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil && n >= 0 {
						res.Ndots = min(n, 15) // glibc caps it at 15
					}
				}
			}
			lines = append(lines, strings.Join(f, " "))
		}
	}
	c.Resolver = &res
	c.Outcome, c.Detail = observe.OK, strings.Join(lines, "; ")
	return c
}

func seconds(d time.Duration) int {
	s := int(d.Round(time.Second) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

var (
	pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)
	pingRTT   = regexp.MustCompile(`min/avg/max = [\d.]+/([\d.]+)/`)
	httpLine  = regexp.MustCompile(`HTTP/\d(?:\.\d)? (\d{3})[^\r\n]*`)
	dnsAddr   = regexp.MustCompile(`(?m)^Address(?: \d+)?:\s*([0-9a-fA-F.:]+)\s*$`)
)

// errorOutcome maps the socket errors every busybox tool prints alike.
func errorOutcome(text string) (observe.Outcome, string, bool) {
	l := strings.ToLower(text)
	switch {
	case strings.Contains(l, "netcheck-ping") && strings.Contains(l, "not found"):
		return observe.Error, "the probe image has no netcheck-ping (netcheck's default image has it): " + firstLine(text), true
	case strings.Contains(l, "netcheck-wget") && strings.Contains(l, "not found"):
		return observe.Error, "the probe image has no netcheck-wget for https (netcheck's default image has it): " + firstLine(text), true
	case strings.Contains(l, "ping_group_range"):
		return observe.Error, "no unprivileged ICMP socket: " + firstLine(text), true
	case strings.Contains(l, "bad address"), strings.Contains(l, "can't resolve"):
		return observe.DNSFailure, "name does not resolve", true
	case strings.Contains(l, "connection refused"):
		return observe.Refused, "connection refused", true
	case strings.Contains(l, "no route to host"), strings.Contains(l, "host is unreachable"):
		return observe.Unreachable, "no route to host", true
	case strings.Contains(l, "network is unreachable"):
		return observe.Unreachable, "network is unreachable", true
	case strings.Contains(l, "timed out"):
		return observe.Timeout, "timed out", true
	case strings.Contains(l, "permission denied"), strings.Contains(l, "operation not permitted"):
		return observe.Error, firstLine(text), true
	case strings.Contains(l, "applet not found"), strings.Contains(l, "invalid option"), strings.Contains(l, "unrecognized option"):
		return observe.Error, "the probe image's busybox lacks this feature: " + firstLine(text), true
	}
	return "", "", false
}

// ClassifyPing reads busybox ping.
func ClassifyPing(r podexec.Result) observe.Check {
	c := observe.Check{Kind: observe.Ping}
	if m := pingStats.FindStringSubmatch(r.Stdout); m != nil {
		sent, _ := strconv.Atoi(m[1])
		got, _ := strconv.Atoi(m[2])
		c.Detail = fmt.Sprintf("%d/%d replies", got, sent)
		if got > 0 {
			c.Outcome = observe.OK
			if rtt := pingRTT.FindStringSubmatch(r.Stdout); rtt != nil {
				if ms, err := strconv.ParseFloat(rtt[1], 64); err == nil {
					c.Latency = time.Duration(ms * float64(time.Millisecond))
				}
			}
			return c
		}
	}
	if o, d, ok := errorOutcome(r.Stderr); ok {
		c.Outcome, c.Detail = o, d
		return c
	}
	if r.Err != nil {
		return transportFailure(c, r)
	}
	if r.ExitCode == 0 && strings.TrimSpace(r.Stdout) == "" {
		// The exec stream can drop output and exit code: never read that as a verdict.
		c.Outcome, c.Detail = observe.Error, "inconclusive: success with no output"
		return c
	}
	c.Outcome = observe.Timeout
	if c.Detail == "" {
		c.Detail = "no reply"
	}
	return c
}

// ClassifyTCP reads busybox nc -z.
func ClassifyTCP(r podexec.Result) observe.Check {
	c := observe.Check{Kind: observe.TCP}
	if r.Err == nil && r.ExitCode == 0 {
		c.Outcome, c.Detail = observe.OK, "connected"
		return c
	}
	if o, d, ok := errorOutcome(r.Stderr + "\n" + r.Stdout); ok {
		c.Outcome, c.Detail = o, d
		return c
	}
	if r.Err != nil {
		return transportFailure(c, r)
	}
	if r.ExitCode == 1 && strings.TrimSpace(r.Stdout+r.Stderr) == "" {
		// busybox nc -v -z prints nothing for a RST (see testdata/tcp-refused.*).
		c.Outcome, c.Detail = observe.Refused, "connection refused"
		return c
	}
	c.Outcome, c.Detail = observe.Error, "unexpected nc result: exit "+strconv.Itoa(r.ExitCode)+" "+firstLine(r.Stderr)
	return c
}

// ClassifyHTTP reads busybox wget -S.
func ClassifyHTTP(r podexec.Result) observe.Check {
	c := observe.Check{Kind: observe.HTTP}
	all := r.Stderr + "\n" + r.Stdout
	status := ""
	for _, m := range httpLine.FindAllStringSubmatch(all, -1) {
		status = m[1]
	}
	c.HTTPStatus, _ = strconv.Atoi(status)
	if r.Err == nil && r.ExitCode == 0 {
		c.Outcome, c.Detail = observe.OK, "HTTP "+status
		if status == "" {
			c.Detail = "fetched"
		}
		return c
	}
	if status != "" && strings.Contains(all, "server returned error") {
		c.Outcome, c.Detail = observe.HTTPError, "HTTP "+status
		return c
	}
	if l := strings.ToLower(all); strings.Contains(l, "tls error") || strings.Contains(l, "handshake") || strings.Contains(l, "ssl_client") {
		c.Outcome, c.Detail = observe.TLSFailure, tlsLine(all)
		return c
	}
	if o, d, ok := errorOutcome(all); ok {
		c.Outcome, c.Detail = o, d
		if strings.Contains(all, "download timed out") {
			c.Detail = "no answer within the timeout"
		}
		return c
	}
	if r.Err != nil {
		return transportFailure(c, r)
	}
	if (r.ExitCode == 137 || r.ExitCode == 142) && strings.Contains(all, "Connecting to") {
		// wget's connect timeout can end in a signal instead of a message.
		c.Outcome, c.Detail = observe.Timeout, "no answer within the timeout"
		return c
	}
	c.Outcome, c.Detail = observe.Error, firstLine(r.Stderr)
	return c
}

func tlsLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if ll := strings.ToLower(l); strings.Contains(ll, "tls") || strings.Contains(ll, "handshake") || strings.Contains(ll, "ssl") {
			if !strings.Contains(ll, "validation not implemented") {
				return strings.TrimSpace(strings.TrimPrefix(l, "wget: "))
			}
		}
	}
	return "TLS handshake failed"
}

// HairpinTries is how often a backend connects to its own Service: each
// connect lands on a random endpoint, so several make landing on itself
// (the hairpin case) likely.
const HairpinTries = 8

// hairpinScript connects HairpinTries times and prints "ok/tries". Constant
// script; the timeout, address and port arrive as positional parameters.
const hairpinScript = `n=0; ok=0
while [ $n -lt "$1" ]; do n=$((n+1)); nc -z -w "$2" "$3" "$4" 2>/dev/null && ok=$((ok+1)); done
echo "$ok/$n"`

// HairpinArgv connects to ip:port from inside a backend pod, HairpinTries times.
func HairpinArgv(ip string, port int, timeout time.Duration) []string {
	return []string{"sh", "-c", hairpinScript, "netcheck-hairpin", strconv.Itoa(HairpinTries), strconv.Itoa(seconds(timeout)), ip, strconv.Itoa(port)}
}

// ClassifyHairpin reads "ok/tries": every connect must succeed.
func ClassifyHairpin(r podexec.Result) observe.Check {
	c := observe.Check{Kind: observe.TCP}
	if r.Err != nil {
		return transportFailure(c, r)
	}
	ok, tries, found := strings.Cut(strings.TrimSpace(r.Stdout), "/")
	if !found || r.ExitCode != 0 {
		c.Outcome, c.Detail = observe.Error, firstLine(r.Stderr+r.Stdout)
		return c
	}
	c.Detail = ok + "/" + tries + " connects ok"
	if ok == tries {
		c.Outcome = observe.OK
	} else {
		c.Outcome = observe.Timeout
	}
	return c
}

// ClassifyDNS reads busybox nslookup.
func ClassifyDNS(r podexec.Result) observe.Check {
	c := observe.Check{Kind: observe.DNS}
	out := r.Stdout
	// The answers follow the "Name:" line; the lines before are the server.
	if i := strings.Index(out, "Name:"); i >= 0 {
		for _, m := range dnsAddr.FindAllStringSubmatch(out[i:], -1) {
			c.Resolved = append(c.Resolved, m[1])
		}
	}
	if len(c.Resolved) > 0 {
		c.Outcome, c.Detail = observe.OK, strings.Join(c.Resolved, ",")
		return c
	}
	all := out + "\n" + r.Stderr
	switch {
	case strings.Contains(all, "NXDOMAIN"):
		c.Outcome, c.Detail = observe.DNSFailure, "NXDOMAIN"
	case strings.Contains(all, "SERVFAIL"):
		c.Outcome, c.Detail = observe.DNSFailure, "SERVFAIL"
	case strings.Contains(all, "REFUSED"):
		c.Outcome, c.Detail = observe.DNSFailure, "REFUSED"
	case strings.Contains(all, "timed out"), strings.Contains(all, "no servers could be reached"):
		c.Outcome, c.Detail = observe.DNSFailure, "no DNS server answered"
	case strings.Contains(all, "Connection refused"):
		c.Outcome, c.Detail = observe.DNSFailure, "DNS server refused the connection"
	case r.Err != nil:
		return transportFailure(c, r)
	default:
		c.Outcome, c.Detail = observe.DNSFailure, "no address in the answer"
	}
	return c
}

// transportFailure: the exec itself failed. A deadline means the command
// outlived its own timeout (slow DNS, a hung connect): a timeout. Anything
// else is an error of the probe, not a property of the network.
func transportFailure(c observe.Check, r podexec.Result) observe.Check {
	if errors.Is(r.Err, context.DeadlineExceeded) {
		c.Outcome, c.Detail = observe.Timeout, "no answer before the deadline"
		return c
	}
	c.Outcome, c.Detail = observe.Error, "exec failed: "+r.Err.Error()
	return c
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}
