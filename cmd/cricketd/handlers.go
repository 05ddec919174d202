package main

import (
	"sort"

	"github.com/cricket-cri/cricket/pkg/config"
)

func sortedHandlers(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Runtime.Handlers))
	for n := range cfg.Runtime.Handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
