package cmd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Policy kinds beside NetworkPolicy are named when objects of them exist,
// and silence when the API does not serve them or has none.
func TestOtherPoliciesNote(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/apis/cilium.io/v2/ciliumnetworkpolicies":
			_, _ = w.Write([]byte(`{"kind":"CiliumNetworkPolicyList","items":[{"metadata":{"name":"x"}}]}`))
		case "/apis/crd.projectcalico.org/v1/globalnetworkpolicies":
			_, _ = w.Write([]byte(`{"kind":"GlobalNetworkPolicyList","items":[]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	o := &ProbeOptions{Client: cs}
	got := o.otherPoliciesNote(context.Background())
	want := "the cluster has CiliumNetworkPolicy objects: netcheck evaluates NetworkPolicy and network-policy-api's cluster policies only; a flow those block reads as an unexplained drop"
	if got != want {
		t.Fatalf("note %q, want %q", got, want)
	}
}

// The newest served version of each cluster policy kind is read; a kind not
// served is absent, a refused one is a note.
func TestClusterPoliciesRead(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies":
			_, _ = w.Write([]byte(`{"kind":"ClusterNetworkPolicyList","items":[{"metadata":{"name":"deny-ext"},"spec":{"tier":"Admin","priority":3,"subject":{"namespaces":{}},"egress":[{"action":"Deny","to":[{"networks":["198.19.0.0/24"]}]}]}}]}`))
		case "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies":
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	o := &ProbeOptions{Client: cs}
	ps, note := o.clusterPolicies(context.Background())
	if len(ps) != 1 || ps[0].Ref() != "ClusterNetworkPolicy/deny-ext" || ps[0].Tier != "Admin" || len(ps[0].Egress) != 1 {
		t.Fatalf("policies %+v", ps)
	}
	if want := "cluster-scoped policies not read: AdminNetworkPolicy (Forbidden)"; !strings.HasPrefix(note, want) {
		t.Fatalf("note %q, want it to start with %q", note, want)
	}
	want := []string{"/apis/policy.networking.k8s.io/v1beta1/clusternetworkpolicies", "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies",
		"/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies", "/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies"}
	if strings.Join(asked, " ") != strings.Join(want, " ") {
		t.Fatalf("asked %v, want %v", asked, want)
	}
}
