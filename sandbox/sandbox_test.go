package sandbox

import (
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestCheckTransition(t *testing.T) {
	cases := []struct {
		desc     string
		from, to State
		ok       bool
	}{
		{desc: "stop", from: StateReady, to: StateNotReady, ok: true},
		{desc: "same", from: StateNotReady, to: StateNotReady, ok: true},
		{desc: "no restart", from: StateNotReady, to: StateReady},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if err := checkTransition(tc.from, tc.to); (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestName(t *testing.T) {
	got := Name(&runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "ns", Uid: "u", Attempt: 2})
	if got != "web_ns_u_2" {
		t.Errorf("Name = %q", got)
	}
}
