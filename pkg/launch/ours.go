package launch

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// OwnedSelector lists candidate probe pods: both of netcheck's labels and
// a run id. A label alone is never enough to delete a pod (anyone may set
// app.kubernetes.io/name=kubectl-netcheck): Ours decides.
const OwnedSelector = LabelApp + "=" + AppName + "," + LabelManaged + "=" + AppName + "," + LabelRunID

// Ours says whether p is a probe pod netcheck made: its labels, its role
// and its name (PodName of that role and run id) all agree.
func Ours(p corev1.Pod) bool {
	l := p.Labels
	run, role := l[LabelRunID], Role(l[LabelRole])
	if l[LabelApp] != AppName || l[LabelManaged] != AppName || run == "" || (role != RolePod && role != RoleNode) {
		return false
	}
	idx, ok := strings.CutPrefix(p.Name, "netcheck-"+string(role)+"-"+run+"-")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(idx)
	return err == nil && n >= 0 && PodName(role, run, n) == p.Name
}
