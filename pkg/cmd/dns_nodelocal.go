package cmd

import (
	"context"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
)

// nodeLocalSelectors find a NodeLocal DNSCache's pods by the labels its
// usual installs give them: k8s.io/dns's manifest and most charts
// (k8s-app=node-local-dns), Kubespray (k8s-app=nodelocaldns), charts in
// the recommended labels' style.
var nodeLocalSelectors = []string{"k8s-app in (node-local-dns,nodelocaldns)", "app.kubernetes.io/name=node-local-dns"}

// nodeLocalUpstreamPillar is the placeholder node-cache replaces, when it
// starts, with the ClusterIP of its upstream Service (-upstreamsvc,
// kube-dns-upstream by default): the ConfigMap never holds the address.
const nodeLocalUpstreamPillar = "__PILLAR__CLUSTER__DNS__"

// readNodeLocal finds a NodeLocal DNSCache in kube-system: its pods, the
// address it listens at and where it forwards the cluster's names (name's
// zone). Nil when none runs; a list the API refuses is a note, not an
// error: the rest of `dns` stands without it.
func readNodeLocal(ctx context.Context, client kubernetes.Interface, dns *corev1.Service, name string) (*diagnose.NodeLocal, string) {
	const ns = "kube-system"
	var pods *corev1.PodList
	for _, sel := range nodeLocalSelectors {
		var err error
		pods, err = client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, "NodeLocal DNSCache not looked for: listing pods " + sel + " in " + ns + ": " + err.Error()
		}
		if len(pods.Items) > 0 {
			break
		}
	}
	if len(pods.Items) == 0 {
		return nil, ""
	}
	nl := &diagnose.NodeLocal{Pods: scenario.DNSServers(pods.Items)}
	for _, o := range pods.Items[0].OwnerReferences {
		if o.Kind == "DaemonSet" {
			nl.DaemonSet = ns + "/" + o.Name
		}
	}
	nl.Corefile = readCorefile(ctx, client, ns, pods.Items)
	nl.Addr = diagnose.NodeLocalAddr(nl.Corefile.Text, dns.Spec.ClusterIPs)
	nl.Upstream = nl.Corefile.ForwardFor(name)
	svcName := ""
	if strings.Contains(nl.Upstream.Line, nodeLocalUpstreamPillar) {
		svcName = upstreamSvcFlag(pods.Items[0])
	}
	nl.UpstreamService = upstreamService(ctx, client, ns, nl.Upstream.Targets, svcName, dns.Spec.Selector)
	if s := nl.UpstreamService; s != nil && len(nl.Upstream.Targets) == 0 {
		nl.Upstream.Targets = []string{s.ClusterIP} // what node-cache put in place of the pillar
	}
	return nl, ""
}

// upstreamSvcFlag is node-cache's -upstreamsvc argument, else its default.
func upstreamSvcFlag(p corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		args := append(append([]string{}, c.Command...), c.Args...)
		for i, a := range args {
			a = strings.TrimLeft(a, "-")
			if v, ok := strings.CutPrefix(a, "upstreamsvc="); ok {
				return v
			}
			if a == "upstreamsvc" && i+1 < len(args) {
				return args[i+1]
			}
		}
	}
	return "kube-dns-upstream"
}

// upstreamService is the Service in ns the cache forwards to — the one
// named, or the one whose ClusterIP is a forward target — with its ready
// endpoints. Nil when none is.
func upstreamService(ctx context.Context, client kubernetes.Interface, ns string, targets []string, name string, want map[string]string) *diagnose.UpstreamService {
	svcs, err := client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	for _, s := range svcs.Items {
		named := s.Name == name || (name == "" && forwardsTo(targets, s.Spec.ClusterIPs))
		if !named {
			continue
		}
		u := &diagnose.UpstreamService{Name: ns + "/" + s.Name, ClusterIP: s.Spec.ClusterIP, Selector: s.Spec.Selector, Want: want}
		slices, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + s.Name})
		if err == nil {
			for _, sl := range slices.Items {
				for _, e := range sl.Endpoints {
					if e.Conditions.Ready == nil || *e.Conditions.Ready {
						u.Ready++
					}
				}
			}
		}
		return u
	}
	return nil
}

func forwardsTo(targets, ips []string) bool {
	for _, t := range targets {
		a, err := netip.ParseAddr(t)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if b, err := netip.ParseAddr(ip); err == nil && a == b {
				return true
			}
		}
	}
	return false
}
