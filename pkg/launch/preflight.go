package launch

import (
	"context"
	"fmt"
	"strings"

	authv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Permission is one verb on one resource the run needs.
type Permission struct {
	Verb, Group, Resource, Subresource string
	Namespaced                         bool
}

func (p Permission) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	if p.Group != "" {
		r += "." + p.Group
	}
	return p.Verb + " " + r
}

// Needed is what every probing run needs.
var Needed = []Permission{
	{Verb: "list", Resource: "nodes"},
	{Verb: "create", Resource: "pods", Namespaced: true},
	{Verb: "delete", Resource: "pods", Namespaced: true},
	{Verb: "list", Resource: "pods", Namespaced: true},
	{Verb: "watch", Resource: "pods", Namespaced: true},
	{Verb: "create", Resource: "pods", Subresource: "exec", Namespaced: true},
}

// CheckAccess asks the API server, with SelfSubjectAccessReviews, whether
// the user may do everything the run needs, and names every missing
// permission in one message. It returns nil when reviews themselves are not
// allowed: the calls will tell then.
func CheckAccess(ctx context.Context, cs kubernetes.Interface, namespace string, perms []Permission) error {
	var missing []string
	for _, p := range perms {
		ssar := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource},
		}}
		if p.Namespaced {
			ssar.Spec.ResourceAttributes.Namespace = namespace
		}
		res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{})
		if err != nil {
			return nil
		}
		if !res.Status.Allowed {
			where := ""
			if p.Namespaced {
				where = fmt.Sprintf(" in namespace %q", namespace)
			}
			missing = append(missing, p.String()+where)
		}
	}
	if len(missing) > 0 {
		return fatalf("your credentials lack permissions netcheck needs:\n  - %s\n"+
			"  grant them (deploy/rbac.yaml has a ClusterRole), or use --probe-namespace with a namespace where you have them", strings.Join(missing, "\n  - "))
	}
	return nil
}

// Admission tells what the probe namespace admits.
type Admission struct {
	// NodeProbeRefused is the admission message when privileged pods are refused.
	NodeProbeRefused string
	// PodRestricted: the pod probe is admitted only in its restricted shape
	// (PodOptions.Restricted); the message is PodSecurity's for the other.
	PodRestricted string
}

// CheckAdmission creates both probe pods with dryRun=All: admission
// (PodSecurity, policy webhooks) answers without anything being created.
// A refused pod probe stops the run; a refused node probe only disables the
// node side, which the report then marks "not run". withNode false skips
// the node probe (the run will not launch it).
func CheckAdmission(ctx context.Context, cs kubernetes.Interface, o PodOptions, node string, withNode bool) (Admission, error) {
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	var a Admission
	if _, err := cs.CoreV1().Pods(o.Namespace).Create(ctx, PodProbe(o, node, 0), dry); err != nil {
		if !isPodSecurity(err) {
			return a, CreateError(err, PodProbe(o, node, 0))
		}
		// "restricted" refuses NET_RAW and root: try the shape it admits.
		r := o
		r.Restricted = true
		if _, rerr := cs.CoreV1().Pods(o.Namespace).Create(ctx, PodProbe(r, node, 0), dry); rerr != nil {
			return a, CreateError(rerr, PodProbe(r, node, 0))
		}
		a.PodRestricted = StatusMessage(err)
	}
	if !withNode {
		return a, nil
	}
	_, err := cs.CoreV1().Pods(o.Namespace).Create(ctx, NodeProbe(o, node, 0), dry)
	switch {
	case err == nil:
	case isPodSecurity(err):
		a.NodeProbeRefused = StatusMessage(err)
	default:
		return a, CreateError(err, NodeProbe(o, node, 0))
	}
	return a, nil
}

func isPodSecurity(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "PodSecurity")
}
