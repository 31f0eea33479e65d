package netpol

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Selects: a policy of the pod's own namespace whose podSelector picks it,
// in any direction, or a cluster policy whose subject does.
func TestSelects(t *testing.T) {
	probe := Pod{Name: "probe", Namespace: "netcheck", Labels: map[string]string{"app": "netcheck"},
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "netcheck"}}
	np := func(ns string, sel map[string]string) networkingv1.NetworkPolicy {
		return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	}
	for _, tt := range []struct {
		name string
		set  Set
		want bool
	}{
		{"none", Set{}, false},
		{"default deny in its namespace", Set{Network: []networkingv1.NetworkPolicy{np("netcheck", nil)}}, true},
		{"its labels", Set{Network: []networkingv1.NetworkPolicy{np("netcheck", map[string]string{"app": "netcheck"})}}, true},
		{"other labels", Set{Network: []networkingv1.NetworkPolicy{np("netcheck", map[string]string{"app": "web"})}}, false},
		{"another namespace", Set{Network: []networkingv1.NetworkPolicy{np("shop", nil)}}, false},
		{"a cluster policy on its namespace", Set{Cluster: []ClusterPolicy{{Name: "c", Subject: ClusterPeer{
			Namespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "netcheck"}}}}}}, true},
		{"a cluster policy on another", Set{Cluster: []ClusterPolicy{{Name: "c", Subject: ClusterPeer{
			Namespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "shop"}}}}}}, false},
	} {
		if got := tt.set.Selects(probe); got != tt.want {
			t.Errorf("%s: Selects = %v, want %v", tt.name, got, tt.want)
		}
	}
}
