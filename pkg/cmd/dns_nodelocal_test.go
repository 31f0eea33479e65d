package cmd

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
)

// nodeCachePod is a node-local-dns pod as k8s.io/dns's manifest makes it.
func nodeCachePod(node string, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "node-local-dns-" + node, Namespace: "kube-system", Labels: map[string]string{"k8s-app": "node-local-dns"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: "node-local-dns"}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "node-cache", Args: args}},
			Volumes: []corev1.Volume{{Name: "config-volume", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "node-local-dns"}, Items: []corev1.KeyToPath{{Key: "Corefile", Path: "Corefile.base"}}}}}}},
		Status: corev1.PodStatus{PodIP: "198.18.0.11", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

// The manifest's Corefile leaves __PILLAR__CLUSTER__DNS__ for node-cache
// to fill in: the upstream is then the Service -upstreamsvc names, read
// with its endpoints; the address is the Corefile's bind that is not the
// kube-dns ClusterIP.
func TestReadNodeLocalPillar(t *testing.T) {
	ready := true
	client := fake.NewClientset(
		nodeCachePod("n1", "-localip", "169.254.20.10,10.96.0.10", "-conf", "/etc/Corefile", "-upstreamsvc", "dns-up"),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "node-local-dns", Namespace: "kube-system"}, Data: map[string]string{"Corefile": `cluster.local:53 {
    errors
    bind 169.254.20.10 10.96.0.10
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
}
`}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dns-up", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.5.5", ClusterIPs: []string{"10.96.5.5"}, Selector: map[string]string{"k8s-app": "kube-dns"}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "dns-up-x", Namespace: "kube-system", Labels: map[string]string{discoveryv1.LabelServiceName: "dns-up"}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.3.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}},
	)
	dns := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"}, Selector: map[string]string{"k8s-app": "kube-dns"}}}
	nl, note := readNodeLocal(context.Background(), client, dns, "kubernetes.default.svc.cluster.local")
	if note != "" || nl == nil {
		t.Fatalf("nodelocal %+v, note %q", nl, note)
	}
	if nl.Addr != "169.254.20.10" || nl.DaemonSet != "kube-system/node-local-dns" || len(nl.Pods) != 1 || nl.Pods[0].Node != "n1" {
		t.Errorf("read %+v", nl)
	}
	want := &diagnose.UpstreamService{Name: "kube-system/dns-up", ClusterIP: "10.96.5.5", Selector: map[string]string{"k8s-app": "kube-dns"}, Ready: 1, Want: map[string]string{"k8s-app": "kube-dns"}}
	if d := cmp.Diff(want, nl.UpstreamService); d != "" {
		t.Errorf("upstream Service (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"10.96.5.5"}, nl.Upstream.Targets); d != "" {
		t.Errorf("targets (-want +got):\n%s", d)
	}
}

// No cache pods: nothing is asked and nothing said.
func TestReadNodeLocalNone(t *testing.T) {
	nl, note := readNodeLocal(context.Background(), fake.NewClientset(), &corev1.Service{}, "kubernetes.default.svc.cluster.local")
	if nl != nil || note != "" {
		t.Errorf("nodelocal %+v, note %q", nl, note)
	}
}

// Kubespray labels its cache's pods k8s-app=nodelocaldns: found too.
func TestReadNodeLocalKubesprayLabel(t *testing.T) {
	p := nodeCachePod("n1")
	p.Labels = map[string]string{"k8s-app": "nodelocaldns"}
	other := nodeCachePod("n2")
	other.Name, other.Labels = "kube-proxy-x", map[string]string{"k8s-app": "kube-proxy"}
	nl, note := readNodeLocal(context.Background(), fake.NewClientset(p, other), &corev1.Service{}, "kubernetes.default.svc.cluster.local")
	if nl == nil || note != "" || len(nl.Pods) != 1 || nl.Pods[0].Name != "node-local-dns-n1" {
		t.Fatalf("nodelocal %+v, note %q", nl, note)
	}
	if nl.Addr != diagnose.NodeLocalDefaultAddr || nl.Corefile.Err == "" {
		t.Errorf("no ConfigMap: the default address and the reason: %+v", nl)
	}
}
