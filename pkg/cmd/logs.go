package cmd

import (
	"flag"
	"io"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// klogFlags wires client-go's logging as kubectl does: silent unless -v
// asks (then to stderr). Without -v, transport chatter ("Unknown stream
// id") would land among the plugin's own messages.
type klogFlags struct{ fs *flag.FlagSet }

func newKlogFlags() klogFlags {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	return klogFlags{fs: fs}
}

// add binds -v/--v and --vmodule to the command's persistent flags.
func (k klogFlags) add(flags *pflag.FlagSet) {
	for _, name := range []string{"v", "vmodule"} {
		pf := pflag.PFlagFromGoFlag(k.fs.Lookup(name))
		if name == "v" {
			pf.Shorthand = "v"
			pf.Usage = "log level of the Kubernetes client (requests at 6, bodies at 8), to stderr"
		}
		flags.AddFlag(pf)
	}
}

// apply routes klog to w when -v is above 0.
func (k klogFlags) apply(w io.Writer) {
	if v := k.fs.Lookup("v"); v != nil && v.Value.String() != "0" {
		_ = k.fs.Set("stderrthreshold", "INFO")
		klog.SetOutput(w)
		klog.LogToStderr(false)
	}
}
