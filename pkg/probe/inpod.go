package probe

import (
	_ "embed"
)

// inPodScript runs a check inside a running pod's network namespace, from
// the node probe (privileged, hostPID): it finds a process of the pod by
// the pod's UID in /proc/*/cgroup (cgroupfs writes pod<uid>, the systemd
// driver pod<uid with underscores>), then nsenter -n. The check's own tools
// (busybox ping, nc, wget) are the node probe's; only the network is the
// pod's, so its policies, CNI rules and sidecar redirects apply. Resolver
// reads take the pod's /etc/resolv.conf. Nothing of the pod changes.
// Constant text: the UID and the argv arrive as parameters.
//
//go:embed inpod.sh
var inPodScript string

// InPodExit is the script's exit status when the pod has no process on
// the node (it ended, or moved).
const InPodExit = 125

// InPodArgv wraps argv to run in the network namespace of the pod with uid.
func InPodArgv(uid string, argv []string) []string {
	return append([]string{"sh", "-c", inPodScript, "netcheck-from", uid}, argv...)
}

// InPod wraps every spec to run in that pod's network namespace.
func InPod(uid string, specs []Spec) []Spec {
	out := make([]Spec, len(specs))
	for i, s := range specs {
		s.Argv = InPodArgv(uid, s.Argv)
		out[i] = s
	}
	return out
}
