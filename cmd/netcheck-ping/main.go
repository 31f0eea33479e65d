// Command netcheck-ping sends ICMP echo requests through an unprivileged
// ICMP socket (SOCK_DGRAM, IPPROTO_ICMP/ICMPV6): no NET_RAW and no root,
// which is what a pod under PodSecurity "restricted" may do once its
// net.ipv4.ping_group_range sysctl admits its group. busybox's ping opens
// only raw sockets. It prints what busybox ping prints, so the plugin reads
// both the same way. It ships in netcheck's probe image beside busybox.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

func main() {
	fs := flag.NewFlagSet("netcheck-ping", flag.ContinueOnError)
	count := fs.Int("c", 3, "requests to send")
	interval := fs.Float64("i", 1, "seconds between requests")
	wait := fs.Int("W", 1, "seconds to wait for the last reply")
	deadline := fs.Int("w", 0, "seconds for the whole run (0: none)")
	if err := fs.Parse(os.Args[1:]); err != nil || fs.NArg() != 1 || *count < 1 || *interval <= 0 || *wait < 1 || *deadline < 0 {
		fmt.Fprintln(os.Stderr, "usage: netcheck-ping [-c COUNT] [-i SECS] [-W SECS] [-w SECS] HOST")
		os.Exit(2)
	}
	os.Exit(run(fs.Arg(0), *count, time.Duration(*interval*float64(time.Second)), time.Duration(*wait)*time.Second, time.Duration(*deadline)*time.Second))
}

// run pings host and returns busybox's exit status: 0 when a reply came.
func run(host string, count int, interval, wait, deadline time.Duration) int {
	ip, err := resolve(host)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ping: bad address '%s'\n", host)
		return 1
	}
	network, proto, typ, reply := "udp4", 1, icmp.Type(ipv4.ICMPTypeEcho), icmp.Type(ipv4.ICMPTypeEchoReply)
	if ip.Is6() {
		network, proto, typ, reply = "udp6", 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	c, err := icmp.ListenPacket(network, "")
	if err != nil {
		// EACCES: the pod's group is outside net.ipv4.ping_group_range.
		fmt.Fprintf(os.Stderr, "ping: socket: %v (an unprivileged ICMP socket needs net.ipv4.ping_group_range to admit the group)\n", errText(err))
		return 2
	}
	defer c.Close()
	if proto == 1 {
		_ = c.IPv4PacketConn().SetControlMessage(ipv4.FlagTTL, true)
	} else {
		_ = c.IPv6PacketConn().SetControlMessage(ipv6.FlagHopLimit, true)
	}
	fmt.Printf("PING %s (%s): 56 data bytes\n", host, ip)
	start := time.Now()
	end := time.Time{}
	if deadline > 0 {
		end = start.Add(deadline)
	}
	dst := &net.UDPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	sent, got := 0, 0
	var rtts []time.Duration
	payload := make([]byte, 56)
	for seq := 0; seq < count; seq++ {
		if !end.IsZero() && time.Now().After(end) {
			break
		}
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: seq, Data: payload}}
		b, _ := msg.Marshal(nil)
		at := time.Now()
		if _, err := c.WriteTo(b, dst); err != nil {
			fmt.Fprintf(os.Stderr, "ping: sendto: %s\n", errText(err))
			return 1
		}
		sent++
		// Wait for this request's reply until the next is due (or, for the
		// last, -W): the kernel hands this socket only its own echoes.
		until := at.Add(interval)
		if seq == count-1 {
			until = at.Add(wait)
		}
		if !end.IsZero() && until.After(end) {
			until = end
		}
		if rtt, ttl, ok := await(c, proto, reply, seq, at, until); ok {
			got++
			rtts = append(rtts, rtt)
			fmt.Printf("64 bytes from %s: seq=%d ttl=%d time=%.3f ms\n", ip, seq, ttl, ms(rtt))
		}
		time.Sleep(time.Until(until))
	}
	fmt.Printf("\n--- %s ping statistics ---\n", host)
	loss := 0
	if sent > 0 {
		loss = (sent - got) * 100 / sent
	}
	fmt.Printf("%d packets transmitted, %d packets received, %d%% packet loss\n", sent, got, loss)
	if got == 0 {
		return 1
	}
	lo, hi, sum := rtts[0], rtts[0], time.Duration(0)
	for _, r := range rtts {
		lo, hi, sum = min(lo, r), max(hi, r), sum+r
	}
	fmt.Printf("round-trip min/avg/max = %.3f/%.3f/%.3f ms\n", ms(lo), ms(sum/time.Duration(len(rtts))), ms(hi))
	return 0
}

// await reads until the echo reply of seq arrives or until passes, with
// the reply's TTL (hop limit) from the kernel's control message.
func await(c *icmp.PacketConn, proto int, reply icmp.Type, seq int, at, until time.Time) (time.Duration, int, bool) {
	buf := make([]byte, 1500)
	read := func() (int, int, error) {
		if proto == 1 {
			n, cm, _, err := c.IPv4PacketConn().ReadFrom(buf)
			if cm != nil {
				return n, cm.TTL, err
			}
			return n, 0, err
		}
		n, cm, _, err := c.IPv6PacketConn().ReadFrom(buf)
		if cm != nil {
			return n, cm.HopLimit, err
		}
		return n, 0, err
	}
	for {
		if err := c.SetReadDeadline(until); err != nil {
			return 0, 0, false
		}
		n, ttl, err := read()
		if err != nil {
			return 0, 0, false
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.Seq == seq {
			return time.Since(at), ttl, true
		}
	}
}

func resolve(host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	as, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(as) == 0 {
		return netip.Addr{}, errors.New("no address")
	}
	return as[0].Unmap(), nil
}

// errText is the system error's own words ("Network is unreachable"), as
// busybox prints them.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return string(s[0]-'a'+'A') + s[1:]
	}
	return err.Error()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
