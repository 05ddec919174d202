package daemon

import (
	"fmt"
	"sync"
	"sync/atomic"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
)

// handlerSet resolves runtime handler names, "" being the configured
// default. The set is read on every pod and container creation and
// replaced as a whole by a configuration reload (SetHandlers): a handler
// that a reload removes is refused to new pods (CheckNew) but still found
// by Lookup, for the pods created while it existed.
type handlerSet struct {
	cur atomic.Pointer[handlerState]
	// mu serialises replacements; readers never take it.
	mu sync.Mutex
}

type handlerState struct {
	reg *runtime.Registry
	def string
	// retired are handlers removed by a reload, by name.
	retired map[string]runtime.Handler
}

func newHandlerSet(reg *runtime.Registry, def string) *handlerSet {
	h := &handlerSet{}
	h.cur.Store(&handlerState{reg: reg, def: def, retired: map[string]runtime.Handler{}})
	return h
}

// Lookup resolves the handler of an existing pod: a configured one, or
// one a reload removed since.
func (h *handlerSet) Lookup(name string) (runtime.Handler, error) {
	st := h.cur.Load()
	if name == "" {
		name = st.def
	}
	hd, err := st.reg.Lookup(name)
	if errdefs.IsNotFound(err) {
		if old, ok := st.retired[name]; ok {
			return old, nil
		}
	}
	return hd, err
}

// CheckNew accepts only a configured handler: the one a new pod may use.
func (h *handlerSet) CheckNew(name string) error {
	st := h.cur.Load()
	if name == "" {
		name = st.def
	}
	_, err := st.reg.Lookup(name)
	return err
}

// set replaces the configured handlers; the default handler stays.
func (h *handlerSet) set(reg *runtime.Registry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.cur.Load()
	if _, err := reg.Lookup(old.def); err != nil {
		return fmt.Errorf("the new handlers lack the default handler %q: %w", old.def, errdefs.ErrInvalidArgument)
	}
	retired := map[string]runtime.Handler{}
	for name, hd := range old.retired {
		retired[name] = hd
	}
	for _, hd := range old.reg.Handlers() {
		retired[hd.Name] = hd
	}
	for _, hd := range reg.Handlers() {
		if prev, ok := retired[hd.Name]; ok && prev != hd {
			// Pods created before keep what they were created with;
			// config.Reconcile keeps a changed handler from getting here.
			return fmt.Errorf("runtime handler %q changed: %w", hd.Name, errdefs.ErrFailedPrecondition)
		}
		delete(retired, hd.Name)
	}
	for name := range retired {
		if _, was := old.retired[name]; !was {
			klog.InfoS("runtime handler removed: refused to new pods, kept for the pods using it", "handler", name)
		}
	}
	h.cur.Store(&handlerState{reg: reg, def: old.def, retired: retired})
	return nil
}
