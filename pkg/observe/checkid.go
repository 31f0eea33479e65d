package observe

import (
	"net"
	"net/netip"
	"strconv"
)

// Role is what a check is for. With its address, port and the object it
// concerns it identifies the check: packages compare these fields, never
// the display string.
type Role string

// The roles of checks.
const (
	RoleTarget      Role = "target"       // an argument of `external` (Addr is its key)
	RoleServiceDNS  Role = "service-dns"  // the Service's FQDN through cluster DNS
	RoleServiceHTTP Role = "service-http" // an HTTP GET of the ClusterIP URL (Addr)
	RoleClusterIP   Role = "cluster-ip"   // a connect to ClusterIP:port
	RoleEndpoint    Role = "endpoint"     // a connect to one endpoint directly
	RoleNodePort    Role = "nodeport"     // a connect to a node's own address and node port
	RoleExternalIP  Role = "external-ip"  // a connect to an external or load-balancer IP
	RoleAPIVersion  Role = "https"        // GET /version of the API server (Addr is the URL)
	RoleAsSA        Role = "as-sa"        // a request with a ServiceAccount's token (Addr is the URL)
	RoleHairpin     Role = "hairpin"      // a backend to its own Service (Of: the pod)
	RolePeer        Role = "peer"         // a pod probe on another node (Of: the node)
	RolePeerMTU     Role = "peer-mtu"     // the path MTU to it, measured with DF set
	// RolePeerFamily is that pod probe over its address of the other
	// family (Addr), on dual-stack clusters (Of: the node).
	RolePeerFamily Role = "peer-family"
	RoleTargetMTU  Role = "target-mtu" // the path MTU to an `external` address target (Addr is its key)
	// RoleTargetFamily is a name target pinged in one address family (Addr:
	// its key, Of: "IPv4" or "IPv6"), on dual-stack clusters.
	RoleTargetFamily Role = "target-family"
	RoleDNSService   Role = "dns-service"  // a query to the DNS Service's ClusterIP
	RoleDNSPod       Role = "dns-pod"      // a query to one DNS server pod
	RoleResolvConf   Role = "resolv.conf"  // the side's /etc/resolv.conf
	RoleDNSOutside   Role = "dns-outside"  // a name outside the cluster, through the DNS Service (Addr)
	RoleDNSUpstream  Role = "dns-upstream" // that name asked of CoreDNS's forward target (Addr) from the node
	RoleDNSNode      Role = "dns-node"     // that name through the node's own resolvers (Of: the name, where several)
	RoleDNSCache     Role = "dns-cache"    // a query to NodeLocal DNSCache's listen address (Addr) on the side's node
	RoleDNSSearch    Role = "dns-search"   // a name (Addr) looked up through the side's search list, and with a trailing dot
)

// CheckID is a check's identity.
type CheckID struct {
	Role Role   `json:"role"`
	Addr string `json:"addr,omitempty"` // an IP, a name or a URL
	Port int    `json:"port,omitempty"`
	// Of is the pod or node the check concerns, where its address does not say.
	Of string `json:"of,omitempty"`
}

// NewCheckID is the one constructor of check identities.
func NewCheckID(role Role, addr string, port int) CheckID {
	return CheckID{Role: role, Addr: addr, Port: port}
}

// Concerning names the pod or node the check is about.
func (id CheckID) Concerning(of string) CheckID {
	id.Of = of
	return id
}

// String is the check's name as the user reads it in tables and evidence.
func (id CheckID) String() string {
	switch id.Role {
	case RoleTarget, RoleTargetMTU, RoleServiceDNS, RoleResolvConf:
		if id.Addr == "" {
			return string(id.Role)
		}
		return id.Addr
	case RoleServiceHTTP:
		return "http " + id.Addr
	case RoleHairpin:
		return "hairpin " + id.Of
	case RolePeer, RolePeerMTU: // the kind tells them apart: "ping pod on b", "path-mtu pod on b"
		return "pod on " + id.Of
	case RoleDNSService:
		return "service " + id.Addr
	case RoleDNSPod:
		return "pod " + id.Addr
	case RoleDNSOutside:
		return "outside name via service " + id.Addr
	case RoleDNSUpstream:
		return "upstream " + id.Addr
	case RoleDNSNode:
		return "node resolver"
	case RoleDNSCache:
		return "nodelocal " + id.Addr
	case RoleDNSSearch:
		return "search " + id.Addr
	case RoleTargetFamily:
		return id.Addr + " over " + id.Of
	case RolePeerFamily:
		return "pod on " + id.Of + " over " + FamilyOf(id.Addr)
	}
	if id.Port != 0 {
		return string(id.Role) + " " + net.JoinHostPort(id.Addr, strconv.Itoa(id.Port))
	}
	return string(id.Role) + " " + id.Addr
}

// FamilyOf is "IPv6" for an IPv6 address, else "IPv4".
func FamilyOf(addr string) string {
	if a, err := netip.ParseAddr(addr); err == nil && a.Is6() && !a.Is4In6() {
		return "IPv6"
	}
	return "IPv4"
}

// TargetID identifies the checks of an `external` target filed under key.
func TargetID(key string) CheckID { return NewCheckID(RoleTarget, key, 0) }
