package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/fanout"
	"github.com/netcheck/kubectl-netcheck/pkg/launch"
	"github.com/netcheck/kubectl-netcheck/pkg/netpol"
	"github.com/netcheck/kubectl-netcheck/pkg/plan"
	"github.com/netcheck/kubectl-netcheck/pkg/workload"
	"github.com/spf13/cobra"
)

// fromHelp is --from's flag text, shared by the commands that take it.
const fromHelp = "run the pod-side checks as this workload: KIND/NAME (pod, deployment, statefulset, daemonset, replicaset) " +
	"or a label selector, in the current namespace. One of its running pods per node; its network namespace is entered " +
	"from the node probe, so its NetworkPolicies and CNI rules apply. The pods are not changed"

// addFromFlags registers --from (into from) and --from-ephemeral.
func (o *ProbeOptions) addFromFlags(cmd *cobra.Command, from *string) {
	cmd.Flags().StringVar(from, "from", "", fromHelp)
	_ = cmd.RegisterFlagCompletionFunc("from", o.completeWorkloads())
	cmd.Flags().BoolVar(&o.FromEphemeral, "from-ephemeral", false, "with --from, where no node probe may run (PodSecurity): add an ephemeral busybox "+
		"container to each workload pod used and run the checks there. Kubernetes cannot remove it: it stays, terminated, in the pod's spec "+
		"until the pod is replaced. Needs update on pods/ephemeralcontainers and create on pods/exec in the workload's namespace")
}

// parseFrom reads --from ("" when not given) and checks that
// --from-ephemeral comes with it.
func (o *ProbeOptions) parseFrom(from string) (workload.Ref, error) {
	if from == "" {
		if o.FromEphemeral {
			return workload.Ref{}, cannotRun("--from-ephemeral needs --from <workload>: it says how --from runs its checks")
		}
		return workload.Ref{}, nil
	}
	ref, err := workload.Parse(from)
	if err != nil {
		return ref, cannotRun("%v", err)
	}
	return ref, nil
}

// workloadNS is where --from looks: the current namespace.
func (o *ProbeOptions) workloadNS() string {
	if o.WorkloadNamespace != "" {
		return o.WorkloadNamespace
	}
	return o.Namespace
}

// asWorkload narrows the selection to the nodes that run a pod of the
// workload and says, per node, which pod the checks run as. The others are
// listed as skipped, with the reason.
func (o *ProbeOptions) asWorkload(ctx context.Context, ref workload.Ref, sel plan.Selected) (plan.Selected, map[string]fanout.Workload, map[string]workload.Member, error) {
	pods, err := workload.Pods(ctx, o.Client, o.workloadNS(), ref)
	switch {
	case apierrors.IsNotFound(err):
		return sel, nil, nil, cannotRun("--from %s: not found in namespace %q (use -n for the workload's namespace)", ref, o.workloadNS())
	case err != nil:
		return sel, nil, nil, apiError(fmt.Sprintf("read %s in namespace %s", ref, o.workloadNS()), err)
	}
	members, unusable := workload.PerNode(pods)
	if len(members) == 0 {
		why := "it has no pods"
		if len(unusable) > 0 {
			why = "none of its pods can be used: " + strings.Join(unusable, "; ")
		}
		return sel, nil, nil, cannotRun("--from %s in namespace %q: %s", ref, o.workloadNS(), why)
	}
	as := map[string]fanout.Workload{}
	out := sel
	out.Nodes = nil
	for _, n := range sel.Nodes {
		m, ok := members[n.Name]
		if !ok {
			out.Skipped = append(out.Skipped, plan.Skipped{Node: n.Name, Reason: fmt.Sprintf("no running pod of %s on this node", ref)})
			continue
		}
		out.Nodes = append(out.Nodes, n)
		as[n.Name] = fanout.Workload{Pod: m.Pod.Namespace + "/" + m.Pod.Name, UID: m.UID, IP: m.IP.String(), IPs: fanout.PodIPs(m.Pod), Ephemeral: o.FromEphemeral}
	}
	if len(out.Nodes) == 0 {
		var where []string
		for node := range members {
			where = append(where, node)
		}
		sort.Strings(where)
		return out, nil, nil, cannotRun("--from %s: its pods run on %s, none of the selected nodes", ref, strings.Join(where, ", "))
	}
	return out, as, members, nil
}

// policies reads the NetworkPolicies of the namespaces the flows start in
// and the identity each node's pod side runs as: the workload's pod, or the
// pod probe with its own labels. A refused read leaves them unjudged, with
// a note.
func (o *ProbeOptions) policies(ctx context.Context, sel plan.Selected, members map[string]workload.Member, more ...string) (diagnose.Policies, string) {
	ns := o.Namespace
	if members != nil {
		ns = o.workloadNS()
	}
	var items []networkingv1.NetworkPolicy
	seen := map[string]bool{}
	for _, n := range append([]string{ns}, more...) {
		if seen[n] {
			continue
		}
		seen[n] = true
		list, err := o.Client.NetworkingV1().NetworkPolicies(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			return diagnose.Policies{}, unreadNote("list networkpolicies in "+n, "NetworkPolicies were not judged", err)
		}
		items = append(items, list.Items...)
	}
	nsLabels := map[string]string{"kubernetes.io/metadata.name": ns}
	if n, err := o.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		nsLabels = n.Labels
	}
	cluster, note := o.clusterPolicies(ctx)
	p := diagnose.Policies{Read: true, List: items, Cluster: cluster, Clients: map[string]netpol.Pod{}, AsWorkload: members != nil}
	for _, n := range sel.Nodes {
		if m, ok := members[n.Name]; ok {
			p.Clients[n.Name] = netpol.Pod{Name: m.Pod.Name, Namespace: ns, Labels: m.Pod.Labels, NamespaceLabels: nsLabels}
			continue
		}
		p.Clients[n.Name] = netpol.Pod{Name: diagnose.ProbeClient, Namespace: ns, NamespaceLabels: nsLabels,
			Labels: map[string]string{launch.LabelApp: launch.AppName, launch.LabelManaged: launch.AppName, launch.LabelRole: string(launch.RolePod)}}
	}
	return p, note
}

// clusterPolicies reads the cluster-scoped policies of
// sigs.k8s.io/network-policy-api that the API serves, the newest version
// of each kind. A kind not served is simply absent; a refused read is a
// note, since its rules may decide flows the verdicts then cannot explain.
func (o *ProbeOptions) clusterPolicies(ctx context.Context) ([]netpol.ClusterPolicy, string) {
	rc := o.Client.Discovery().RESTClient()
	if rc == nil || reflect.ValueOf(rc).IsNil() {
		return nil, ""
	}
	var out []netpol.ClusterPolicy
	done := map[string]bool{}
	var refused []string
	for _, k := range netpol.ClusterKinds {
		if done[k.Kind] {
			continue
		}
		body, err := rc.Get().AbsPath(k.Path).Do(ctx).Raw()
		switch {
		case apierrors.IsNotFound(err):
			continue // this version is not served
		case err != nil:
			refused = append(refused, fmt.Sprintf("%s (%v)", k.Kind, apierrors.ReasonForError(err)))
			done[k.Kind] = true
			continue
		}
		ps, err := netpol.DecodeClusterPolicies(k.Kind, body)
		if err != nil {
			refused = append(refused, fmt.Sprintf("%s (%v)", k.Kind, err))
		}
		out = append(out, ps...)
		done[k.Kind] = true
	}
	if len(refused) > 0 {
		return out, "cluster-scoped policies not read: " + strings.Join(refused, ", ") + ": flows they decide are not explained (grant list on them to judge them)"
	}
	return out, ""
}

// policyNote says, without --from, that policies of other namespaces were
// not in play: the probe has its own labels and namespace.
func (o *ProbeOptions) policyNote(ctx context.Context, p diagnose.Policies) string {
	if p.AsWorkload || !p.Read {
		return ""
	}
	all, err := o.Client.NetworkingV1().NetworkPolicies("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	others := map[string]bool{}
	for _, np := range all.Items {
		if np.Namespace != o.Namespace {
			others[np.Namespace] = true
		}
	}
	if len(others) == 0 {
		return ""
	}
	var names []string
	for ns := range others {
		names = append(names, ns)
	}
	sort.Strings(names)
	return fmt.Sprintf("NetworkPolicies exist in namespace(s) %s; the pod probe ran with its own labels in %q, so they did not apply to it: use --from <workload> to check as one of your pods",
		strings.Join(names, ", "), o.Namespace)
}

// otherPolicyKinds are policy APIs beside NetworkPolicy and
// network-policy-api's that a cluster may enforce and netcheck does not
// evaluate.
var otherPolicyKinds = []struct{ path, kind string }{
	{"/apis/cilium.io/v2/ciliumnetworkpolicies", "CiliumNetworkPolicy"},
	{"/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies", "CiliumClusterwideNetworkPolicy"},
	{"/apis/crd.projectcalico.org/v1/networkpolicies", "Calico NetworkPolicy"},
	{"/apis/crd.projectcalico.org/v1/globalnetworkpolicies", "Calico GlobalNetworkPolicy"},
	{"/apis/crd.antrea.io/v1beta1/clusternetworkpolicies", "Antrea ClusterNetworkPolicy"},
}

// otherPoliciesNote names the policy kinds beside NetworkPolicy that exist
// on the cluster (at least one object), which the verdicts do not evaluate:
// a flow they block reads as an unexplained drop. "" when none is served.
func (o *ProbeOptions) otherPoliciesNote(ctx context.Context) string {
	rc := o.Client.Discovery().RESTClient()
	if rc == nil || reflect.ValueOf(rc).IsNil() {
		return ""
	}
	var present []string
	for _, k := range otherPolicyKinds {
		body, err := rc.Get().AbsPath(k.path).Param("limit", "1").Do(ctx).Raw()
		if err != nil {
			continue // not served, or not readable: nothing to say
		}
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if json.Unmarshal(body, &list) == nil && len(list.Items) > 0 {
			present = append(present, k.kind)
		}
	}
	if len(present) == 0 {
		return ""
	}
	return "the cluster has " + strings.Join(present, ", ") + " objects: netcheck evaluates NetworkPolicy and network-policy-api's cluster policies only; a flow those block reads as an unexplained drop"
}
