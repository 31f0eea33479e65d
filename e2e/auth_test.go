//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuthPlugins: kubeconfigs whose users log in as kubectl's do. An exec
// credential plugin (a script printing an ExecCredential with a token the
// lab's API server accepts) runs node to a verdict; an auth-provider: oidc
// user reaches the API server and is told 401 — the provider loaded (without
// client-go's auth plugins the run fails before any request).
func TestAuthPlugins(t *testing.T) {
	lab(t)
	kubectl(t, "-n", "default", "create", "serviceaccount", "nc-exec-user")
	kubectl(t, "create", "clusterrolebinding", "nc-exec-user", "--clusterrole=cluster-admin", "--serviceaccount=default:nc-exec-user")
	t.Cleanup(func() {
		kubectl(t, "delete", "clusterrolebinding", "nc-exec-user", "--ignore-not-found")
		kubectl(t, "-n", "default", "delete", "serviceaccount", "nc-exec-user", "--ignore-not-found")
	})
	token := strings.TrimSpace(kubectl(t, "-n", "default", "create", "token", "nc-exec-user"))
	server := strings.TrimSpace(kubectl(t, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"))
	dir := t.TempDir()
	plugin := filepath.Join(dir, "credential.sh")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s' '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}'\n", token)
	if err := os.WriteFile(plugin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, user string) string {
		kc := filepath.Join(dir, name)
		cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: lab, cluster: {server: %q, insecure-skip-tls-verify: true}}]\n"+
			"users:\n- name: u\n  user:\n%s\ncontexts: [{name: lab, context: {cluster: lab, user: u, namespace: default}}]\ncurrent-context: lab\n", server, user)
		if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return kc
	}
	execKC := write("exec.kubeconfig", fmt.Sprintf("    exec: {apiVersion: client.authentication.k8s.io/v1, command: %q, interactiveMode: Never}", plugin))
	healthy(t, netcheck(t, 2*time.Minute, "node", "--kubeconfig", execKC, "-o", "json"))

	oidcKC := write("oidc.kubeconfig", "    auth-provider:\n      name: oidc\n      config: {client-id: netcheck, idp-issuer-url: \"https://issuer.invalid\", id-token: \""+
		"eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5pbnZhbGlkIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2ln\"}")
	r := netcheck(t, time.Minute, "node", "--kubeconfig", oidcKC)
	if r.code != 2 || !strings.Contains(r.stderr, "rejected your credentials") || strings.Contains(r.stderr, "no Auth Provider") {
		t.Fatalf("oidc user: exit %d\n%s", r.code, r.stderr)
	}
	noProbePodsLeft(t)
}
