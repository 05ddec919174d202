package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cricket-cri/cricket/test/internal/ctrdconfig"
)

// containerdConfigFlag is the mode that renders containerd's config for
// the shell harnesses (test/e2enode, test/cluster), which run containerd
// with the -install-containerd build: the one template of the bench's own
// containerd (test/internal/ctrdconfig), each harness's values as flags.
const containerdConfigFlag = "containerd-config"

// containerdConfigMain prints the config the flags in args describe.
func containerdConfigMain(args []string) error {
	fs := flag.NewFlagSet("-"+containerdConfigFlag, flag.ContinueOnError)
	var c ctrdconfig.Config
	var cniBinDirs, restrict string
	fs.StringVar(&c.Root, "root", "", "containerd's root dir (required)")
	fs.StringVar(&c.State, "state", "", "containerd's state dir (required)")
	fs.StringVar(&c.Address, "address", "", "the gRPC (CRI) socket (required)")
	fs.StringVar(&c.TTRPCAddress, "ttrpc-address", "", "the ttrpc socket (empty: containerd's default)")
	fs.StringVar(&c.OptPath, "opt", "", "the opt plugin's dir (empty: containerd's default)")
	fs.StringVar(&c.SandboxImage, "sandbox-image", "", "the pinned pause image (required)")
	fs.StringVar(&c.RegistryConfigPath, "registry-config-path", "", "the hosts.toml dir (required)")
	fs.StringVar(&cniBinDirs, "cni-bin-dirs", "", "CNI plugin dirs, comma separated (required)")
	fs.StringVar(&c.CNIConfDir, "cni-conf-dir", "", "the CNI config dir (required)")
	fs.StringVar(&c.RuncBinary, "runc", "", "the runc the runc v2 shim runs (required)")
	fs.StringVar(&c.RuncRoot, "runc-root", "", "runc's --root (empty: the shim's default)")
	fs.StringVar(&restrict, "restrict-oom-score-adj", "auto", "true, false, or auto: true where this process's capability bounding set lacks CAP_SYS_RESOURCE")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("-%s: unexpected arguments %q", containerdConfigFlag, fs.Args())
	}
	if cniBinDirs != "" {
		c.CNIBinDirs = strings.Split(cniBinDirs, ",")
	}
	var err error
	if restrict == "auto" {
		c.RestrictOOMScoreAdj, err = ctrdconfig.HostRestrictOOMScoreAdj()
	} else {
		c.RestrictOOMScoreAdj, err = strconv.ParseBool(restrict)
	}
	if err != nil {
		return fmt.Errorf("-restrict-oom-score-adj %s: %w", restrict, err)
	}
	return ctrdconfig.Render(os.Stdout, c)
}
