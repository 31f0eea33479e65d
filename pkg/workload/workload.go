// Package workload finds the pods a `--from` names: the user's own
// workload, whose network identity the checks borrow. Nothing here changes
// them; it reads and picks one pod per node.
package workload

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// Ref is a parsed --from: a kind and name, or a label selector.
type Ref struct {
	Kind     string // "pod", "deployment", "statefulset", "daemonset", "replicaset"; "" for a selector
	Name     string
	Selector labels.Selector
	Input    string
}

func (r Ref) String() string { return r.Input }

// kinds maps what kubectl accepts to the kind.
var kinds = map[string]string{
	"pod": "pod", "pods": "pod", "po": "pod",
	"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
	"statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
	"daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
	"replicaset": "replicaset", "replicasets": "replicaset", "rs": "replicaset",
}

// Kinds lists the accepted kinds, for completion and errors.
func Kinds() []string { return []string{"pod", "deployment", "statefulset", "daemonset", "replicaset"} }

// Parse reads KIND/NAME (kubectl's short names too) or a label selector.
func Parse(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Ref{}, fmt.Errorf("--from is empty: give KIND/NAME (e.g. deployment/web) or a label selector (app=web)")
	}
	if kind, name, ok := strings.Cut(s, "/"); ok {
		k, known := kinds[strings.ToLower(kind)]
		if !known {
			return Ref{}, fmt.Errorf("--from %q: unknown kind %q; use one of %s, or a label selector", s, kind, strings.Join(Kinds(), ", "))
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return Ref{}, fmt.Errorf("--from %q: %q is not a valid name: %s", s, name, strings.Join(errs, "; "))
		}
		return Ref{Kind: k, Name: name, Input: s}, nil
	}
	sel, err := labels.Parse(s)
	if err != nil || sel.Empty() {
		return Ref{}, fmt.Errorf("--from %q: neither KIND/NAME nor a label selector (%v)", s, err)
	}
	return Ref{Selector: sel, Input: s}, nil
}

// Pods lists the pods the ref names in namespace ns.
func Pods(ctx context.Context, c kubernetes.Interface, ns string, r Ref) ([]corev1.Pod, error) {
	var sel *metav1.LabelSelector
	switch r.Kind {
	case "":
		return list(ctx, c, ns, r.Selector.String())
	case "pod":
		p, err := c.CoreV1().Pods(ns).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return []corev1.Pod{*p}, nil
	case "deployment":
		d, err := c.AppsV1().Deployments(ns).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		sel = d.Spec.Selector
	case "statefulset":
		s, err := c.AppsV1().StatefulSets(ns).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		sel = s.Spec.Selector
	case "daemonset":
		d, err := c.AppsV1().DaemonSets(ns).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		sel = d.Spec.Selector
	case "replicaset":
		s, err := c.AppsV1().ReplicaSets(ns).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		sel = s.Spec.Selector
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil, fmt.Errorf("%s has no usable pod selector", r)
	}
	return list(ctx, c, ns, s.String())
}

func list(ctx context.Context, c kubernetes.Interface, ns, sel string) ([]corev1.Pod, error) {
	l, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Member is the workload pod a node's checks run as.
type Member struct {
	Pod *corev1.Pod
	// UID finds its sandbox on the node; IP is its pod IP, parsed.
	UID string
	IP  netip.Addr
}

// uidPattern is a pod UID as the API server writes it; anything else never
// reaches a probe's argv.
var uidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// PerNode picks one usable pod per node (running, with a pod IP, in the pod
// network; ready first, then by name) and says why the others cannot be used.
func PerNode(pods []corev1.Pod) (map[string]Member, []string) {
	sorted := append([]corev1.Pod(nil), pods...)
	sort.Slice(sorted, func(i, j int) bool {
		if ri, rj := ready(sorted[i]), ready(sorted[j]); ri != rj {
			return ri
		}
		return sorted[i].Name < sorted[j].Name
	})
	out := map[string]Member{}
	var unusable []string
	for i := range sorted {
		p := &sorted[i]
		ip, err := netip.ParseAddr(p.Status.PodIP)
		switch {
		case p.Spec.NodeName == "":
			unusable = append(unusable, p.Name+": not scheduled")
		case p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil:
			unusable = append(unusable, fmt.Sprintf("%s: %s", p.Name, phase(p)))
		case p.Spec.HostNetwork:
			unusable = append(unusable, p.Name+": hostNetwork (it has the node's identity: use the node-side results)")
		case err != nil:
			unusable = append(unusable, p.Name+": no pod IP yet")
		case !uidPattern.MatchString(string(p.UID)):
			unusable = append(unusable, p.Name+": its UID is not a UUID")
		default:
			if _, taken := out[p.Spec.NodeName]; !taken {
				out[p.Spec.NodeName] = Member{Pod: p, UID: string(p.UID), IP: ip}
			}
		}
	}
	return out, unusable
}

func ready(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func phase(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	return strings.ToLower(string(p.Status.Phase))
}
