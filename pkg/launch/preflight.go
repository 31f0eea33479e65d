package launch

import (
	"context"
	"fmt"
	"strings"
	"sync"

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
	// The reviews are independent: asked side by side they cost one round
	// trip, not len(perms) of them, before the first probe pod is created.
	allowed := make([]bool, len(perms))
	failed := make([]bool, len(perms))
	var wg sync.WaitGroup
	for i, p := range perms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ssar := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource},
			}}
			if p.Namespaced {
				ssar.Spec.ResourceAttributes.Namespace = namespace
			}
			res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{})
			if err != nil {
				failed[i] = true
				return
			}
			allowed[i] = res.Status.Allowed
		}()
	}
	wg.Wait()
	var missing []string
	for i, p := range perms {
		if failed[i] {
			return nil
		}
		if !allowed[i] {
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
	// The node probe's answer does not depend on the pod probe's: both are
	// asked at once, one round trip before the first real create.
	var nodeErr error
	var wg sync.WaitGroup
	if withNode {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, nodeErr = cs.CoreV1().Pods(o.Namespace).Create(ctx, NodeProbe(o, node, 0), dry)
		}()
	}
	podErr := func() error {
		_, err := cs.CoreV1().Pods(o.Namespace).Create(ctx, PodProbe(o, node, 0), dry)
		if err == nil {
			return nil
		}
		if !isPodSecurity(err) {
			return CreateError(err, PodProbe(o, node, 0))
		}
		// "restricted" refuses NET_RAW and root: try the shape it admits.
		r := o
		r.Restricted = true
		if _, rerr := cs.CoreV1().Pods(o.Namespace).Create(ctx, PodProbe(r, node, 0), dry); rerr != nil {
			return CreateError(rerr, PodProbe(r, node, 0))
		}
		a.PodRestricted = StatusMessage(err)
		return nil
	}()
	wg.Wait()
	if podErr != nil {
		return a, podErr
	}
	switch {
	case !withNode || nodeErr == nil:
	case isPodSecurity(nodeErr):
		a.NodeProbeRefused = StatusMessage(nodeErr)
	default:
		return a, CreateError(nodeErr, NodeProbe(o, node, 0))
	}
	return a, nil
}

func isPodSecurity(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "PodSecurity")
}
