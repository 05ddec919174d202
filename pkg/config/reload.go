package config

import (
	"reflect"
	"sort"
)

// Reconcile prepares next, a freshly loaded configuration, to replace the
// running one, old, without a restart. Each key declares whether a running
// daemon can take a new value (the reload:"true" field tag; see Config). A
// changed key that cannot is put back to its old value in next and listed
// in refused, so that the daemon keeps running as it does and the log can
// name what needs a restart; changed lists the keys that do change. Both
// are dotted keys in order; an added or removed entry of a table of named
// entries is its key (runtime.handlers.kata).
func Reconcile(old, next *Config) (changed, refused []string) {
	r := &reconciler{}
	r.walk(reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem(), "", false)
	for _, g := range restartGuards {
		if g.needsRestart(old, next) {
			g.revert(old, next)
			r.refused = append(r.refused, g.keys...)
			r.changed = without(r.changed, g.keys)
		}
	}
	return r.changed, r.refused
}

// restartGuard is a rule the tags cannot say: keys that are reloadable
// one by one but not in some combination.
type restartGuard struct {
	keys         []string
	needsRestart func(old, next *Config) bool
	revert       func(old, next *Config)
}

var restartGuards = []restartGuard{{
	// New certificate files are read at once; turning TLS on or off
	// changes the scheme of the URLs and the listener.
	keys: []string{"streaming.tls_cert_file", "streaming.tls_key_file", "streaming.tls_ca_file"},
	needsRestart: func(old, next *Config) bool {
		return old.Streaming.TLSEnabled() != next.Streaming.TLSEnabled()
	},
	revert: func(old, next *Config) {
		next.Streaming.TLSCertFile, next.Streaming.TLSKeyFile, next.Streaming.TLSCAFile =
			old.Streaming.TLSCertFile, old.Streaming.TLSKeyFile, old.Streaming.TLSCAFile
	},
}, {
	// A new endpoint takes over the export at once; turning tracing on
	// or off adds or removes the gRPC stats handler.
	keys: []string{"tracing.endpoint"},
	needsRestart: func(old, next *Config) bool {
		return (old.Tracing.Endpoint == "") != (next.Tracing.Endpoint == "")
	},
	revert: func(old, next *Config) { next.Tracing.Endpoint = old.Tracing.Endpoint },
}}

// TLSEnabled reports whether the streaming server speaks HTTPS.
func (s Streaming) TLSEnabled() bool { return s.TLSCertFile != "" }

type reconciler struct{ changed, refused []string }

func (r *reconciler) note(path string, reloadable bool) {
	if reloadable {
		r.changed = append(r.changed, path)
	} else {
		r.refused = append(r.refused, path)
	}
}

// walk compares o and n (n settable) below path. reloadable is inherited
// by the fields of a table, not by the entries of a map: an entry's own
// fields say whether they can change in place.
func (r *reconciler) walk(o, n reflect.Value, path string, reloadable bool) {
	switch {
	case o.Kind() == reflect.Struct && o.Type() != reflect.TypeFor[Duration]():
		t := o.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			r.walk(o.Field(i), n.Field(i), joinPath(path, sf.Tag.Get("toml")), reloadable || sf.Tag.Get("reload") == "true")
		}
	case o.Kind() == reflect.Map:
		r.walkMap(o, n, path, reloadable)
	case !reflect.DeepEqual(o.Interface(), n.Interface()):
		r.note(path, reloadable)
		if !reloadable {
			n.Set(o)
		}
	}
}

func (r *reconciler) walkMap(o, n reflect.Value, path string, reloadable bool) {
	keys := map[string]bool{}
	for _, k := range o.MapKeys() {
		keys[k.String()] = true
	}
	for _, k := range n.MapKeys() {
		keys[k.String()] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	if n.IsNil() && len(names) > 0 {
		n.Set(reflect.MakeMap(n.Type()))
	}
	for _, k := range names {
		kv := reflect.ValueOf(k)
		ov, nv := o.MapIndex(kv), n.MapIndex(kv)
		p := joinPath(path, k)
		switch {
		case !ov.IsValid() || !nv.IsValid():
			r.note(p, reloadable)
			if !reloadable {
				n.SetMapIndex(kv, ov) // restores a removed entry, drops an added one
			}
		default:
			elem := reflect.New(nv.Type()).Elem()
			elem.Set(nv)
			r.walk(ov, elem, p, false)
			n.SetMapIndex(kv, elem)
		}
	}
}

func without(list, drop []string) []string {
	var out []string
	for _, s := range list {
		keep := true
		for _, d := range drop {
			keep = keep && s != d
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}
