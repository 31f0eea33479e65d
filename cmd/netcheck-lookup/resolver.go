package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// conf is what of resolv.conf shapes a lookup.
type conf struct {
	servers  []netip.AddrPort
	search   []string
	ndots    int
	timeout  time.Duration // per server and attempt
	attempts int
}

// parseConf reads resolv.conf as the C resolvers do: the last search or
// domain line wins, ndots is capped at 15, timeout at 30 s, attempts at 5.
func parseConf(text string) conf {
	c := conf{ndots: 1, timeout: 5 * time.Second, attempts: 2}
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil && len(c.servers) < 3 {
				c.servers = append(c.servers, netip.AddrPortFrom(a.Unmap(), 53))
			}
		case "search", "domain":
			c.search = nil
			for _, d := range f[1:] {
				if d = strings.Trim(d, "."); d != "" {
					c.search = append(c.search, d)
				}
			}
		case "options":
			for _, o := range f[1:] {
				k, v, _ := strings.Cut(o, ":")
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					continue
				}
				switch k {
				case "ndots":
					c.ndots = min(n, 15)
				case "timeout":
					c.timeout = time.Duration(min(max(n, 1), 30)) * time.Second
				case "attempts":
					c.attempts = min(max(n, 1), 5)
				}
			}
		}
	}
	return c
}

// candidates is the order the C resolvers try: a name with a trailing dot
// as written only; one with at least ndots dots as written first, then under
// each search domain; one with fewer, under each search domain first.
func (c conf) candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	var under []string
	for _, d := range c.search {
		under = append(under, name+"."+d+".")
	}
	if strings.Count(name, ".") >= c.ndots {
		return append([]string{name + "."}, under...)
	}
	return append(under, name+".")
}

// result is one lookup: what it cost and how it ended.
type result struct {
	queries int
	rcode   string // NOERROR, NXDOMAIN, SERVFAIL, REFUSED…, or TIMEOUT, PORT-CLOSED, UNREACHABLE
	answer  string // the candidate that answered with an address, "" if none
	elapsed time.Duration
	tried   []string
}

func (r result) String() string {
	a := r.answer
	if a == "" {
		a = "-"
	}
	return fmt.Sprintf("queries=%d rcode=%s answer=%s ms=%.3f tried=%s", r.queries, r.rcode, a, float64(r.elapsed.Microseconds())/1000, strings.Join(r.tried, ","))
}

// median is the run with the median time (the count is the same in each
// unless a server changed its mind between rounds).
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return int(a.elapsed - b.elapsed) })
	return s[len(s)/2]
}

// lookup tries each candidate until one answers with an address, as
// getaddrinfo does: NXDOMAIN, no data, SERVFAIL and silence all move on to
// the next.
func (c conf) lookup(ctx context.Context, name string) result {
	var r result
	start := time.Now()
	for _, cand := range c.candidates(name) {
		r.tried = append(r.tried, cand)
		n, rcode, found := c.ask(ctx, cand)
		r.queries += n
		r.rcode = rcode
		if found {
			r.answer = cand
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	r.elapsed = time.Since(start)
	return r
}

// ask sends A and AAAA for name on one socket to each server in turn, for
// the configured attempts, until both are answered; it returns the
// queries sent, the rcode that decides, and whether an address came back.
func (c conf) ask(ctx context.Context, name string) (sent int, rcode string, found bool) {
	q, err := dnsmessage.NewName(name)
	if err != nil {
		return 0, "BADNAME", false
	}
	rcode = "TIMEOUT"
	for a := 0; a < c.attempts; a++ {
		for _, srv := range c.servers {
			n, rc, ok, answered := exchange(ctx, srv, q, c.timeout)
			sent += n
			if answered {
				return sent, rc, ok
			}
			rcode = rc
			if ctx.Err() != nil {
				return sent, rcode, false
			}
		}
	}
	return sent, rcode, false
}

// exchange is one A+AAAA pair to one server. answered is false when either
// reply did not come in time; found when either carried an address.
func exchange(ctx context.Context, srv netip.AddrPort, q dnsmessage.Name, timeout time.Duration) (sent int, rcode string, found, answered bool) {
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "udp", srv.String())
	if err != nil {
		return 0, "UNREACHABLE", false, false
	}
	defer conn.Close()
	end := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	_ = conn.SetDeadline(end)
	ids := map[uint16]bool{}
	var r [2]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand)
	first := uint16(r[0])<<8 | uint16(r[1])
	for i, t := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
		id := first + uint16(i) // distinct, and not guessable from outside
		msg := dnsmessage.Message{
			Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
			Questions: []dnsmessage.Question{{Name: q, Type: t, Class: dnsmessage.ClassINET}},
		}
		b, err := msg.Pack()
		if err != nil {
			return sent, "BADNAME", false, false
		}
		if _, err := conn.Write(b); err != nil {
			return sent, readFailure(err), false, false // the ICMP error of the first, on loopback
		}
		sent++
		ids[id] = true
	}
	rcode = "NOERROR"
	buf := make([]byte, 1500)
	for len(ids) > 0 {
		n, err := conn.Read(buf)
		if err != nil {
			return sent, readFailure(err), found, false
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil || !ids[h.ID] || !h.Response {
			continue // not ours: keep waiting, as the C resolvers do
		}
		delete(ids, h.ID)
		if h.RCode != dnsmessage.RCodeSuccess {
			rcode = rcodeName(h.RCode)
		}
		if h.Truncated {
			found = true // an answer too big for UDP is still an answer
			continue
		}
		if hasAddress(&p) {
			found = true
		}
	}
	if found {
		rcode = "NOERROR"
	}
	return sent, rcode, found, true
}

// readFailure names why no reply came (or a send failed): silence, or the server's port
// closed (ICMP port unreachable), or the network said no.
func readFailure(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "TIMEOUT"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "PORT-CLOSED"
	}
	return "UNREACHABLE"
}

// rcodeName is an rcode as dig and nslookup print it.
func rcodeName(rc dnsmessage.RCode) string {
	switch rc {
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	}
	return "RCODE" + strconv.Itoa(int(rc))
}

// hasAddress tells whether the answer section holds an A or AAAA record.
func hasAddress(p *dnsmessage.Parser) bool {
	if err := p.SkipAllQuestions(); err != nil {
		return false
	}
	for {
		h, err := p.AnswerHeader()
		if err != nil {
			return false
		}
		if h.Type == dnsmessage.TypeA || h.Type == dnsmessage.TypeAAAA {
			return true
		}
		if err := p.SkipAnswer(); err != nil {
			return false
		}
	}
}

// validName accepts a DNS name of letters, digits, '-', '_' and dots.
func validName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 || strings.Contains(n, "..") || strings.HasPrefix(n, ".") {
		return fmt.Errorf("%q is not a DNS name", name)
	}
	for _, r := range n {
		if r != '.' && r != '-' && r != '_' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return fmt.Errorf("%q is not a DNS name", name)
		}
	}
	return nil
}

// canonical is name with a trailing dot.
func canonical(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}
