package container_test

import (
	"errors"
	"io/fs"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type (
	specsSpec = specs.Spec
	fsFS      = fs.FS
)

func errorIs(err, target error) bool { return errors.Is(err, target) }
