package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/netcheck/kubectl-netcheck/pkg/diagnose"
	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
	"github.com/netcheck/kubectl-netcheck/pkg/target"
	"github.com/netcheck/kubectl-netcheck/pkg/workload"
)

// DNSOptions is `kubectl netcheck dns`.
type DNSOptions struct {
	ProbeOptions
	Name       string
	DNSService string // namespace/name
	Outside    string // a name outside the cluster (--outside)
	From       string

	from workload.Ref
}

// NewDNSOptions holds the command's defaults.
func NewDNSOptions(streams genericiooptions.IOStreams) *DNSOptions {
	return &DNSOptions{ProbeOptions: NewProbeOptions(streams), Name: "kubernetes.default.svc.cluster.local", DNSService: "kube-system/kube-dns"}
}

// NewCmdDNS builds the command.
func NewCmdDNS(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewDNSOptions(streams)
	o.ConfigFlags = flags
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Check cluster DNS end to end, from a pod on every node",
		Long: templates.LongDesc(`
Checks cluster DNS: the DNS Service and its pods (ready, restarts), then from a
pod on every node the pod's resolv.conf, a lookup through the Service IP, and a
lookup sent to each DNS pod directly. Comparing them tells "no DNS server is
ready" from "the Service path on node X is broken (kube-proxy)" from "node X's
pods reach no DNS pod (route, overlay, FORWARD DROP)" from "the server itself
does not answer".

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		Example: templates.Examples(`  kubectl netcheck dns
  kubectl netcheck dns --name kubernetes.default.svc.corp.local

  # As a workload resolves: its pods' network namespace and resolv.conf (dnsPolicy, dnsConfig)
  kubectl netcheck dns -n shop --from deployment/web`),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Name, "name", o.Name, "the name every probe resolves (use your cluster domain)")
	cmd.Flags().StringVar(&o.DNSService, "dns-service", o.DNSService, "the cluster DNS Service, namespace/name")
	cmd.Flags().StringVar(&o.Outside, "outside", "", "a name outside the cluster that should resolve (e.g. one of your corporate zones): checks the way out, CoreDNS's forward upstream, and times the name through the pods' search list against a trailing dot")
	o.addFromFlags(cmd, &o.From)
	return cmd
}

// Validate checks --name besides the shared flags.
func (o *DNSOptions) Validate() error {
	if err := target.ValidateDNSName(o.Name); err != nil {
		return cannotRun("--name: %v", err)
	}
	if o.Outside != "" {
		if err := target.ValidateDNSName(o.Outside); err != nil {
			return cannotRun("--outside: %v", err)
		}
	}
	var err error
	if o.from, err = o.parseFrom(o.From); err != nil {
		return err
	}
	return o.ProbeOptions.Validate()
}

// readCorefile reads CoreDNS's Corefile from the ConfigMap the DNS pods
// (in namespace ns) mount. Unreadable is not fatal: the findings say so.
func readCorefile(ctx context.Context, client kubernetes.Interface, ns string, pods []corev1.Pod) diagnose.Corefile {
	name := scenario.CorefileConfigMap(pods)
	if name == "" {
		return diagnose.Corefile{Source: "the DNS pods", Err: "they mount no ConfigMap: no Corefile to read"}
	}
	c := diagnose.Corefile{Source: "ConfigMap " + ns + "/" + name, ConfigMap: ns + "/" + name}
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		c.Err = "not read: " + err.Error()
		return c
	}
	c.Text = cm.Data["Corefile"]
	return c
}

// clusterCorefile is readCorefile for the default DNS Service
// (kube-system/kube-dns), for commands that resolve outside names.
func clusterCorefile(ctx context.Context, client kubernetes.Interface) diagnose.Corefile {
	svc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		return diagnose.Corefile{Source: "Service kube-system/kube-dns", Err: "not read: " + err.Error()}
	}
	pods, err := client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return diagnose.Corefile{Source: "the DNS pods", Err: "not listed: " + err.Error()}
	}
	return readCorefile(ctx, client, "kube-system", pods.Items)
}

// previousLoops reads the end of the previous run's log of each DNS pod
// that restarted, for the loop plugin's fatal line (servers[i] is pods[i]).
// A log the API refuses is left out: the finding is then not named.
func previousLoops(ctx context.Context, client kubernetes.Interface, ns string, pods []corev1.Pod, servers []diagnose.DNSServer) bool {
	found := false
	tail, limit := int64(50), int64(16<<10)
	for i := range servers {
		if servers[i].Restarts == 0 || i >= len(pods) {
			continue
		}
		raw, err := client.CoreV1().Pods(ns).GetLogs(pods[i].Name, &corev1.PodLogOptions{Previous: true, TailLines: &tail, LimitBytes: &limit}).DoRaw(ctx)
		if err != nil {
			servers[i].LogErr = err.Error()
			continue
		}
		if l := diagnose.LoopLine(string(raw)); l != "" {
			servers[i].Loop, found = l, true
		}
	}
	return found
}

// serversAndPods reads the DNS Service and the pods behind it.
func (o *DNSOptions) serversAndPods(ctx context.Context) (*corev1.Service, []diagnose.DNSServer, []corev1.Pod, error) {
	ns, name, ok := strings.Cut(o.DNSService, "/")
	if !ok {
		return nil, nil, nil, cannotRun("--dns-service %q: give namespace/name", o.DNSService)
	}
	svc, err := o.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil, cannotRun("DNS Service %s not found: pass yours with --dns-service namespace/name", o.DNSService)
	}
	if err != nil {
		return nil, nil, nil, apiError("read the DNS Service "+o.DNSService, err)
	}
	pods, err := o.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return nil, nil, nil, apiError("list the DNS pods", err)
	}
	return svc, scenario.DNSServers(pods.Items), pods.Items, nil
}

// Run probes and reports.
func (o *DNSOptions) Run(parent context.Context) error {
	start := time.Now()
	ctx, stop, err := o.begin(parent)
	if err != nil {
		return err
	}
	defer stop()
	svc, servers, pods, err := o.serversAndPods(ctx)
	if err != nil {
		return err
	}
	clusterIP := svc.Spec.ClusterIP
	ns, _, _ := strings.Cut(o.DNSService, "/")
	in := diagnose.DNSInput{Service: o.DNSService, ClusterIP: clusterIP, Name: o.Name, Servers: servers, Outside: o.Outside, ServiceIPs: svc.Spec.ClusterIPs}
	dual := diagnose.DNSDualStack(servers)
	var corefile *diagnose.Corefile
	if looped := previousLoops(ctx, o.Client, ns, pods, servers); o.Outside != "" || looped || dual {
		c := readCorefile(ctx, o.Client, ns, pods)
		corefile = &c
		if o.Outside != "" || looped {
			in.Forward = c.ForwardFor(o.Outside) // "": the root zone's
		}
	}
	noAAAA := ""
	if dual {
		// The second family: which name must answer AAAA (the Corefile is
		// read for its pod records and for what filters AAAA).
		in.Corefile = *corefile
		in.AAAA, noAAAA = scenario.DNSAAAAName(*svc, servers, pods, corefile.Text, o.Name)
	}
	nl, nlNote := readNodeLocal(ctx, o.Client, svc, o.Name)
	in.NodeLocal = nl
	sel, err := o.selectNodes(ctx)
	if err != nil {
		return err
	}
	sc := scenario.DNS{In: in}
	if o.From != "" {
		if sel, sc.As, _, err = o.asWorkload(ctx, o.from, sel); err != nil {
			return err
		}
	}
	run, err := o.probe(ctx, sc, sel)
	if err != nil {
		return err
	}
	if n := diagnose.SearchExpansion(o.Outside, run.Nodes); o.Outside != "" && n != "" {
		run.Notes = append(run.Notes, n)
	}
	run.Notes = append(run.Notes, diagnose.DNSFamilyNotes(in, noAAAA)...)
	in.Nodes = run.Nodes
	switch {
	case nlNote != "":
		run.Notes = append(run.Notes, nlNote)
	case nl != nil:
		run.Notes = append(run.Notes, diagnose.NodeLocalNote(*nl))
	default:
		if n := diagnose.NodeLocalUnseen(in); n != "" {
			run.Notes = append(run.Notes, n)
		}
	}
	return o.finish(sc, "dns", []string{fmt.Sprintf("%s (%s) for %s", o.DNSService, clusterIP, o.Name)}, sel, run, start)
}
