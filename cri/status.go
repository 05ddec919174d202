package cri

import (
	"context"
	"encoding/json"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Reasons of the NetworkReady condition.
const (
	reasonNetworkNotReady = "NetworkPluginNotReady"
)

// Status reports the RuntimeReady and NetworkReady conditions, the runtime
// handlers and their features.
func (s *Service) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	runtimeReady := &runtimeapi.RuntimeCondition{Type: runtimeapi.RuntimeReady, Status: true}
	networkReady := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if err := s.deps.Network.Status(); err != nil {
		networkReady.Status = false
		networkReady.Reason = reasonNetworkNotReady
		networkReady.Message = "Network plugin returns error: " + err.Error()
	}
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{
			Conditions: []*runtimeapi.RuntimeCondition{runtimeReady, networkReady},
		},
		RuntimeHandlers: s.runtimeHandlers(),
		// Both policies are honoured: Strict leaves out the image's
		// /etc/group memberships (oci.ResolveUser). Mount options are
		// limited to noexec, nodev and nosuid (oci.CRIMount).
		Features: &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true, MountOptions: true,
			// A pod in its own user namespace may use the host network
			// (its containers bind the host's /sys) on any handler that
			// supports user namespaces.
			UserNamespacesHostNetwork: s.anyUserNamespaces()},
	}
	if req.GetVerbose() {
		info, err := json.Marshal(map[string]any{
			"cgroupDriver": s.cfg.CgroupDriver,
			"handlers":     *s.handlers.Load(),
			"security":     s.cfg.Security,
		})
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"config": string(info)}
		if s.deps.Containers != nil {
			criu := map[string]any{"usable": true}
			if err := s.deps.Containers.CheckCRIU(); err != nil {
				criu = map[string]any{"usable": false, "reason": err.Error()}
			}
			data, err := json.Marshal(criu)
			if err != nil {
				return nil, err
			}
			resp.Info["criu"] = string(data)
		}
	}
	return resp, nil
}

func (s *Service) runtimeHandlers() []*runtimeapi.RuntimeHandler {
	handlers := *s.handlers.Load()
	out := make([]*runtimeapi.RuntimeHandler, 0, len(handlers)+1)
	for i, h := range handlers {
		features := &runtimeapi.RuntimeHandlerFeatures{
			RecursiveReadOnlyMounts: h.RecursiveReadOnlyMounts,
			UserNamespaces:          h.UserNamespaces,
		}
		if i == 0 {
			// The default handler is also listed under the empty name, the
			// one a pod without a RuntimeClass uses.
			out = append(out, &runtimeapi.RuntimeHandler{Name: "", Features: features})
		}
		out = append(out, &runtimeapi.RuntimeHandler{Name: h.Name, Features: features})
	}
	return out
}

// anyUserNamespaces reports whether some handler supports user namespaces.
func (s *Service) anyUserNamespaces() bool {
	for _, h := range s.cfg.Handlers {
		if h.UserNamespaces {
			return true
		}
	}
	return false
}
