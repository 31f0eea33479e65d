package scenario

import (
	"net"
	"strconv"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/observe"
	"github.com/netcheck/kubectl-netcheck/pkg/probe"
)

// KindAPI is the report of `api`.
const KindAPI = "APICheck"

// API is `kubectl netcheck api`: the kubernetes Service checked as any
// Service, then from the pod probe GET /version through the ClusterIP
// (TLS and an answer, whatever anonymous access allows) and, with a
// service account, the one request the plugin made with its token.
//
// Requires: what Service requires; the account's request (made by the command).
type API struct {
	*Service
	Path           string
	ServiceAccount string // namespace/name; "" = anonymous only
	// AsAccount is the plugin's request as the account, nil without one.
	AsAccount *observe.Check
}

// Kind implements Scenario.
func (API) Kind() string { return KindAPI }

// Plan implements Scenario.
func (s API) Plan() (fanout.Plan, string) {
	p, skip := s.Service.Plan()
	in := s.In
	if skip != "" || in.Headless() {
		return p, skip
	}
	base := "https://" + net.JoinHostPort(in.ClusterIP, strconv.Itoa(int(in.Port.Port)))
	p.PodSpecs = append(p.PodSpecs, probe.Spec{Kind: observe.HTTP, ID: diagnose.APIVersionKey(base + "/version"),
		Argv: probe.HTTPArgv(base+"/version", s.Timeout), Classify: probe.ClassifyHTTP})
	return p, ""
}

// Diagnose implements Scenario.
func (s API) Diagnose(nodes []observe.Node) []diagnose.Finding {
	in := diagnose.APIInput{ServiceInput: s.In, Path: s.Path, ServiceAccount: s.ServiceAccount, AsAccount: s.AsAccount}
	in.Nodes = nodes
	return diagnose.API(in)
}
