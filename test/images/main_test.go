package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		args    []string
		wantErr string
		wantOut string
	}{
		{desc: "list", args: []string{"list"}, wantOut: "registry.k8s.io/e2e-test-images/busybox"},
		{desc: "help", args: []string{"help"}, wantOut: "serve --addr"},
		{desc: "no command", args: nil, wantErr: "missing command"},
		{desc: "unknown command", args: []string{"frobnicate"}, wantErr: "unknown command"},
		{desc: "push needs a registry", args: []string{"push"}, wantErr: "--registry"},
		{desc: "build needs a layout dir", args: []string{"build"}, wantErr: "--oci-layout"},
		{desc: "missing busybox", args: []string{"build", "--oci-layout", "x", "--busybox", "/nonexistent"}, wantErr: "apt-get install busybox"},
		{desc: "serve refuses non-loopback", args: []string{"serve", "--addr", "0.0.0.0:0"}, wantErr: "loopback"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var out bytes.Buffer
			err := run(tc.args, &out)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("run: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("run error %v, want it to mention %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out.String())
			}
		})
	}
}
