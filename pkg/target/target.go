// Package target parses what the user asks netcheck to reach. It is the only
// door through which user text can become part of a probe's argv, so it
// accepts a closed set of shapes and returns typed values rebuilt from the
// parsed parts, never the raw input.
package target

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Kind is the shape of a target.
type Kind string

// The accepted shapes.
const (
	KindIP       Kind = "ip"
	KindCIDR     Kind = "cidr"
	KindHost     Kind = "host"
	KindHostPort Kind = "host:port"
	KindURL      Kind = "url"
)

// Target is one thing to reach. Host is an IP literal or an RFC 1123 DNS
// name; Port is 0 when none was given.
type Target struct {
	Input  string       `json:"input"`
	Kind   Kind         `json:"kind"`
	Host   string       `json:"host"`
	Addr   netip.Addr   `json:"-"`
	Prefix netip.Prefix `json:"-"`
	Port   int          `json:"port,omitempty"`
	// URL is rebuilt from parsed parts (scheme, host, port, path) for wget.
	URL string `json:"url,omitempty"`
}

// PortOr is the target's own port, else dflt (a command's --port).
func (t Target) PortOr(dflt int) int {
	if t.Port != 0 {
		return t.Port
	}
	return dflt
}

// IsName reports whether the host must be resolved by DNS first.
func (t Target) IsName() bool { return !t.Addr.IsValid() }

// Key is the name a target's checks and facts are filed under: the
// probed address of a CIDR, the target as written otherwise.
func (t Target) Key() string {
	if t.Kind == KindCIDR {
		return t.Host
	}
	return t.String()
}

// String is the canonical form used in tables.
func (t Target) String() string {
	switch t.Kind {
	case KindCIDR:
		return t.Prefix.String()
	case KindURL:
		return t.URL
	case KindHostPort:
		return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	default:
		return t.Host
	}
}

// Parse accepts an IPv4/IPv6 address, a CIDR, a DNS name, host:port or an
// http(s) URL.
func Parse(s string) (Target, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Target{}, fmt.Errorf("empty target: give an IP, CIDR, DNS name, host:port or http(s):// URL")
	}
	if strings.Contains(in, "://") {
		return parseURL(in)
	}
	if strings.Contains(in, "/") {
		p, err := netip.ParsePrefix(in)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: not a valid CIDR (e.g. 192.168.2.0/24): %v", in, err)
		}
		return Target{Input: in, Kind: KindCIDR, Prefix: p.Masked(), Addr: FirstHost(p.Masked()), Host: FirstHost(p.Masked()).String()}, nil
	}
	if a, err := netip.ParseAddr(in); err == nil {
		if a.Zone() != "" {
			return Target{}, fmt.Errorf("target %q: IPv6 zones are not supported", in)
		}
		return Target{Input: in, Kind: KindIP, Host: a.String(), Addr: a}, nil
	}
	// host:port or [v6]:port
	if h, p, err := net.SplitHostPort(in); err == nil {
		host, addr, err := parseHost(h)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %w", in, err)
		}
		port, err := parsePort(p)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %w", in, err)
		}
		return Target{Input: in, Kind: KindHostPort, Host: host, Addr: addr, Port: port}, nil
	}
	host, addr, err := parseHost(in)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w; expected an IP, CIDR, DNS name, host:port or http(s):// URL", in, err)
	}
	kind := KindHost
	if addr.IsValid() {
		kind = KindIP
	}
	return Target{Input: in, Kind: kind, Host: host, Addr: addr}, nil
}

func parseURL(in string) (Target, error) {
	u, err := url.Parse(in)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: not a valid URL: %v", in, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Target{}, fmt.Errorf("target %q: only http:// and https:// URLs are supported", in)
	}
	if u.User != nil {
		return Target{}, fmt.Errorf("target %q: credentials in URLs are not supported", in)
	}
	host, addr, err := parseHost(u.Hostname())
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", in, err)
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		if port, err = parsePort(p); err != nil {
			return Target{}, fmt.Errorf("target %q: %w", in, err)
		}
	}
	path, err := safePath(u)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", in, err)
	}
	rebuilt := u.Scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path
	return Target{Input: in, Kind: KindURL, Host: host, Addr: addr, Port: port, URL: rebuilt}, nil
}

// safePath keeps the escaped path and query, allowing only characters that
// no shell or wget option parser gives a meaning to.
func safePath(u *url.URL) (string, error) {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~/%?=:@+,", r)
		if !ok {
			return "", fmt.Errorf("URL path contains %q, which is not allowed; percent-encode it", r)
		}
	}
	return p, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number between 1 and 65535", p)
	}
	return n, nil
}

// parseHost returns the canonical host and, for literals, its address.
func parseHost(h string) (string, netip.Addr, error) {
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", netip.Addr{}, fmt.Errorf("IPv6 zones are not supported")
		}
		return a.String(), a, nil
	}
	if err := ValidateDNSName(h); err != nil {
		return "", netip.Addr{}, err
	}
	return strings.ToLower(strings.TrimSuffix(h, ".")), netip.Addr{}, nil
}

// ValidateDNSName checks RFC 1123 host name syntax: labels of letters,
// digits and inner hyphens, 1-63 characters each, 253 in all.
func ValidateDNSName(h string) error {
	name := strings.TrimSuffix(h, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%q is not a valid DNS name", h)
	}
	labels := strings.Split(name, ".")
	// An all-numeric top label ("12345", "1.2.3.999") is an address typed
	// wrong, which resolvers and ping read as a number (RFC 1123 2.1).
	if top := labels[len(labels)-1]; strings.Trim(top, "0123456789") == "" {
		return fmt.Errorf("%q is neither an IP address nor a DNS name (a name's last label is not all digits): check the address", h)
	}
	for _, label := range labels {
		if len(label) == 0 || len(label) > 63 {
			return fmt.Errorf("%q is not a valid DNS name (empty or too long label)", h)
		}
		for i, r := range label {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
				(r == '-' && i > 0 && i < len(label)-1)
			if !ok {
				return fmt.Errorf("%q is not a valid DNS name (character %q)", h, r)
			}
		}
	}
	return nil
}

// FirstHost is the address a CIDR is probed at when no --host is given:
// the first usable one (network+1), or the address itself for /32 and /128.
func FirstHost(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	if p.Bits() >= a.BitLen()-1 {
		return a
	}
	return a.Next()
}

func (k Kind) String() string { return string(k) }
