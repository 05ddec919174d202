package cri

import (
	"syscall"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestToCRISignal(t *testing.T) {
	cases := []struct {
		desc string
		sig  syscall.Signal
		want runtimeapi.Signal
	}{
		{desc: "none", sig: 0, want: runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT},
		{desc: "SIGTERM", sig: syscall.SIGTERM, want: runtimeapi.Signal_SIGNAL_SIGTERM},
		{desc: "SIGQUIT", sig: syscall.SIGQUIT, want: runtimeapi.Signal_SIGNAL_SIGQUIT},
		{desc: "SIGRTMIN", sig: 34, want: runtimeapi.Signal_SIGNAL_SIGRTMIN},
		{desc: "SIGRTMIN+3", sig: 37, want: runtimeapi.Signal_SIGNAL_SIGRTMINPLUS3},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := toCRISignal(tc.sig); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
