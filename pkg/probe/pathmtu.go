package probe

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/podexec"
)

// pathMTUScript finds the largest packet that reaches a host with the
// don't-fragment bit set. It starts at the interface MTU: one busybox
// traceroute -F probe (TTL 32, straight to the host), whose reply is all a
// healthy path costs and which reads a router's "fragmentation needed"
// (!F-N) before anything can teach the kernel a smaller path MTU. Then ping:
// the kernel sets DF on every packet that fits the path MTU it knows, and
// echo replies are not rate-limited as traceroute's port-unreachables are.
// A size a router named is checked; otherwise a binary search between 576
// and the MTU, a handful of probes. Last, one packet 1 byte over the MTU,
// which the kernel fragments itself and sends without DF: lost too, the
// receiver drops full-size frames silently. The shell only steers; every
// probe is printed and the verdict is read from them in Go. Constant text
// (testdata/capture-pmtu.sh runs the same file): the wait, the host and an
// optional interface arrive as parameters.
//
//go:embed pathmtu.sh
var pathMTUScript string

// PathMTUArgv measures the path MTU to host (dev: the interface the side
// sends on, "" to ask the route). wait is each probe's reply wait.
func PathMTUArgv(host, dev string, waitSeconds int) []string {
	if waitSeconds < 1 {
		waitSeconds = 1
	}
	return []string{"sh", "-c", pathMTUScript, "netcheck-pmtu", strconv.Itoa(waitSeconds), host, dev}
}

// PathMTUTool says in evidence what measured the path MTU.
const PathMTUTool = "busybox traceroute -F and ping, DF set"

// ClassifyPathMTU reads the transcript of pathMTUScript. The largest size
// the host answered and the smallest it did not are taken from the tries
// themselves, not from the shell's conclusion. OK: full-size packets pass;
// Timeout: only smaller ones do; Error: no size passed (the host does not
// answer these probes at all: cannot measure).
func ClassifyPathMTU(r podexec.Result) observe.Check {
	c := observe.Check{Kind: observe.MTUProbe}
	p := observe.PathMTU{Tool: PathMTUTool}
	done, host := false, ""
	for _, line := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			if len(f) == 1 && f[0] == "done" {
				done = true
			}
			continue
		}
		size, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "local":
			if len(f) >= 4 {
				p.Dev, host = f[1], f[3]
				p.Local, _ = strconv.Atoi(f[2])
			}
		case "trace": // "trace 1500 32  10.0.0.1  0.4 ms !F-1400"
			p.Probes++
			hop := strings.Join(f[2:], " ")
			if n := toldMTU(hop); n > 0 && len(f) >= 4 {
				p.Told, p.ToldBy = n, f[3]
			}
			passed(&p, size, answered(hop, host))
		case "ping": // "ping 1400 ok"
			p.Probes++
			passed(&p, size, len(f) >= 3 && f[2] == "ok")
		case "nodf":
			if len(f) >= 3 {
				p.NoDF = f[2]
			}
		}
	}
	c.PathMTU = &p
	switch {
	case r.Truncated:
		c.Outcome, c.Detail = observe.Error, "cannot judge: the output was cut at its size limit"
	case !done && r.Err != nil:
		return transportFailure(c, r)
	case !done:
		c.Outcome, c.Detail = observe.Error, "inconclusive: the measurement did not finish"
	case p.Largest == 0:
		c.Outcome, c.Detail = observe.Error, "cannot measure: no probe of any size was answered"
	case p.Local > 0 && p.Largest >= p.Local:
		c.Outcome, c.Detail = observe.OK, fmt.Sprintf("%d-byte packets pass with DF (%s MTU %d)", p.Largest, p.Dev, p.Local)
	default:
		c.Outcome = observe.Timeout
		c.Detail = fmt.Sprintf("path MTU %d: packets of %d bytes and more are lost with DF (%s MTU %d)", p.Largest, p.Largest+1, p.Dev, p.Local)
		if p.Told > 0 {
			c.Detail += fmt.Sprintf("; %s answered fragmentation needed, MTU %d", p.ToldBy, p.Told)
		}
	}
	return c
}

// passed records one probe of size bytes.
func passed(p *observe.PathMTU, size int, ok bool) {
	switch {
	case size <= 0:
	case ok:
		p.Largest = max(p.Largest, size)
	case p.Failed == 0 || size < p.Failed:
		p.Failed = size
	}
}

// answered: the line is the host's own reply, without an error mark
// (a "!F-1400" or "!H" comes from a router, or says the packet was refused).
func answered(hop, host string) bool {
	f := strings.Fields(hop)
	// "32  10.244.1.3  0.412 ms" — TTL, address, time.
	return len(f) >= 4 && f[1] == host && f[3] == "ms" && !strings.Contains(hop, "!")
}

// toldMTU is N from a router's "!F-N", 0 when there is none.
func toldMTU(hop string) int {
	i := strings.Index(hop, "!F-")
	if i < 0 {
		return 0
	}
	digits := hop[i+3:]
	if j := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
		digits = digits[:j]
	}
	n, _ := strconv.Atoi(digits)
	return n
}
