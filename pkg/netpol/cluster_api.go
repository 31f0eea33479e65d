package netpol

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterKinds are the cluster policy kinds and where the API serves them, newest first. The
// objects are read as JSON into the fields below rather than through the
// project's Go types: those pin a Kubernetes version of their own.
var ClusterKinds = []struct{ Kind, Path string }{
	{"ClusterNetworkPolicy", "/apis/policy.networking.k8s.io/v1beta1/clusternetworkpolicies"},
	{"ClusterNetworkPolicy", "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies"},
	{"AdminNetworkPolicy", "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies"},
	{"BaselineAdminNetworkPolicy", "/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies"},
}

// The wire shape shared by the three kinds: v1alpha1 has "ports",
// ClusterNetworkPolicy "protocols"; ANP has no tier (its kind says it).
type wireList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Tier     string     `json:"tier"`
			Priority int32      `json:"priority"`
			Subject  wirePeer   `json:"subject"`
			Ingress  []wireRule `json:"ingress"`
			Egress   []wireRule `json:"egress"`
		} `json:"spec"`
	} `json:"items"`
}

type wireRule struct {
	Name      string          `json:"name"`
	Action    string          `json:"action"`
	From      []wirePeer      `json:"from"`
	To        []wirePeer      `json:"to"`
	Ports     *[]wireANPPort  `json:"ports"`
	Protocols []wireProtocols `json:"protocols"`
}

type wirePeer struct {
	Namespaces *metav1.LabelSelector `json:"namespaces"`
	Pods       *struct {
		NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`
		PodSelector       metav1.LabelSelector `json:"podSelector"`
	} `json:"pods"`
	Nodes       *metav1.LabelSelector `json:"nodes"`
	Networks    []string              `json:"networks"`
	DomainNames []string              `json:"domainNames"`
}

type wireANPPort struct {
	PortNumber *struct {
		Protocol corev1.Protocol `json:"protocol"`
		Port     int32           `json:"port"`
	} `json:"portNumber"`
	NamedPort *string `json:"namedPort"`
	PortRange *struct {
		Protocol corev1.Protocol `json:"protocol"`
		Start    int32           `json:"start"`
		End      int32           `json:"end"`
	} `json:"portRange"`
}

type wirePort struct {
	DestinationPort *struct {
		Number int32 `json:"number"`
		Range  *struct {
			Start int32 `json:"start"`
			End   int32 `json:"end"`
		} `json:"range"`
	} `json:"destinationPort"`
}

type wireProtocols struct {
	TCP                  *wirePort `json:"tcp"`
	UDP                  *wirePort `json:"udp"`
	SCTP                 *wirePort `json:"sctp"`
	DestinationNamedPort string    `json:"destinationNamedPort"`
}

// DecodeClusterPolicies reads a list of one kind, as the API returns it.
func DecodeClusterPolicies(kind string, body []byte) ([]ClusterPolicy, error) {
	var l wireList
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("read %s list: %w", kind, err)
	}
	var out []ClusterPolicy
	for _, it := range l.Items {
		c := ClusterPolicy{Kind: kind, Name: it.Metadata.Name, Priority: it.Spec.Priority, Subject: it.Spec.Subject.peer()}
		switch kind {
		case "AdminNetworkPolicy":
			c.Tier = TierAdmin
		case "BaselineAdminNetworkPolicy":
			c.Tier = TierBaseline
		default:
			c.Tier = Tier(it.Spec.Tier)
		}
		for _, r := range it.Spec.Ingress {
			c.Ingress = append(c.Ingress, r.rule(r.From))
		}
		for _, r := range it.Spec.Egress {
			c.Egress = append(c.Egress, r.rule(r.To))
		}
		out = append(out, c)
	}
	return out, nil
}

func (w wirePeer) peer() ClusterPeer {
	p := ClusterPeer{Namespaces: w.Namespaces, Nodes: w.Nodes, DomainNames: w.DomainNames}
	if w.Pods != nil {
		p.Pods = &NamespacedPod{NamespaceSelector: w.Pods.NamespaceSelector, PodSelector: w.Pods.PodSelector}
	}
	for _, n := range w.Networks {
		if pf, err := netip.ParsePrefix(strings.TrimSpace(n)); err == nil {
			p.Networks = append(p.Networks, pf.Masked())
		} else if a, err := netip.ParseAddr(strings.TrimSpace(n)); err == nil {
			p.Networks = append(p.Networks, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return p
}

func (w wireRule) rule(peers []wirePeer) ClusterRule {
	r := ClusterRule{Name: w.Name, Action: Action(w.Action)}
	if r.Action == "Allow" {
		r.Action = ActionAccept
	}
	for _, p := range peers {
		r.Peers = append(r.Peers, p.peer())
	}
	switch {
	case w.Ports != nil:
		r.Ports = []ClusterPort{}
		for _, p := range *w.Ports {
			switch {
			case p.PortNumber != nil:
				r.Ports = append(r.Ports, ClusterPort{Protocol: orTCP(p.PortNumber.Protocol), Start: p.PortNumber.Port, End: p.PortNumber.Port})
			case p.PortRange != nil:
				r.Ports = append(r.Ports, ClusterPort{Protocol: orTCP(p.PortRange.Protocol), Start: p.PortRange.Start, End: p.PortRange.End})
			case p.NamedPort != nil:
				r.Ports = append(r.Ports, ClusterPort{Named: *p.NamedPort})
			}
		}
	case len(w.Protocols) > 0:
		r.Ports = []ClusterPort{}
		for _, p := range w.Protocols {
			for _, pp := range []struct {
				proto corev1.Protocol
				w     *wirePort
			}{{corev1.ProtocolTCP, p.TCP}, {corev1.ProtocolUDP, p.UDP}, {corev1.ProtocolSCTP, p.SCTP}} {
				if pp.w != nil {
					r.Ports = append(r.Ports, pp.w.port(pp.proto))
				}
			}
			if p.DestinationNamedPort != "" {
				r.Ports = append(r.Ports, ClusterPort{Named: p.DestinationNamedPort})
			}
		}
	}
	return r
}

func (w wirePort) port(proto corev1.Protocol) ClusterPort {
	p := ClusterPort{Protocol: proto}
	if d := w.DestinationPort; d != nil {
		if d.Range != nil {
			p.Start, p.End = d.Range.Start, d.Range.End
		} else {
			p.Start, p.End = d.Number, d.Number
		}
	}
	return p
}

func orTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}
