// Package launch creates the probe pods, waits for them with one watch, and
// removes them. What the probes mean lives elsewhere (package probe).
package launch

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Labels and annotations every probe pod carries, so `netcheck cleanup` and
// concurrent runs can tell whose pod is whose.
const (
	LabelApp     = "app.kubernetes.io/name"
	LabelManaged = "app.kubernetes.io/managed-by"
	LabelRunID   = "netcheck.io/run-id"
	LabelRole    = "netcheck.io/role"
	AnnCreatedBy = "netcheck.io/created-by"
	AppName      = "kubectl-netcheck"
	Container    = "probe"
)

// Role is what a probe pod is for.
type Role string

// The two probe pods per node.
const (
	RolePod  Role = "pod"  // in the pod network, like the user's workloads
	RoleNode Role = "node" // hostNetwork, privileged: reads the node's facts
)

// PodOptions shape the probe pods.
type PodOptions struct {
	Namespace string
	RunID     string
	Image     string
	NodeImage string
	// Lifetime bounds the pod server-side: the container sleeps this long and
	// activeDeadlineSeconds kills the pod a little later, even if the plugin died.
	Lifetime  time.Duration
	CreatedBy string
	// Restricted shapes the pod probe for PodSecurity "restricted": no
	// capabilities at all and not root, so it cannot ping (busybox's ping
	// opens raw sockets only).
	Restricted bool
}

// Selector selects the pods of one run.
func Selector(runID string) string { return LabelRunID + "=" + runID }

// PodName is the deterministic name of a node's probe pod: short, unique
// per run, a valid DNS label.
func PodName(role Role, runID string, idx int) string {
	return fmt.Sprintf("netcheck-%s-%s-%d", role, runID, idx)
}

func objectMeta(o PodOptions, role Role, name, node string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: o.Namespace,
		Labels: map[string]string{
			LabelApp:     AppName,
			LabelManaged: AppName,
			LabelRunID:   o.RunID,
			LabelRole:    string(role),
		},
		Annotations: map[string]string{
			AnnCreatedBy:          o.CreatedBy,
			"netcheck.io/node":    node,
			"netcheck.io/purpose": "short-lived network probe; deleted when the run ends; safe to delete",
		},
	}
}

// Grace is the probe pods' termination grace, in seconds. Not 0: a zero
// grace removes the object at once while the kubelet may still run the
// privileged container; with a second the object stays until the kubelet
// has stopped it (sleep ignores SIGTERM as PID 1, so SIGKILL follows).
const Grace int64 = 1

// DeleteOptions delete a probe pod with Grace, never forcing.
func DeleteOptions() metav1.DeleteOptions {
	return metav1.DeleteOptions{GracePeriodSeconds: ptr.To(Grace)}
}

func sleepArgv(o PodOptions) []string {
	return []string{"sleep", strconv.Itoa(int(o.Lifetime.Seconds()))}
}

func deadline(o PodOptions) *int64 {
	// A margin over the sleep so the normal path ends first.
	return ptr.To(int64(o.Lifetime.Seconds()) + 10)
}

// limits: a probe asks for almost nothing and may burst to one CPU. Its
// work is short bursts of process starts (nsenter, nft, awk, ping): under
// a 100m limit the CFS quota stalled them 90 ms in every 100 ms, and a
// node's fact read took 0.5–1.0 s for 0.1 s of CPU. A shell script uses
// one CPU at most, so the limit bounds nothing it does but a runaway.
func limits() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("16Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("1"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
	}
}

// podProbeDrops is the container runtimes' default capability set less
// NET_RAW: ping keeps the one capability it needs. Adding NET_RAW instead
// (drop ALL, add NET_RAW) would be refused by PodSecurity baseline, which
// forbids adding it; dropping the rest is allowed everywhere.
var podProbeDrops = []corev1.Capability{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
	"MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// PodProbe is the unprivileged pod in the pod network, pinned to node,
// with NET_RAW as its only capability.
func PodProbe(o PodOptions, node string, idx int) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: objectMeta(o, RolePod, PodName(RolePod, o.RunID, idx), node),
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			ActiveDeadlineSeconds:         deadline(o),
			TerminationGracePeriodSeconds: ptr.To(Grace),
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            Container,
				Image:           o.Image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         sleepArgv(o),
				Resources:       limits(),
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: podProbeDrops},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			}},
		},
	}
	if o.Restricted {
		p.Spec.Containers[0].SecurityContext = RestrictedContext()
		// ping through an unprivileged ICMP socket (netcheck-ping) needs
		// the pod's group in this range: a namespaced sysctl that
		// PodSecurity (baseline and restricted) and the kubelet allow.
		p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ping_group_range", Value: "65534 65534"}}}
	}
	return p
}

// RestrictedContext passes PodSecurity "restricted": drop ALL, non-root
// (busybox's nobody), seccomp RuntimeDefault, no escalation, read-only root.
func RestrictedContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(int64(65534)),
		RunAsGroup:               ptr.To(int64(65534)),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// NodeProbe is the privileged hostNetwork+hostPID pod that sees the node's
// own network namespace and, through nsenter into PID 1's mount namespace,
// the host's iptables/conntrack tools. It only reads.
func NodeProbe(o PodOptions, node string, idx int) *corev1.Pod {
	img := o.NodeImage
	if img == "" {
		img = o.Image
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: objectMeta(o, RoleNode, PodName(RoleNode, o.RunID, idx), node),
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostNetwork:                   true,
			HostPID:                       true,
			DNSPolicy:                     corev1.DNSDefault,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			ActiveDeadlineSeconds:         deadline(o),
			TerminationGracePeriodSeconds: ptr.To(Grace),
			PriorityClassName:             "",
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            Container,
				Image:           img,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         sleepArgv(o),
				Resources:       limits(),
				SecurityContext: &corev1.SecurityContext{
					Privileged:             ptr.To(true),
					ReadOnlyRootFilesystem: ptr.To(true),
				},
			}},
		},
	}
}
