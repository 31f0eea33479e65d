package diagnose

import (
	"fmt"
	"strings"

	"github.com/netcheck/kubectl-netcheck/pkg/observe"
)

// Causes `netcheck api` names on top of the Service ones.
const (
	CauseAPITLS          Cause = "api-tls"
	CauseAPIUnauthorized Cause = "api-unauthorized"
	CauseRBACForbidden   Cause = "rbac-forbidden"
)

// APIInput is the kubernetes Service as `netcheck service` sees it, plus
// what the pods asked the API server over HTTPS.
type APIInput struct {
	ServiceInput
	// ServiceAccount is "namespace/name" of the account asked about, ""
	// when none was.
	ServiceAccount string
	// Path is the request made with the account's token.
	Path string
	// AsAccount is that request, made by the plugin (the pods never hold
	// a token): the API server's answer does not depend on the node.
	AsAccount *observe.Check
}

// APIVersionKey is the key of the anonymous GET /version through the ClusterIP.
func APIVersionKey(url string) observe.CheckID {
	return observe.NewCheckID(observe.RoleAPIVersion, url, 0)
}

// APITokenKey is the key of the request made with the service account's token.
func APITokenKey(url string) observe.CheckID { return observe.NewCheckID(observe.RoleAsSA, url, 0) }

// API diagnoses the path from pods to the API server: the kubernetes
// Service like any Service (DNS, ClusterIP, endpoints, kube-proxy), then
// TLS, then what the service account may do. A 403 is RBAC, never the network.
func API(in APIInput) []Finding {
	out := Service(in.ServiceInput)
	for _, n := range in.Nodes {
		if n.Err != "" || n.Pod.Err != "" {
			continue
		}
		cip := check(n.Pod.Checks, SvcClusterIPKey(in.ClusterIP, in.Port.Port))
		if cip == nil || cip.Outcome != observe.OK {
			continue // the Service findings say why
		}
		node := []string{n.Name}
		for _, c := range n.Pod.Checks {
			switch {
			case c.ID.Role == observe.RoleAPIVersion && c.Outcome == observe.TLSFailure:
				out = append(out, Finding{Severity: Error, Cause: CauseAPITLS, Nodes: node, Target: c.ID.Addr,
					Summary:  "TCP to the API server connects but TLS fails: something on the path is not the API server (a proxy, a wrong port, a middlebox)",
					Evidence: []string{describeCheck("pod@"+n.Name, *cip), describeCheck("pod@"+n.Name, c)},
					Fix:      []string{"kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o wide   # do the endpoints point at the API server's secure port?"}})
			}
		}
	}
	if in.AsAccount != nil {
		if f := tokenFinding(in, *in.AsAccount); f != nil {
			out = append(out, *f)
		}
	}
	return merge(out)
}

func tokenFinding(in APIInput, c observe.Check) *Finding {
	ev := []string{describeCheck("plugin", c)}
	sans, sa, _ := strings.Cut(in.ServiceAccount, "/")
	user := "system:serviceaccount:" + sans + ":" + sa
	switch {
	case c.Outcome == observe.HTTPError && c.HTTPStatus == 403:
		req := ParseAPIPath(in.Path)
		return &Finding{Severity: Error, Cause: CauseRBACForbidden, Target: in.ServiceAccount,
			Summary: fmt.Sprintf("the network is fine: the API server answered, and RBAC forbids %s to %s — grant it with a Role and RoleBinding",
				user, req.describe()),
			Evidence: ev,
			Fix:      req.grant(sans, sa)}
	case c.Outcome == observe.HTTPError && c.HTTPStatus == 401:
		return &Finding{Severity: Error, Cause: CauseAPIUnauthorized, Target: in.ServiceAccount,
			Summary:  "the API server answered 401: it does not accept the service account's token (not RBAC, not the network)",
			Evidence: ev,
			Candidates: []string{"the token was issued for another audience or by another issuer (kube-apiserver --service-account-issuer / --api-audiences)",
				"the service-account signing keys changed (--service-account-key-file / --service-account-signing-key-file)",
				"the service account was deleted and recreated while the pod ran"}}
	case c.Outcome != observe.OK:
		return &Finding{Severity: Warning, Cause: CauseInconclusive, Target: in.ServiceAccount,
			Summary:  "what the service account may do was not judged: the plugin's request as the account failed",
			Evidence: ev}
	}
	return nil
}

// APIRequest is an API path read as an RBAC request.
type APIRequest struct {
	Verb, Group, Resource, Namespace, Name string
}

// ParseAPIPath reads /api/v1/namespaces/NS/RESOURCE[/NAME] and
// /apis/GROUP/VERSION/... the way the API server's RBAC sees them (GET of
// a collection is "list", of an object "get").
func ParseAPIPath(path string) APIRequest {
	path, _, _ = strings.Cut(path, "?")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	r := APIRequest{Verb: "get"}
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		r.Group = parts[1]
		parts = parts[3:]
	default:
		r.Resource = path // a non-resource URL (/version, /healthz)
		return r
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		r.Namespace = parts[1]
		parts = parts[2:]
	}
	if len(parts) == 0 {
		r.Resource = path
		return r
	}
	r.Resource = parts[0]
	if len(parts) >= 2 {
		r.Name = parts[1]
	} else {
		r.Verb = "list"
	}
	if len(parts) >= 3 {
		r.Resource += "/" + parts[2] // a subresource
	}
	return r
}

func (r APIRequest) resourceRef() string {
	if r.Group != "" {
		return r.Resource + "." + r.Group
	}
	return r.Resource
}

func (r APIRequest) describe() string {
	s := r.Verb + " " + r.resourceRef()
	if r.Name != "" {
		s += " " + r.Name
	}
	if r.Namespace != "" {
		s += " in namespace " + r.Namespace
	} else {
		s += " cluster-wide"
	}
	return s
}

// grant prints the smallest Role (or ClusterRole) and binding that allow
// the request, and the check that proves it.
func (r APIRequest) grant(sans, sa string) []string {
	user := "system:serviceaccount:" + sans + ":" + sa
	if strings.HasPrefix(r.Resource, "/") {
		return []string{fmt.Sprintf("kubectl create clusterrole %s-%s --verb=get --non-resource-url=%s", sa, "nonresource", r.Resource),
			fmt.Sprintf("kubectl create clusterrolebinding %s-nonresource --clusterrole=%s-nonresource --serviceaccount=%s:%s", sa, sa, sans, sa)}
	}
	name := sa + "-" + r.Verb + "-" + strings.ReplaceAll(strings.ReplaceAll(r.resourceRef(), "/", "-"), ".", "-")
	names := ""
	if r.Name != "" {
		names = " --resource-name=" + r.Name
	}
	check := fmt.Sprintf("kubectl auth can-i %s %s --as=%s", r.Verb, r.resourceRef(), user)
	if r.Namespace == "" {
		return []string{
			fmt.Sprintf("kubectl create clusterrole %s --verb=%s --resource=%s%s", name, r.Verb, r.resourceRef(), names),
			fmt.Sprintf("kubectl create clusterrolebinding %s --clusterrole=%s --serviceaccount=%s:%s", name, name, sans, sa),
			check}
	}
	return []string{
		fmt.Sprintf("kubectl -n %s create role %s --verb=%s --resource=%s%s", r.Namespace, name, r.Verb, r.resourceRef(), names),
		fmt.Sprintf("kubectl -n %s create rolebinding %s --role=%s --serviceaccount=%s:%s", r.Namespace, name, name, sans, sa),
		check + " -n " + r.Namespace}
}
