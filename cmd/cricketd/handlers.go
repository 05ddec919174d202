package main

import (
	"sort"

	"github.com/cricket-cri/cricket/pkg/config"
)

// handlerPlatforms maps the handlers with an image platform to it, the
// default handler also under "".
func handlerPlatforms(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for name, h := range cfg.Runtime.Handlers {
		if h.Platform != "" {
			out[name] = h.Platform
		}
	}
	if p, ok := out[cfg.Runtime.DefaultHandler]; ok {
		out[""] = p
	}
	return out
}

func sortedHandlers(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Runtime.Handlers))
	for n := range cfg.Runtime.Handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
