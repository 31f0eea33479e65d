package cmd

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

// A kubeconfig whose user is an auth-provider: oidc one (a valid, unexpired
// id-token: the provider sends it without asking the issuer) reaches the API
// server with that token, as with kubectl.
func TestOIDCKubeconfig(t *testing.T) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	token := seg(`{"alg":"none"}`) + "." + seg(fmt.Sprintf(`{"iss":"https://issuer.invalid","exp":%d}`, time.Now().Add(time.Hour).Unix())) + ".sig"
	got := make(chan string, 1)
	// TLS: clientcmd applies a user's credentials only to https servers.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("Authorization"):
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"NodeList","apiVersion":"v1","items":[]}`))
	}))
	defer srv.Close()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users:
- name: u
  user:
    auth-provider:
      name: oidc
      config: {client-id: netcheck, idp-issuer-url: "https://issuer.invalid", id-token: %q}
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, srv.URL, token)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kc
	rc, err := flags.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("no client for an oidc user: %v", err)
	}
	if _, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Fatalf("list nodes as the oidc user: %v", err)
	}
	if a := <-got; a != "Bearer "+token {
		t.Fatalf("Authorization %q, want the id-token", a)
	}
}
