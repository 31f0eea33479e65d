package netpol

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// cpol reads one cluster policy written as YAML, as an admin writes it,
// through the same decoder the API's lists go through.
func cpol(t *testing.T, y string) ClusterPolicy {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	var head struct{ Kind string }
	_ = json.Unmarshal(j, &head)
	ps, err := DecodeClusterPolicies(head.Kind, []byte(`{"items":[`+string(j)+`]}`))
	if err != nil || len(ps) != 1 {
		t.Fatalf("%v %v", ps, err)
	}
	return ps[0]
}

const (
	cnpDenyExt = `
kind: ClusterNetworkPolicy
metadata: {name: deny-ext}
spec:
  tier: Admin
  priority: 20
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  egress:
  - {name: https-ok, action: Accept, to: [{networks: [198.19.0.0/24]}], protocols: [{tcp: {destinationPort: {number: 443}}}]}
  - {name: no-ext, action: Deny, to: [{networks: [198.19.0.0/24]}]}
`
	cnpAcceptExt = `
kind: ClusterNetworkPolicy
metadata: {name: accept-ext}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  egress:
  - {action: Accept, to: [{networks: [198.19.0.1/32]}], protocols: [{tcp: {destinationPort: {range: {start: 70, end: 90}}}}]}
`
	anpPass = `
kind: AdminNetworkPolicy
metadata: {name: pass-shop}
spec:
  priority: 5
  subject: {pods: {namespaceSelector: {matchLabels: {team: a}}, podSelector: {matchLabels: {app: web}}}}
  egress:
  - {action: Pass, to: [{networks: [0.0.0.0/0]}]}
`
	banpDeny = `
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  egress:
  - {action: Deny, to: [{networks: [198.19.0.0/16]}]}
  ingress:
  - {action: Deny, from: [{namespaces: {matchLabels: {team: b}}}]}
`
	anpIngressNamed = `
kind: AdminNetworkPolicy
metadata: {name: web-http}
spec:
  priority: 1
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}
  ingress:
  - {action: Allow, from: [{namespaces: {matchLabels: {team: b}}}], ports: [{namedPort: http}]}
  - {action: Deny, from: [{namespaces: {}}], ports: [{portRange: {protocol: TCP, start: 1, end: 65535}}]}
`
	anpNodes = `
kind: AdminNetworkPolicy
metadata: {name: no-nodes}
spec:
  priority: 3
  subject: {namespaces: {}}
  egress:
  - {action: Deny, to: [{nodes: {matchLabels: {role: control-plane}}}]}
  - {action: Deny, to: [{domainNames: ["*.example.com"]}]}
`
)

func TestClusterTiers(t *testing.T) {
	shopWeb := pod("shop", "web-1", map[string]string{"app": "web"}, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	ext := func(port int) Flow { return Flow{From: Peer{Pod: shopWeb}, To: Peer{IP: extIP}, Port: port} }
	denyAll := pol(t, `{metadata: {name: deny, namespace: shop}, spec: {podSelector: {}, policyTypes: [Egress]}}`)
	allow80 := pol(t, `{metadata: {name: allow80, namespace: shop}, spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: 80}]}]}}`)
	tests := []struct {
		name    string
		cluster []string
		nps     []networkingv1.NetworkPolicy
		flow    Flow
		egress  bool   // the egress verdict
		ingress bool   // the ingress verdict
		by      string // what decided the denied (or cluster-allowed) direction
		passed  bool
	}{
		{name: "no policy at all", flow: ext(80), egress: true, ingress: true},
		{name: "admin deny by CIDR", cluster: []string{cnpDenyExt}, flow: ext(80), ingress: true, by: "ClusterNetworkPolicy/deny-ext"},
		{name: "admin: the earlier Accept rule of the same policy wins", cluster: []string{cnpDenyExt}, flow: ext(443), egress: true, ingress: true, by: "ClusterNetworkPolicy/deny-ext"},
		{name: "admin deny beats a NetworkPolicy that allows", cluster: []string{cnpDenyExt}, nps: []networkingv1.NetworkPolicy{allow80}, flow: ext(80), ingress: true, by: "ClusterNetworkPolicy/deny-ext"},
		{name: "admin accept beats a NetworkPolicy default deny", cluster: []string{cnpAcceptExt}, nps: []networkingv1.NetworkPolicy{denyAll}, flow: ext(80), egress: true, ingress: true, by: "ClusterNetworkPolicy/accept-ext"},
		{name: "the lower priority number goes first", cluster: []string{cnpDenyExt, cnpAcceptExt}, flow: ext(80), egress: true, ingress: true, by: "ClusterNetworkPolicy/accept-ext"},
		{name: "a port outside the accepted range falls to the next policy", cluster: []string{cnpDenyExt, cnpAcceptExt}, flow: ext(91), ingress: true, by: "ClusterNetworkPolicy/deny-ext"},
		{name: "pass hands the flow to the NetworkPolicies, which deny", cluster: []string{anpPass, cnpAcceptExt}, nps: []networkingv1.NetworkPolicy{denyAll}, flow: ext(80), ingress: true, by: "shop/deny", passed: true},
		{name: "pass, no NetworkPolicy: the baseline denies", cluster: []string{anpPass, banpDeny}, flow: ext(80), ingress: true, by: "BaselineAdminNetworkPolicy/default", passed: true},
		{name: "a NetworkPolicy that isolates the pod overrides the baseline", cluster: []string{banpDeny}, nps: []networkingv1.NetworkPolicy{allow80}, flow: ext(80), egress: true, ingress: true},
		{name: "baseline deny when no NetworkPolicy selects the pod", cluster: []string{banpDeny}, flow: ext(80), ingress: true, by: "BaselineAdminNetworkPolicy/default"},
		{name: "a subject that does not select the pod", cluster: []string{cnpDenyExt}, flow: Flow{From: Peer{Pod: client}, To: Peer{IP: extIP}, Port: 80}, egress: true, ingress: true},
		{name: "ICMP: a rule with protocols does not match it", cluster: []string{cnpAcceptExt, banpDeny}, flow: Flow{From: Peer{Pod: shopWeb}, To: Peer{IP: extIP}, Protocol: "ICMP"}, ingress: true, by: "BaselineAdminNetworkPolicy/default"},
		{name: "UDP is not TCP's port", cluster: []string{cnpAcceptExt, banpDeny}, flow: Flow{From: Peer{Pod: shopWeb}, To: Peer{IP: extIP}, Port: 80, Protocol: corev1.ProtocolUDP}, ingress: true, by: "BaselineAdminNetworkPolicy/default"},
		{name: "ingress: a named port of the destination pod, from the allowed namespace", cluster: []string{anpIngressNamed}, flow: Flow{From: Peer{Pod: client}, To: Peer{Pod: shopWeb}, Port: 8080}, egress: true, ingress: true, by: "AdminNetworkPolicy/web-http"},
		{name: "ingress: another port from the same namespace hits the deny", cluster: []string{anpIngressNamed}, flow: Flow{From: Peer{Pod: client}, To: Peer{Pod: shopWeb}, Port: 9090}, egress: true, by: "AdminNetworkPolicy/web-http"},
		{name: "ingress: the baseline denies namespace team=b", cluster: []string{banpDeny}, flow: Flow{From: Peer{Pod: client}, To: Peer{Pod: shopWeb}, Port: 9090}, egress: true, by: "BaselineAdminNetworkPolicy/default"},
		{name: "nodes selected by their labels", cluster: []string{anpNodes}, flow: Flow{From: Peer{Pod: shopWeb}, To: Peer{IP: extIP, NodeLabels: map[string]string{"role": "control-plane"}}, Port: 6443}, ingress: true, by: "AdminNetworkPolicy/no-nodes"},
		{name: "a node without the label", cluster: []string{anpNodes}, flow: Flow{From: Peer{Pod: shopWeb}, To: Peer{IP: extIP, NodeLabels: map[string]string{"role": "worker"}}, Port: 6443}, egress: true, ingress: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Set
			s.Network = tt.nps
			for _, y := range tt.cluster {
				s.Cluster = append(s.Cluster, cpol(t, y))
			}
			v := Evaluate(s, tt.flow)
			if v.Egress.Allowed != tt.egress || v.Ingress.Allowed != tt.ingress {
				t.Fatalf("egress %v ingress %v, want %v %v: %+v", v.Egress.Allowed, v.Ingress.Allowed, tt.egress, tt.ingress, v)
			}
			d := v.Egress
			if v.Egress.Allowed && (!v.Ingress.Allowed || v.Egress.Deciders() == "") {
				d = v.Ingress
			}
			if got := d.Deciders(); tt.by != "" && got != tt.by {
				t.Fatalf("decided by %q, want %q", got, tt.by)
			}
			if (len(d.Passed) > 0) != tt.passed {
				t.Fatalf("passed %v, want %v", d.Passed, tt.passed)
			}
		})
	}
}

func TestClusterUnjudgedDomainNames(t *testing.T) {
	v := Evaluate(Set{Cluster: []ClusterPolicy{cpol(t, anpNodes)}}, Flow{From: Peer{Pod: web}, To: Peer{IP: extIP}, Port: 443})
	if !v.Egress.Allowed || len(v.Egress.Unjudged) != 1 || !strings.Contains(v.Egress.Unjudged[0], "*.example.com") {
		t.Fatalf("%+v", v.Egress)
	}
}

// The patch inserts one rule before the deciding one: applied, the flow
// passes and its neighbours stay denied; in each policy's own dialect.
func TestClusterAllowCommand(t *testing.T) {
	shopWeb := pod("shop", "web-1", map[string]string{"app": "web", "pod-template-hash": "x"}, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	for _, tt := range []struct {
		name   string
		policy string
		flow   Flow
		other  Flow
		want   string
	}{
		{"CNP egress to an address", cnpDenyExt, Flow{From: Peer{Pod: shopWeb}, To: Peer{IP: extIP}, Port: 80}, Flow{From: Peer{Pod: shopWeb}, To: Peer{IP: extIP}, Port: 81},
			`kubectl patch clusternetworkpolicy deny-ext --type=json -p '[{"op":"add","path":"/spec/egress/1","value":{"action":"Accept","name":"netcheck-allow-tcp-80","protocols":[{"tcp":{"destinationPort":{"number":80}}}],"to":[{"networks":["198.19.0.1/32"]}]}}]'`},
		{"BANP ingress from a namespace's pods", banpDeny, Flow{From: Peer{Pod: client}, To: Peer{Pod: shopWeb}, Port: 8080}, Flow{From: Peer{Pod: client}, To: Peer{Pod: shopWeb}, Port: 8081},
			`kubectl patch baselineadminnetworkpolicy default --type=json -p '[{"op":"add","path":"/spec/ingress/0","value":{"action":"Allow","from":[{"pods":{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"client"}},"podSelector":{"matchLabels":{"app":"curl"}}}}],"name":"netcheck-allow-tcp-8080","ports":[{"portNumber":{"port":8080,"protocol":"TCP"}}]}}]'`},
		// These APIs have no ICMP protocol: admitting ping admits the address.
		{"ICMP: a rule without ports", banpDeny, Flow{From: Peer{Pod: shopWeb}, To: Peer{IP: extIP}, Protocol: "ICMP"}, Flow{From: Peer{Pod: shopWeb}, To: Peer{IP: netip.MustParseAddr("198.19.0.2")}, Protocol: "ICMP"},
			`kubectl patch baselineadminnetworkpolicy default --type=json -p '[{"op":"add","path":"/spec/egress/0","value":{"action":"Allow","name":"netcheck-allow-icmp","to":[{"networks":["198.19.0.1/32"]}]}}]'`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := cpol(t, tt.policy)
			v := Evaluate(Set{Cluster: []ClusterPolicy{c}}, tt.flow)
			dir, d := networkingv1.PolicyTypeEgress, v.Egress
			if v.Egress.Allowed {
				dir, d = networkingv1.PolicyTypeIngress, v.Ingress
			}
			if d.Allowed || d.Cluster == nil {
				t.Fatalf("the flow should be denied by %s: %+v", c.Ref(), v)
			}
			got := ClusterAllowCommand(*d.Cluster, tt.flow, dir)
			if got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
			// Apply the patch to the policy as the API server would.
			j, _ := yaml.YAMLToJSON([]byte(tt.policy))
			patched := applyAddPatch(t, j, got)
			ps, err := DecodeClusterPolicies(c.Kind, []byte(`{"items":[`+string(patched)+`]}`))
			if err != nil {
				t.Fatal(err)
			}
			if !Evaluate(Set{Cluster: ps}, tt.flow).Allowed() {
				t.Fatal("the patched policy still denies the flow")
			}
			if Evaluate(Set{Cluster: ps}, tt.other).Allowed() {
				t.Fatal("the patched policy opens more than the flow")
			}
		})
	}
	// No ingress peer by address exists in these APIs.
	d := Decision{Policy: cpol(t, banpDeny), Action: ActionDeny}
	if got := ClusterAllowCommand(d, Flow{From: Peer{IP: extIP}, To: Peer{Pod: web}, Port: 80}, networkingv1.PolicyTypeIngress); got != "" {
		t.Fatalf("an address cannot be an ingress peer: %s", got)
	}
}

// applyAddPatch applies the one JSON-patch "add" of a kubectl patch command
// to a policy's JSON.
func applyAddPatch(t *testing.T, obj []byte, cmd string) []byte {
	t.Helper()
	_, q, _ := strings.Cut(cmd, " -p '")
	var ops []struct {
		Op, Path string
		Value    json.RawMessage
	}
	if err := json.Unmarshal([]byte(strings.TrimSuffix(q, "'")), &ops); err != nil || len(ops) != 1 || ops[0].Op != "add" {
		t.Fatalf("%v %+v", err, ops)
	}
	parts := strings.Split(strings.TrimPrefix(ops[0].Path, "/"), "/") // spec, egress|ingress, index
	var m map[string]any
	_ = json.Unmarshal(obj, &m)
	spec := m["spec"].(map[string]any)
	rules, _ := spec[parts[1]].([]any)
	idx, err := strconv.Atoi(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	var v any
	_ = json.Unmarshal(ops[0].Value, &v)
	rules = append(rules[:idx], append([]any{v}, rules[idx:]...)...)
	spec[parts[1]] = rules
	out, _ := json.Marshal(m)
	return out
}

// Lists as the lab's kube-apiserver returned them (testdata/capture-cluster-policies.sh
// creates testdata/cluster-policies.yaml there and reads them back).
func TestDecodeCapturedClusterPolicies(t *testing.T) {
	cnp := []string{
		"ClusterNetworkPolicy/admin-shapes Admin 10 subject{pods ns={kubernetes.io/metadata.name=nc-shop} pod={app=web}}" +
			" egress[dns Accept to{ns={kubernetes.io/metadata.name=kube-system}} ports[UDP 53-53 TCP 53-53]]" +
			" egress[web-range Pass to{nets=198.19.0.0/24,198.18.0.100/32} ports[TCP 80-90]]" +
			" egress[no-control-plane Deny to{nodes={node-role.kubernetes.io/control-plane}} ports[any]]" +
			" ingress[named Accept from{pods ns={} (everything) pod={app=curl}} ports[named http]]",
		"ClusterNetworkPolicy/baseline-shapes Baseline 100 subject{ns={} (everything)}" +
			" egress[no-ext Deny to{nets=198.19.0.0/24} ports[any]]",
	}
	for _, c := range []struct {
		file, kind string
		want       []string
	}{
		{"testdata/clusternetworkpolicies.v1beta1.json", "ClusterNetworkPolicy", cnp},
		{"testdata/clusternetworkpolicies.v1alpha2.json", "ClusterNetworkPolicy", cnp},
		{"testdata/adminnetworkpolicies.v1alpha1.json", "AdminNetworkPolicy", []string{
			"AdminNetworkPolicy/anp-shapes Admin 20 subject{ns={kubernetes.io/metadata.name=nc-shop}}" +
				" egress[api Accept to{nets=198.18.0.10/32} ports[TCP 6443-6443]]" +
				" egress[range Pass to{ns={} (everything)} ports[UDP 1000-2000 named metrics]]" +
				" egress[nodes Deny to{nodes={kubernetes.io/os=linux}} ports[any]]" +
				" ingress[others Deny from{ns={kubernetes.io/metadata.name=nc-other}} ports[any]]"}},
		{"testdata/baselineadminnetworkpolicies.v1alpha1.json", "BaselineAdminNetworkPolicy", []string{
			"BaselineAdminNetworkPolicy/default Baseline 0 subject{ns={} (everything)}" +
				" egress[ext Accept to{nets=198.19.0.0/24} ports[TCP 80-80]]" +
				" ingress[default-deny-from-others Deny from{ns={kubernetes.io/metadata.name=nc-other}} ports[any]]"}},
	} {
		body, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := DecodeClusterPolicies(c.kind, body)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, describe(p))
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.file, diff)
		}
	}
}

// describe writes a policy out in one line, every field the evaluator reads.
func describe(p ClusterPolicy) string {
	peer := func(c ClusterPeer) string {
		var out []string
		if c.Namespaces != nil {
			out = append(out, "ns="+selectorString(c.Namespaces))
		}
		if c.Pods != nil {
			out = append(out, "pods ns="+selectorString(&c.Pods.NamespaceSelector)+" pod="+selectorString(&c.Pods.PodSelector))
		}
		if c.Nodes != nil {
			out = append(out, "nodes="+selectorString(c.Nodes))
		}
		if len(c.Networks) > 0 {
			var n []string
			for _, p := range c.Networks {
				n = append(n, p.String())
			}
			out = append(out, "nets="+strings.Join(n, ","))
		}
		return strings.Join(out, " ")
	}
	rules := func(dir string, rs []ClusterRule, key string) string {
		var out string
		for _, r := range rs {
			var peers, ports []string
			for _, c := range r.Peers {
				peers = append(peers, peer(c))
			}
			if r.Ports == nil {
				ports = []string{"any"}
			}
			for _, pp := range r.Ports {
				if pp.Named != "" {
					ports = append(ports, "named "+pp.Named)
				} else {
					ports = append(ports, fmt.Sprintf("%s %d-%d", pp.Protocol, pp.Start, pp.End))
				}
			}
			out += fmt.Sprintf(" %s[%s %s %s{%s} ports[%s]]", dir, r.Name, r.Action, key, strings.Join(peers, "|"), strings.Join(ports, " "))
		}
		return out
	}
	return fmt.Sprintf("%s %s %d subject{%s}", p.Ref(), p.Tier, p.Priority, peer(p.Subject)) + rules("egress", p.Egress, "to") + rules("ingress", p.Ingress, "from")
}
