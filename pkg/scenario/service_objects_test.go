package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
)

func webService() *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.7.7", Selector: map[string]string{"app": "web"},
			ExternalIPs: []string{"198.18.0.200", "not-an-ip"},
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http"), NodePort: 30080},
				{Name: "metrics", Protocol: corev1.ProtocolUDP, Port: 9090, TargetPort: intstr.FromInt32(9090)},
			}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}, {Hostname: "lb.example"}}}}}
}

func TestServiceInput(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		in         diagnose.ServiceInput
		notes      []string
		err        string
	}{
		{name: "first port by default", in: diagnose.ServiceInput{Namespace: "shop", Name: "web", Type: "NodePort", ClusterIP: "10.96.7.7",
			Selector: map[string]string{"app": "web"}, Domain: "cluster.local",
			ExternalIPs: []string{"198.18.0.200", "203.0.113.7"}, // IPs only, spec's then the load balancer's
			Port:        diagnose.ServicePort{Name: "http", Protocol: "tcp", Port: 80, TargetPort: "http", NodePort: 30080}},
			notes: []string{"the Service has 2 ports; checked 80 (http) (choose with --port)"}},
		{name: "a UDP port by name", want: "metrics", in: diagnose.ServiceInput{Namespace: "shop", Name: "web", Type: "NodePort", ClusterIP: "10.96.7.7",
			Selector: map[string]string{"app": "web"}, Domain: "cluster.local", ExternalIPs: []string{"198.18.0.200", "203.0.113.7"},
			Port: diagnose.ServicePort{Name: "metrics", Protocol: "udp", Port: 9090, TargetPort: "9090", Index: 1}},
			notes: []string{"port 9090 (metrics) is UDP: connects are TCP-only, so only the name and the proxy rules are checked (--port picks a TCP port; for cluster DNS, kubectl netcheck dns)"}},
		{name: "no such port", want: "grpc", err: `service shop/web has no port "grpc"; it has: 80 (http), 9090 (metrics)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _, notes, err := ServiceInput(webService(), tc.want, "cluster.local")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.in, in); d != "" {
				t.Errorf("input (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.notes, notes); d != "" {
				t.Errorf("notes (-want +got):\n%s", d)
			}
		})
	}
}

func TestBackend(t *testing.T) {
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-a"},
		Spec: corev1.PodSpec{NodeName: "nc-node1", Containers: []corev1.Container{{Name: "echo",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {ContainerPort: 9100, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.9",
			ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 4, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}}
	sp := webService().Spec.Ports[0]
	want := diagnose.Backend{Pod: "web-a", Node: "nc-node1", IP: "10.244.1.9", Reason: "CrashLoopBackOff", Restarts: 4,
		TargetPort: 8080, Declared: []string{"http:8080/TCP", "9100/TCP"}}
	if d := cmp.Diff(want, Backend(pod, sp)); d != "" {
		t.Errorf("named targetPort (-want +got):\n%s", d)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	sp.TargetPort = intstr.FromInt32(7000)
	want = diagnose.Backend{Pod: "web-a", Node: "nc-node1", Ready: true, TargetPort: 7000, Declared: []string{"http:8080/TCP", "9100/TCP"}}
	if d := cmp.Diff(want, Backend(pod, sp)); d != "" {
		t.Errorf("numeric targetPort, ready (-want +got):\n%s", d)
	}
}

func TestEndpoints(t *testing.T) {
	slice := func(port string, ready ...bool) discoveryv1.EndpointSlice {
		s := discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To(port), Port: ptr.To[int32](8080)}}}
		for i, r := range ready {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244." + string(rune('3'-i)) + ".9"},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(r)}, NodeName: ptr.To("n" + string(rune('1'+i))),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-" + string(rune('a'+i))}})
		}
		return s
	}
	sp := webService().Spec.Ports[0]
	fqdn := discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeFQDN, Ports: slice("http").Ports,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"db.example"}}}}
	bad := slice("http", true)
	bad.Endpoints[0].Addresses = []string{"10.244.9.9; reboot"} // not an address: never reaches an argv
	got := Endpoints([]discoveryv1.EndpointSlice{slice("http", true, false), slice("metrics", true), fqdn, bad}, sp)
	want := []diagnose.Endpoint{ // sorted by address; other ports' and FQDN slices left out
		{IP: "10.244.2.9", Port: 8080, Node: "n2", Pod: "web-b"},
		{IP: "10.244.3.9", Port: 8080, Node: "n1", Pod: "web-a", Ready: true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestSampleEndpoints(t *testing.T) {
	many := []diagnose.Endpoint{{IP: "a", Node: "n1", Ready: true}, {IP: "b", Node: "n1", Ready: true}, {IP: "c", Node: "n2", Ready: true}, {IP: "d", Node: "n3"}}
	want := []diagnose.Endpoint{{IP: "a", Node: "n1", Ready: true}, {IP: "c", Node: "n2", Ready: true}} // one per node first, ready only, bounded
	if d := cmp.Diff(want, SampleEndpoints(many, 2)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestServicePlan(t *testing.T) {
	in, _, _, err := ServiceInput(webService(), "", "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	in.NodeNets = NodeNets([]corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.0.11"}}}}})
	if d := cmp.Diff([]diagnose.NodeNet{{Name: "n1", IP: "198.18.0.11", IPs: []string{"198.18.0.11"}, PodCIDRs: []string{"10.244.1.0/24"}}}, in.NodeNets); d != "" {
		t.Errorf("node nets (-want +got):\n%s", d)
	}
	in.Endpoints = []diagnose.Endpoint{{IP: "10.244.1.9", Port: 8080, Node: "n1", Ready: true}}
	p, skip := Service{In: in, Timeout: 3 * time.Second}.Plan()
	if skip != "" {
		t.Fatalf("skipped: %s", skip)
	}
	var vips []string
	for _, v := range p.VIPs {
		vips = append(vips, v.Key())
	}
	if d := cmp.Diff([]string{"10.96.7.7:80/tcp", "nodeport 30080/tcp", "198.18.0.200:80/tcp", "203.0.113.7:80/tcp"}, vips); d != "" {
		t.Errorf("proxy rules asked for (-want +got):\n%s", d)
	}
	ids := func(specs []probe.Spec) []string {
		var out []string
		for _, s := range specs {
			out = append(out, string(s.Kind)+" "+s.ID.String())
		}
		return out
	}
	wantPod := []string{"resolv.conf resolv.conf", "dns web.shop.svc.cluster.local", "tcp cluster-ip 10.96.7.7:80", "http http http://10.96.7.7:80/",
		"tcp external-ip 198.18.0.200:80", "tcp external-ip 203.0.113.7:80", "tcp endpoint 10.244.1.9:8080"}
	if d := cmp.Diff(wantPod, ids(p.PodSpecs)); d != "" {
		t.Errorf("pod-side checks (-want +got):\n%s", d)
	}
	wantNode := []string{"tcp cluster-ip 10.96.7.7:80", "tcp nodeport 198.18.0.11:30080", "tcp external-ip 198.18.0.200:80", "tcp external-ip 203.0.113.7:80"}
	if d := cmp.Diff(wantNode, ids(p.NodeSpecs(corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.0.11"}}}}))); d != "" {
		t.Errorf("node-side checks (-want +got):\n%s", d)
	}
	if len(p.Reach) != 0 || len(p.Consider) != 1 || p.Consider[0].Key() != "10.244.1.1" {
		t.Errorf("facts are read for the podCIDRs only, never reached: reach %v consider %v", p.Reach, p.Consider)
	}
	in.Endpoints[0].Ready = false
	if _, skip := (Service{In: in}).Plan(); skip != "the Service has no ready endpoint: no probe pod was started" {
		t.Errorf("no ready endpoint: skip = %q", skip)
	}
}

// Addresses from the API are parsed before they can reach an argv.
func TestServiceAddressesParsed(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10;reboot", Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, _, _, err := ServiceInput(svc, "", "cluster.local"); err == nil {
		t.Errorf("a clusterIP that is not an address was accepted")
	}
	svc.Spec.ClusterIP, svc.Spec.ExternalIPs = "10.96.0.10", []string{"198.19.0.5", "$(id)"}
	in, _, _, err := ServiceInput(svc, "", "cluster.local")
	if err != nil || len(in.ExternalIPs) != 1 || in.ExternalIPs[0] != "198.19.0.5" {
		t.Errorf("externalIPs %v, err %v", in.ExternalIPs, err)
	}
	b := Backend(corev1.Pod{Status: corev1.PodStatus{PodIP: "10.244.1.5 -c 99"}}, corev1.ServicePort{})
	if b.IP != "" {
		t.Errorf("backend IP %q", b.IP)
	}
}

// dualService is web as the dual-stack lab's API server returns it.
func dualService() *corev1.Service {
	svc := webService()
	svc.Spec.Type, svc.Spec.ExternalIPs, svc.Status = corev1.ServiceTypeClusterIP, nil, corev1.ServiceStatus{}
	svc.Spec.Ports[0].NodePort = 0
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.7.7", []string{"10.96.7.7", "fd00:10:96::7a7", "not-an-ip"}
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyPreferDualStack)
	return svc
}

func TestServiceInputDualStack(t *testing.T) {
	in, _, _, err := ServiceInput(dualService(), "http", "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	want := diagnose.ServiceInput{Namespace: "shop", Name: "web", Type: "ClusterIP", ClusterIP: "10.96.7.7",
		ClusterIPs: []string{"10.96.7.7", "fd00:10:96::7a7"}, // parsed: API text reaches argv only as an address
		IPFamilies: []string{"IPv4", "IPv6"}, IPFamilyPolicy: "PreferDualStack",
		Selector: map[string]string{"app": "web"}, Domain: "cluster.local",
		Port: diagnose.ServicePort{Name: "http", Protocol: "tcp", Port: 80, TargetPort: "http"}}
	if d := cmp.Diff(want, in); d != "" {
		t.Errorf("input (-want +got):\n%s", d)
	}
}

func TestEndpointsDualStack(t *testing.T) {
	port := []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}}
	v4 := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-4xk2p", Labels: map[string]string{discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: port,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.9"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}, NodeName: ptr.To("n1"),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-a"}}}}
	v6 := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-v6", Labels: map[string]string{discoveryv1.LabelManagedBy: "shop-operator"}},
		AddressType: discoveryv1.AddressTypeIPv6, Ports: port,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"fd00:10:244:1:0:0:0:9"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}, NodeName: ptr.To("n1"),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-a"}},
			{Addresses: []string{"fd00:10:244:2::9"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false), Terminating: ptr.To(true)}, NodeName: ptr.To("n2")},
			{Addresses: []string{"10.244.3.9"}}, // not of the slice's family: left out
		}}
	fqdn := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-fqdn"}, AddressType: discoveryv1.AddressTypeFQDN, Ports: port,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"db.example"}}}}
	sp := webService().Spec.Ports[0]
	all := []discoveryv1.EndpointSlice{v6, fqdn, v4}
	want := []diagnose.Endpoint{
		{IP: "10.244.1.9", Port: 8080, Node: "n1", Pod: "web-a", Ready: true, Slice: "web-4xk2p"},
		{IP: "fd00:10:244:1::9", Port: 8080, Node: "n1", Pod: "web-a", Slice: "web-v6"}, // the short form
		{IP: "fd00:10:244:2::9", Port: 8080, Node: "n2", Terminating: true, Slice: "web-v6"},
	}
	if d := cmp.Diff(want, Endpoints(all, sp)); d != "" {
		t.Errorf("endpoints (-want +got):\n%s", d)
	}
	wantSlices := []diagnose.Slice{{Name: "web-4xk2p", AddressType: "IPv4", ManagedBy: "endpointslice-controller.k8s.io"},
		{Name: "web-v6", AddressType: "IPv6", ManagedBy: "shop-operator"}}
	if d := cmp.Diff(wantSlices, Slices(all)); d != "" {
		t.Errorf("slices (-want +got):\n%s", d)
	}
}

func TestBackendDualStack(t *testing.T) {
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-a"}, Spec: corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{PodIP: "10.244.1.9", PodIPs: []corev1.PodIP{{IP: "10.244.1.9"}, {IP: "fd00:10:244:1::9"}, {IP: "x; id"}}}}
	want := diagnose.Backend{Pod: "web-a", Node: "n1", IP: "10.244.1.9", IPs: []string{"10.244.1.9", "fd00:10:244:1::9"}, TargetPort: 8080}
	sp := corev1.ServicePort{TargetPort: intstr.FromInt32(8080)}
	if d := cmp.Diff(want, Backend(pod, sp)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// One endpoint per node and family first: a dual-stack Service's IPv6
// endpoints are covered on every node even with few checks to spend.
func TestSampleEndpointsDualStack(t *testing.T) {
	es := []diagnose.Endpoint{{IP: "10.244.1.2", Node: "n1", Ready: true}, {IP: "10.244.1.3", Node: "n1", Ready: true}, {IP: "10.244.2.2", Node: "n2", Ready: true},
		{IP: "fd00:10:244:1::2", Node: "n1", Ready: true}, {IP: "fd00:10:244:2::2", Node: "n2", Ready: true}, {IP: "fd00:10:244:2::3", Node: "n2"}}
	want := []diagnose.Endpoint{{IP: "10.244.1.2", Node: "n1", Ready: true}, {IP: "10.244.2.2", Node: "n2", Ready: true},
		{IP: "fd00:10:244:1::2", Node: "n1", Ready: true}, {IP: "fd00:10:244:2::2", Node: "n2", Ready: true}}
	if d := cmp.Diff(want, SampleEndpoints(es, 4)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// A dual-stack Service: each ClusterIP from both sides (TCP, and HTTP for
// an http port), each family's endpoints, each ClusterIP's proxy rules,
// and both families' pod ranges considered.
func TestServicePlanDualStack(t *testing.T) {
	in, _, _, err := ServiceInput(dualService(), "", "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	in.NodeNets = []diagnose.NodeNet{{Name: "n1", IP: "198.18.0.11", PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"}}}
	in.Endpoints = []diagnose.Endpoint{{IP: "10.244.1.9", Port: 8080, Node: "n1", Ready: true}, {IP: "fd00:10:244:1::9", Port: 8080, Node: "n1", Ready: true}}
	p, skip := Service{In: in, Timeout: 3 * time.Second}.Plan()
	if skip != "" {
		t.Fatalf("skipped: %s", skip)
	}
	var vips []string
	for _, v := range p.VIPs {
		vips = append(vips, v.Key())
	}
	if d := cmp.Diff([]string{"10.96.7.7:80/tcp", "[fd00:10:96::7a7]:80/tcp"}, vips); d != "" {
		t.Errorf("proxy rules asked for (-want +got):\n%s", d)
	}
	ids := func(specs []probe.Spec) []string {
		var out []string
		for _, s := range specs {
			out = append(out, string(s.Kind)+" "+s.ID.String()+" "+strings.Join(s.Argv, " "))
		}
		return out
	}
	wantPod := []string{"resolv.conf resolv.conf cat /etc/resolv.conf", "dns web.shop.svc.cluster.local nslookup web.shop.svc.cluster.local.",
		"tcp cluster-ip 10.96.7.7:80 nc -v -z -w 3 10.96.7.7 80", "tcp cluster-ip [fd00:10:96::7a7]:80 nc -v -z -w 3 fd00:10:96::7a7 80",
		"http http http://10.96.7.7:80/ wget -T 3 -S -O /dev/null http://10.96.7.7:80/",
		"http http http://[fd00:10:96::7a7]:80/ wget -T 3 -S -O /dev/null http://[fd00:10:96::7a7]:80/",
		"tcp endpoint 10.244.1.9:8080 nc -v -z -w 3 10.244.1.9 8080", "tcp endpoint [fd00:10:244:1::9]:8080 nc -v -z -w 3 fd00:10:244:1::9 8080"}
	if d := cmp.Diff(wantPod, ids(p.PodSpecs)); d != "" {
		t.Errorf("pod-side checks (-want +got):\n%s", d)
	}
	wantNode := []string{"tcp cluster-ip 10.96.7.7:80 nc -v -z -w 3 10.96.7.7 80", "tcp cluster-ip [fd00:10:96::7a7]:80 nc -v -z -w 3 fd00:10:96::7a7 80"}
	if d := cmp.Diff(wantNode, ids(p.NodeSpecs(corev1.Node{}))); d != "" {
		t.Errorf("node-side checks (-want +got):\n%s", d)
	}
	var consider []string
	for _, c := range p.Consider {
		consider = append(consider, c.Key())
	}
	if d := cmp.Diff([]string{"10.244.1.1", "fd00:10:244:1::1"}, consider); d != "" {
		t.Errorf("pod ranges considered (-want +got):\n%s", d)
	}
}
