package cmd

import (
	"context"
	"net/http"
	"net/http/httptest"
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
	want := "the cluster has CiliumNetworkPolicy objects: netcheck evaluates NetworkPolicy only; a flow those block reads as an unexplained drop"
	if got != want {
		t.Fatalf("note %q, want %q", got, want)
	}
}
