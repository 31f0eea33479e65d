package cmd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// The plugin asks as the account: the token it requested, over verified
// TLS, to the kubeconfig's server only, with no redirect followed.
func TestAsAccount(t *testing.T) {
	var gotAuth, gotPath string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("a redirect was followed: the token went elsewhere")
	}))
	defer elsewhere.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.RequestURI()
		switch {
		case strings.HasSuffix(r.URL.Path, "/secrets"):
			http.Redirect(w, r, elsewhere.URL, http.StatusFound)
		case strings.HasSuffix(r.URL.Path, "/pods"):
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	// The user's own credentials must not be what is sent.
	cfg := &rest.Config{Host: srv.URL, BearerToken: "the-users-own-token", TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	cs := fake.NewClientset()
	var asked *authenticationv1.TokenRequest
	cs.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		asked = a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		return true, &authenticationv1.TokenRequest{Status: authenticationv1.TokenRequestStatus{Token: "sa-token"}}, nil
	})
	ctx := context.Background()

	c := asAccount(ctx, cs, cfg, "shop", "web", "/api/v1/namespaces/shop/pods?limit=1", 3*time.Second)
	if c.Outcome != observe.HTTPError || c.HTTPStatus != 403 || gotAuth != "Bearer sa-token" || gotPath != "/api/v1/namespaces/shop/pods?limit=1" {
		t.Fatalf("check %+v; sent %q to %q", c, gotAuth, gotPath)
	}
	if asked == nil || *asked.Spec.ExpirationSeconds != accountTokenSeconds {
		t.Errorf("token request: %+v", asked)
	}
	if c := asAccount(ctx, cs, cfg, "shop", "web", "/api/v1/namespaces/shop/configmaps", 3*time.Second); c.Outcome != observe.OK {
		t.Errorf("allowed: %+v", c)
	}
	if c := asAccount(ctx, cs, cfg, "shop", "web", "/api/v1/namespaces/shop/secrets", 3*time.Second); c.Outcome != observe.HTTPError || !strings.Contains(c.Detail, "not followed") {
		t.Errorf("redirect: %+v", c)
	}
	// A server whose certificate the kubeconfig's CA did not sign gets no token.
	bad := *cfg
	bad.CAData = otherCA(t)
	gotAuth = ""
	if c := asAccount(ctx, cs, &bad, "shop", "web", "/version", 3*time.Second); c.Outcome != observe.Error || !strings.Contains(c.Detail, "certificate") || gotAuth != "" {
		t.Errorf("unverified TLS: %+v (sent %q)", c, gotAuth)
	}
}

// otherCA is a CA that signed nothing the test servers present.
func otherCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other-ca"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
