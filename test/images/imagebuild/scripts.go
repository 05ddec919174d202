package imagebuild

import "embed"

// scripts holds the shell stand-ins put into images: ipcs and pgrep (applets
// Debian's busybox lacks) and httpd-foreground (the httpd image's entrypoint).
//
//go:embed scripts
var scripts embed.FS
