package cri

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestStatusFeatures(t *testing.T) {
	cfg := testConfig
	cfg.Handlers = []Handler{{Name: "cricket", RecursiveReadOnlyMounts: true}, {Name: "old"}}
	env := newTestEnv(t, cfg)
	resp, err := env.runtime.Status(context.Background(), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetFeatures().GetSupplementalGroupsPolicy() {
		t.Error("SupplementalGroupsPolicy not advertised")
	}
	rro := map[string]bool{}
	for _, h := range resp.RuntimeHandlers {
		rro[h.Name] = h.GetFeatures().GetRecursiveReadOnlyMounts()
	}
	cases := []struct {
		desc    string
		handler string
		want    bool
	}{
		{desc: "default handler under the empty name", handler: "", want: true},
		{desc: "handler that supports it", handler: "cricket", want: true},
		{desc: "handler that does not", handler: "old", want: false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got, ok := rro[tc.handler]; !ok || got != tc.want {
				t.Errorf("handler %q RecursiveReadOnlyMounts = %v (listed %v), want %v", tc.handler, got, ok, tc.want)
			}
		})
	}
}

func TestStatusAfterSetHandlers(t *testing.T) {
	env := newTestEnv(t, testConfig)
	env.svc.SetHandlers([]Handler{{Name: "cricket"}, {Name: "kata"}})
	resp, err := env.runtime.Status(context.Background(), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range resp.RuntimeHandlers {
		names = append(names, h.Name)
	}
	if want := []string{"", "cricket", "kata"}; !slices.Equal(names, want) {
		t.Errorf("handlers = %q, want %q", names, want)
	}
}

// TestStatusUserNamespacesHostNetwork: user_namespaces_host_network is
// advertised exactly when some handler supports user namespaces.
func TestStatusUserNamespacesHostNetwork(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		handlers []Handler
		want     bool
	}{
		{desc: "no handler with user namespaces", handlers: []Handler{{Name: "cricket"}, {Name: "runc"}}},
		{desc: "a handler with user namespaces", handlers: []Handler{{Name: "cricket"}, {Name: "runc", UserNamespaces: true}}, want: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := testConfig
			cfg.Handlers = tc.handlers
			resp, err := newTestEnv(t, cfg).runtime.Status(context.Background(), &runtimeapi.StatusRequest{})
			if err != nil {
				t.Fatal(err)
			}
			f := resp.GetFeatures()
			if f.GetUserNamespacesHostNetwork() != tc.want || !f.GetMountOptions() || !f.GetSupplementalGroupsPolicy() {
				t.Errorf("features = %+v, want user_namespaces_host_network %v", f, tc.want)
			}
		})
	}
}

// TestStatusInfoSecurity: crictl info shows whether AppArmor confines
// containers and under which default profile.
func TestStatusInfoSecurity(t *testing.T) {
	cfg := testConfig
	cfg.Security = Security{AppArmor: true, AppArmorDefaultProfile: "cricket-default"}
	env := newTestEnv(t, cfg)
	resp, err := env.runtime.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Security Security `json:"security"`
	}
	if err := json.Unmarshal([]byte(resp.GetInfo()["config"]), &info); err != nil {
		t.Fatalf("info %q: %v", resp.GetInfo()["config"], err)
	}
	if info.Security != cfg.Security {
		t.Errorf("security info %+v, want %+v", info.Security, cfg.Security)
	}
	if !strings.Contains(resp.GetInfo()["config"], `"apparmorDefaultProfile":"cricket-default"`) {
		t.Errorf("info %s does not name the profile", resp.GetInfo()["config"])
	}
}
