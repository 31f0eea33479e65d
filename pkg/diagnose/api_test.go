package diagnose

import (
	"strconv"
	"strings"
	"testing"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

func TestAPIDiagnosis(t *testing.T) {
	const url = "https://10.98.0.5:80/api/v1/namespaces/shop/pods?limit=1"
	with := func(o observe.Outcome, detail string) func(*APIInput) {
		status, _ := strconv.Atoi(strings.TrimPrefix(detail, "HTTP ")) // as probe.ClassifyHTTP fills both
		return func(in *APIInput) {
			for i := range in.Nodes {
				in.Nodes[i].Pod.Checks = append(in.Nodes[i].Pod.Checks,
					observe.Check{Kind: observe.HTTP, ID: APIVersionKey("https://10.98.0.5:80/version"), Outcome: observe.OK, Detail: "HTTP 200", HTTPStatus: 200})
			}
			// The plugin's own request as the account: one answer, no node.
			in.AsAccount = &observe.Check{Kind: observe.HTTP, ID: APITokenKey(url), Outcome: o, Detail: detail, HTTPStatus: status}
		}
	}
	tests := []struct {
		name  string
		edit  func(*APIInput)
		cause Cause
		nodes string
		text  string
	}{
		{"allowed", with(observe.OK, "HTTP 200"), "", "", ""},
		{"403 is RBAC, with the grant", with(observe.HTTPError, "HTTP 403"), CauseRBACForbidden, "",
			"kubectl -n shop create role probe-list-pods --verb=list --resource=pods\nkubectl -n shop create rolebinding probe-list-pods --role=probe-list-pods --serviceaccount=shop:probe"},
		{"401 is the token", with(observe.HTTPError, "HTTP 401"), CauseAPIUnauthorized, "", "--service-account-issuer"},
		{"the plugin could not ask", with(observe.Error, "cannot request a token for the account"), CauseInconclusive, "", "was not judged"},
		{"a redirect is not followed", with(observe.HTTPError, "HTTP 302"), CauseInconclusive, "", "was not judged"},
		{"TLS fails behind a working connect", func(in *APIInput) {
			with(observe.OK, "HTTP 200")(in)
			in.Nodes[1].Pod.Checks[len(in.Nodes[1].Pod.Checks)-1] = observe.Check{Kind: observe.HTTP, ID: APIVersionKey("https://10.98.0.5:80/version"), Outcome: observe.TLSFailure, Detail: "got bad TLS record"}
		}, CauseAPITLS, "n2", "bad TLS record"},
		{"ClusterIP down: the Service verdict, no HTTP guess", func(in *APIInput) {
			with(observe.OK, "HTTP 200")(in)
			setPod(&in.ServiceInput, "n1", cipKey, observe.Timeout)
			setPod(&in.ServiceInput, "n2", cipKey, observe.Timeout)
			setPod(&in.ServiceInput, "n3", cipKey, observe.Timeout)
		}, CauseServicePath, "n1,n2,n3", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := APIInput{ServiceInput: svcInput(), ServiceAccount: "shop/probe", Path: "/api/v1/namespaces/shop/pods?limit=1"}
			tc.edit(&in)
			wantOne(t, API(in), tc.cause, tc.nodes, tc.text)
		})
	}
}

func TestParseAPIPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/api/v1/namespaces/shop/pods?limit=1", "list pods in namespace shop"},
		{"/api/v1/namespaces/shop/pods/web-1", "get pods web-1 in namespace shop"},
		{"/api/v1/namespaces/shop/pods/web-1/log", "get pods/log web-1 in namespace shop"},
		{"/apis/apps/v1/namespaces/shop/deployments", "list deployments.apps in namespace shop"},
		{"/api/v1/nodes", "list nodes cluster-wide"},
		{"/api/v1/namespaces", "list namespaces cluster-wide"},
		{"/api/v1/namespaces/shop", "get namespaces shop cluster-wide"},
		{"/version", "get /version cluster-wide"},
	}
	for _, tc := range tests {
		if got := ParseAPIPath(tc.path).describe(); got != tc.want {
			t.Errorf("ParseAPIPath(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
