package main

import (
	"context"
	"reflect"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/cmd/cricketd/internal/daemon"
	"github.com/cricket-cri/cricket/cri"
	"github.com/cricket-cri/cricket/network"
	"github.com/cricket-cri/cricket/pkg/config"
	"github.com/cricket-cri/cricket/pkg/image"
	"github.com/cricket-cri/cricket/pkg/runtime"
)

// reloadTargets are the components whose settings a reload changes.
type reloadTargets struct {
	images  *image.Service
	network *network.CNI
	pods    *daemon.Services
	cri     *cri.Service
}

// newReloader wires live reload (SIGHUP): one applier per component, each
// handing the component its new settings through one method. A key
// becomes reloadable by its reload:"true" tag in pkg/config and an
// applier here (see daemon.Reloader).
func (d *server) newReloader(t reloadTargets) *daemon.Reloader {
	r := daemon.NewReloader(d.cfg, func() (*config.Config, error) {
		cfg, _, err := d.flags.load()
		return cfg, err
	})
	r.Register(daemon.Applier{Name: "log", Apply: func(_ context.Context, c *config.Config) error {
		return d.flags.setVerbosity(c)
	}})
	r.Register(daemon.Applier{Name: "image", Apply: func(ctx context.Context, c *config.Config) error {
		return t.images.SetSettings(ctx, image.Settings{
			RegistryConfigPath:     c.Image.RegistryConfigPath,
			DockerConfigPath:       c.Image.DockerConfig,
			MaxConcurrentDownloads: c.Image.MaxConcurrentDownloads,
			ProgressTimeout:        c.Image.PullProgressTimeout.Duration,
			PinnedImages:           c.Image.PinnedImages,
		})
	}})
	r.Register(daemon.Applier{Name: "network", Apply: func(_ context.Context, c *config.Config) error {
		t.network.SetDirs(c.Network.ConfDir, c.Network.BinDirs)
		return nil
	}})
	r.Register(d.handlersApplier(t))
	r.Register(daemon.Applier{Name: "metrics", Apply: func(_ context.Context, c *config.Config) error {
		return d.setMetrics(c.Metrics)
	}})
	r.Register(d.nriApplier())
	r.Register(daemon.Applier{Name: "image signature policy", Apply: func(_ context.Context, c *config.Config) error {
		// Read again even under the same name: a policy edited in place.
		p, err := loadSignaturePolicy(c.Image.Policy.SignaturePolicy)
		if err != nil {
			return err
		}
		t.images.SetSignaturePolicy(p)
		return nil
	}})
	r.Register(daemon.Applier{Name: "tracing", Apply: func(ctx context.Context, c *config.Config) error {
		return d.tracer.Reload(ctx, c.Tracing)
	}})
	r.Register(daemon.Applier{Name: "streaming", Apply: func(_ context.Context, c *config.Config) error {
		if d.certs == nil {
			return nil
		}
		// Read again even under the same names: a rotated certificate.
		return d.certs.Reload(streamingTLSFiles(c.Streaming))
	}})
	return r
}

// handlersApplier replaces the runtime handlers of new pods and the list
// the Status RPC reports, when they changed.
func (d *server) handlersApplier(t reloadTargets) daemon.Applier {
	applied := d.cfg.Runtime.Handlers
	return daemon.Applier{Name: "runtime handlers", Apply: func(ctx context.Context, c *config.Config) error {
		if reflect.DeepEqual(applied, c.Runtime.Handlers) {
			return nil
		}
		reg, err := runtime.NewRegistry(handlerBinaries(c))
		if err != nil {
			return err
		}
		if err := t.pods.SetHandlers(reg); err != nil {
			return err
		}
		t.cri.SetHandlers(criConfig(ctx, c, t.pods.UserNamespaces).Handlers)
		applied = c.Runtime.Handlers
		klog.FromContext(ctx).Info("runtime handlers reloaded", "handlers", sortedHandlers(c))
		return nil
	}}
}

// nriApplier restarts NRI with new plugin directories or timeouts.
func (d *server) nriApplier() daemon.Applier {
	applied := d.cfg.NRI
	return daemon.Applier{Name: "nri", Apply: func(ctx context.Context, c *config.Config) error {
		if d.nri == nil || c.NRI == applied {
			return nil
		}
		if err := d.nri.Reconfigure(*nriConfig(c)); err != nil {
			return err
		}
		applied = c.NRI
		klog.FromContext(ctx).Info("NRI restarted with the new plugin settings: external plugins must connect again")
		return nil
	}}
}
