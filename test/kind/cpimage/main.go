// Command cpimage packs host binaries (with the shared libraries ldd finds
// for them) into a container image and writes it as a docker archive, for
// `cricketd image import`: the kind e2e's control-plane images
// (kube-apiserver, etcd, CoreDNS, ...), built from the module proxy
// instead of pulled.
//
//	cpimage -o out.tar -tag registry.k8s.io/etcd:3.6.5-0 -add /path/etcd:/usr/local/bin/etcd \
//	    [-link /usr/sbin/iptables:xtables-nft-multi] [-entrypoint /usr/local/bin/etcd] [-dir /var/lib/etcd]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var tags, adds, links, dirs, entrypoint list
	out := flag.String("o", "", "docker archive to write")
	flag.Var(&tags, "tag", "image name (repeatable)")
	flag.Var(&adds, "add", "SRC:DST host file to copy into the image, with its shared libraries (repeatable)")
	flag.Var(&links, "link", "DST:TARGET symbolic link (repeatable)")
	flag.Var(&dirs, "dir", "directory to create (repeatable)")
	flag.Var(&entrypoint, "entrypoint", "entrypoint argument (repeatable)")
	flag.Parse()
	if err := run(*out, tags, adds, links, dirs, entrypoint); err != nil {
		fmt.Fprintln(os.Stderr, "cpimage:", err)
		os.Exit(1)
	}
}

func run(out string, tags, adds, links, dirs, entrypoint []string) error {
	if out == "" || len(tags) == 0 || len(adds) == 0 {
		return fmt.Errorf("-o, -tag and -add are required")
	}
	libs, bins := imagebuild.NewLayer(), imagebuild.NewLayer()
	seen := map[string]bool{}
	for _, d := range append([]string{"/tmp", "/etc"}, dirs...) {
		mode := int64(0o755)
		if d == "/tmp" {
			mode = 0o1777
		}
		libs.Dir(d, mode, 0, 0)
	}
	libs.File("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644, 0, 0)
	libs.File("/etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644, 0, 0)
	libs.File("/etc/nsswitch.conf", []byte("hosts: files dns\n"), 0o644, 0, 0)
	for _, a := range adds {
		src, dst, ok := strings.Cut(a, ":")
		if !ok {
			return fmt.Errorf("-add %q is not SRC:DST", a)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		bins.File(dst, data, 0o755, 0, 0)
		deps, err := imagebuild.SharedLibs(src)
		if err != nil {
			return err
		}
		for _, lib := range deps {
			if seen[lib] {
				continue
			}
			seen[lib] = true
			b, err := os.ReadFile(lib)
			if err != nil {
				return err
			}
			libs.File(lib, b, 0o755, 0, 0)
		}
	}
	for _, l := range links {
		dst, target, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("-link %q is not DST:TARGET", l)
		}
		bins.Symlink(dst, target)
	}
	img := empty.Image
	for _, lb := range []*imagebuild.LayerBuilder{libs, bins} {
		layer, err := lb.Layer()
		if err != nil {
			return err
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = v1.Config{Entrypoint: entrypoint,
		Env: []string{"PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	refs := map[name.Reference]v1.Image{}
	for _, t := range tags {
		tag, err := name.NewTag(t)
		if err != nil {
			return err
		}
		refs[tag] = img
	}
	return tarball.MultiRefWriteToFile(out, refs)
}
