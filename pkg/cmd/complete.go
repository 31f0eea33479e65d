package cmd

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// Dynamic completion: names read from the cluster the flags point at.
// A shell must never see an error, so any failure completes nothing.

// lister returns the names of one kind of object.
type lister func(ctx context.Context, cs kubernetes.Interface, ns string) ([]string, error)

func listServices(ctx context.Context, cs kubernetes.Interface, ns string) ([]string, error) {
	return namesOf(cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}))
}

func listNodes(ctx context.Context, cs kubernetes.Interface, _ string) ([]string, error) {
	return namesOf(cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}))
}

func listServiceAccounts(ctx context.Context, cs kubernetes.Interface, ns string) ([]string, error) {
	return namesOf(cs.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{}))
}

// listWorkloads offers --from's KIND/NAME values: the namespace's
// deployments, statefulsets, daemonsets and pods.
func listWorkloads(ctx context.Context, cs kubernetes.Interface, ns string) ([]string, error) {
	lists := []struct {
		kind string
		list func() (runtime.Object, error)
	}{
		{"deployment", func() (runtime.Object, error) { return cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}) }},
		{"statefulset", func() (runtime.Object, error) { return cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{}) }},
		{"daemonset", func() (runtime.Object, error) { return cs.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{}) }},
		{"pod", func() (runtime.Object, error) { return cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}) }},
	}
	var out []string
	for _, l := range lists {
		names, err := namesOf(l.list())
		if err != nil {
			continue // a kind the user may not list: offer the others
		}
		for _, n := range names {
			out = append(out, l.kind+"/"+n)
		}
	}
	return out, nil
}

// namesOf reads the names out of any list the API returned.
func namesOf(list runtime.Object, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if a, err := meta.Accessor(it); err == nil {
			out = append(out, a.GetName())
		}
	}
	return out, nil
}

// completeWith completes one argument (or a flag's value) from list, in
// the namespace -n names (or the kubeconfig's).
func (o *ProbeOptions) completeWith(list lister) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cs, ns := o.Client, o.Namespace
		if cs == nil {
			cfg, err := o.ConfigFlags.ToRESTConfig()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			cfg.Timeout = 3 * time.Second
			if cs, err = kubernetes.NewForConfig(cfg); err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			if n, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace(); err == nil && n != "" {
				ns = n
			}
		}
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		names, err := list(ctx, cs, ns)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		sort.Strings(names)
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// firstArg completes only the first positional argument.
func firstArg(f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(c, args, prefix)
	}
}
