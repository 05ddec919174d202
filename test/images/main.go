// Command images builds Cricket's test images offline and serves them from a
// registry on 127.0.0.1 under their upstream names (see README.md).
//
//	go run ./test/images serve --addr 127.0.0.1:5000 [--hosts-dir DIR] [--per-host]
//	go run ./test/images push --registry 127.0.0.1:5000
//	go run ./test/images list
//	go run ./test/images build --oci-layout DIR
//	go run ./test/images standins --out DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
)

const usage = `usage: images <command> [flags]

commands:
  serve --addr 127.0.0.1:5000 [--hosts-dir DIR] [--per-host] [--agnhost BIN] [--glibc-dns-rootfs TAR]
        build every image, start a registry, push, print the mapping, and
        serve until SIGTERM or SIGINT; --hosts-dir writes DIR/<host>/hosts.toml;
        --agnhost adds the node e2e images built around that agnhost binary,
        --glibc-dns-rootfs glibc-dns-testing from that root file system tar
  push --registry HOST:PORT
        build every image and push it to an existing registry
  list  print the catalog
  build --oci-layout DIR
        write every image into an OCI image layout, no registry
  standins --out DIR
        compile the stand-in programs every image needs into DIR; with
        $CRICKET_STANDINS_BIN=DIR the images build without a Go toolchain
        (the test/vm node)

Every command but list takes --busybox PATH (default /bin/busybox).
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "images: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("missing command\n" + usage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], out)
	case "push":
		return push(ctx, args[1:], out)
	case "list":
		return list(out)
	case "build":
		return build(args[1:], out)
	case "standins":
		return standins(args[1:], out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func newFlags(name string) (*flag.FlagSet, *imagebuild.Options) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	opts := &imagebuild.Options{}
	fs.StringVar(&opts.BusyboxPath, "busybox", imagebuild.DefaultBusybox, "busybox binary to put into the images (Debian package busybox)")
	return fs, opts
}

func serve(ctx context.Context, args []string, out io.Writer) error {
	fs, opts := newFlags("serve")
	addr := fs.String("addr", "127.0.0.1:5000", "registry address (loopback only; port 0 picks a free port)")
	hostsDir := fs.String("hosts-dir", "", "write containerd-style DIR/<upstream host>/hosts.toml files")
	perHost := fs.Bool("per-host", false, "start one registry per upstream host even without path collisions")
	agnhost := fs.String("agnhost", "", "also serve the node e2e images (imagebuild.NodeE2ECatalog) built with this agnhost binary (test/kubelet/build.sh agnhost)")
	glibcDNS := fs.String("glibc-dns-rootfs", "", "also serve e2e-test-images/glibc-dns-testing built from this root file system tar (test/e2enode/glibc-dns.sh)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	specs := imagebuild.Catalog()
	if *agnhost != "" {
		specs = append(specs, imagebuild.NodeE2ECatalog(*agnhost)...)
	}
	if *glibcDNS != "" {
		specs = append(specs, imagebuild.GlibcDNSTestingSpec(*glibcDNS))
	}
	m, err := imagebuild.StartMirror(ctx, *addr, specs, imagebuild.MirrorOptions{Build: *opts, PerHost: *perHost})
	if err != nil {
		return err
	}
	defer m.Close()
	for _, c := range m.Collisions {
		fmt.Fprintf(out, "collision on %s between %s: serving one registry per host\n", c.Path, strings.Join(c.Refs, ", "))
	}
	printPushed(out, m.Pushed)
	fmt.Fprintln(out, "\nupstream host -> registry:")
	fmt.Fprintln(out, m.String())
	if *hostsDir != "" {
		if err := imagebuild.WriteHostsDir(*hostsDir, m.Addrs()); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote hosts.toml files under %s\n", *hostsDir)
	}
	fmt.Fprintf(out, "serving %d images; stop with SIGTERM or SIGINT (pid %d)\n", len(m.Pushed), os.Getpid())
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return m.Close()
}

func push(ctx context.Context, args []string, out io.Writer) error {
	fs, opts := newFlags("push")
	reg := fs.String("registry", "", "registry host:port to push to (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reg == "" {
		return errors.New("push: --registry HOST:PORT is required")
	}
	b, err := imagebuild.NewBuilder(*opts)
	if err != nil {
		return err
	}
	specs := imagebuild.Catalog()
	if err := checkNoCollisions(b, specs); err != nil {
		return err
	}
	pushed, err := b.PushAll(ctx, *reg, specs)
	printPushed(out, pushed)
	return err
}

// checkNoCollisions refuses to push two different images to one path of a
// single registry; serve handles that case with one registry per host.
func checkNoCollisions(b *imagebuild.Builder, specs []imagebuild.Spec) error {
	digests := map[string]v1.Hash{}
	for _, s := range specs {
		art, err := b.Build(s)
		if err != nil {
			return err
		}
		if digests[s.Ref], err = art.Digest(); err != nil {
			return err
		}
	}
	if cs := imagebuild.FindCollisions(specs, digests); len(cs) > 0 {
		return fmt.Errorf("push: %d catalog paths collide on a single registry (first: %s from %s); use serve, which starts one registry per host",
			len(cs), cs[0].Path, strings.Join(cs[0].Refs, ", "))
	}
	return nil
}

func printPushed(out io.Writer, pushed []imagebuild.Pushed) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UPSTREAM\tSERVED AS\tDIGEST")
	for _, p := range pushed {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Spec.Ref, p.Ref, p.Digest)
	}
	tw.Flush()
}

func list(out io.Writer) error {
	specs := imagebuild.Catalog()
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].Ref < specs[j].Ref })
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UPSTREAM REPOSITORY\tTAG\tFORMAT\tCONTENTS")
	for _, s := range specs {
		format := s.Format.String()
		if s.MultiArch {
			format += " index (amd64, arm64 stub)"
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\n", s.Host(), s.Repository(), s.Tag(), format, s.Contents)
	}
	return tw.Flush()
}

func build(args []string, out io.Writer) error {
	fs, opts := newFlags("build")
	dir := fs.String("oci-layout", "", "directory to write the OCI image layout into (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("build: --oci-layout DIR is required")
	}
	b, err := imagebuild.NewBuilder(*opts)
	if err != nil {
		return err
	}
	specs := imagebuild.Catalog()
	if err := b.WriteLayout(*dir, specs); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %d images to the OCI layout %s\n", len(specs), *dir)
	return nil
}

func standins(args []string, out io.Writer) error {
	fs, opts := newFlags("standins")
	dir := fs.String("out", "", "directory to write the compiled stand-ins into (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("standins: --out DIR is required")
	}
	// Compile them, whatever the environment says.
	if err := os.Unsetenv(imagebuild.StandinsBinEnv); err != nil {
		return err
	}
	b, err := imagebuild.NewBuilder(*opts)
	if err != nil {
		return err
	}
	for _, spec := range imagebuild.Catalog() {
		if _, err := b.Build(spec); err != nil {
			return fmt.Errorf("build %s/%s:%s: %w", spec.Host(), spec.Repository(), spec.Tag(), err)
		}
	}
	if err := b.WriteStandins(*dir); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote the stand-ins to %s\n", *dir)
	return nil
}
