package cmd

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netcheck/kubectl-netcheck/pkg/scenario"
)

// apiPath is what --path accepts: an absolute API path with a plain query,
// nothing a URL or a shell could read differently.
var apiPath = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*(\?[A-Za-z0-9._~=&%-]*)?$`)

// APIOptions is `kubectl netcheck api`: the kubernetes Service checked like
// any Service, then TLS and what a service account may do.
type APIOptions struct {
	ServiceOptions
	SA   string
	Path string
}

// NewCmdAPI builds the command.
func NewCmdAPI(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &APIOptions{ServiceOptions: *NewServiceOptions(streams)}
	o.ConfigFlags = flags
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Check that pods on every node reach the API server, and what a service account may do there",
		Long: strings.TrimSpace(`
Checks the path from pods to the Kubernetes API server: the kubernetes
Service in namespace default like any Service (its name, ClusterIP, each
API server endpoint directly, kube-proxy's rules), then TLS (GET /version),
then — with --service-account — one request made with that account's token.

It tells a timeout (route, kube-proxy, firewall) from a TLS failure from 401
(the token is not accepted) from 403 (RBAC: the network is fine; it prints
the Role and RoleBinding that would allow the request).

With --service-account the pod probe runs as that account, in the probe
namespace, with its token mounted; the token never leaves the pod.

Exit status: 0 healthy, 1 problems found, 2 could not run.`),
		Example: `  kubectl netcheck api
  kubectl netcheck api -n shop --service-account web --path /api/v1/namespaces/shop/configmaps`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCommand(c, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.SA, "service-account", "", "run the pod probe as this service account of the probe namespace and make one request with its token")
	_ = cmd.RegisterFlagCompletionFunc("service-account", o.completeWith(listServiceAccounts))
	cmd.Flags().StringVar(&o.Path, "path", "", "the request made with the token (default: list pods in the probe namespace)")
	cmd.Flags().StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "the cluster's DNS domain")
	return cmd
}

// Complete points at default/kubernetes; probes go where -n says.
func (o *APIOptions) Complete() error {
	if err := o.ProbeOptions.Complete(); err != nil {
		return err
	}
	o.Name, o.svcNamespace = "kubernetes", metav1.NamespaceDefault
	if o.Path == "" {
		o.Path = "/api/v1/namespaces/" + o.Namespace + "/pods?limit=1"
	}
	o.ServiceAccount = o.SA
	return nil
}

// Validate checks the account name and the path.
func (o *APIOptions) Validate() error {
	if o.SA != "" {
		if errs := validation.IsDNS1123Subdomain(o.SA); len(errs) > 0 {
			return cannotRun("--service-account %q is not a valid name: %s", o.SA, strings.Join(errs, "; "))
		}
	}
	if !apiPath.MatchString(o.Path) || strings.Contains(o.Path, "..") {
		return cannotRun("--path %q: give an absolute API path such as /api/v1/namespaces/default/pods", o.Path)
	}
	return o.ServiceOptions.Validate()
}

// Run probes and reports.
func (o *APIOptions) Run(parent context.Context) error {
	start := time.Now()
	ctx, stop, err := o.begin(parent)
	if err != nil {
		return err
	}
	defer stop()
	if o.SA != "" {
		_, err := o.Client.CoreV1().ServiceAccounts(o.Namespace).Get(ctx, o.SA, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return cannotRun("service account %q not found in namespace %q (the probe namespace): create it, or pass -n/--probe-namespace where it lives", o.SA, o.Namespace)
		}
		// Forbidden to read service accounts: the pod creation will tell.
	}
	sa := ""
	if o.SA != "" {
		sa = o.Namespace + "/" + o.SA
	}
	g, err := o.gather(ctx, func(s *scenario.Service) scenario.Scenario {
		return &scenario.API{Service: s, Path: o.Path, ServiceAccount: sa}
	})
	if err != nil {
		return err
	}
	targets := []string{g.desc}
	if sa != "" {
		targets = append(targets, "as "+sa+": GET "+o.Path)
	}
	return o.finish(g.sc, "api", targets, g.sel, g.run, start)
}
