package config

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// WriteTOML writes cfg as TOML with every key present and the doc comment of
// each key above it, the form `cricketd config default` prints.
func (cfg *Config) WriteTOML(w io.Writer) error {
	var buf bytes.Buffer
	buf.WriteString("# cricketd configuration. Every key is shown with its built-in default.\n")
	buf.WriteString("# Command-line flags (--root, --state, --listen, --registry-config-path) override this file.\n\n")
	if err := writeTable(&buf, reflect.ValueOf(cfg).Elem(), ""); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func writeTable(buf *bytes.Buffer, v reflect.Value, prefix string) error {
	t := v.Type()
	var nested []int
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Struct && t.Field(i).Type != reflect.TypeFor[Duration]() || f.Kind() == reflect.Map {
			nested = append(nested, i)
			continue
		}
		if err := writeKey(buf, t.Field(i), f); err != nil {
			return err
		}
	}
	for _, i := range nested {
		sf := t.Field(i)
		path := joinPath(prefix, sf.Tag.Get("toml"))
		writeComment(buf, sf.Tag.Get("comment"))
		if v.Field(i).Kind() == reflect.Map {
			if err := writeMap(buf, v.Field(i), path); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(buf, "[%s]\n", path)
		if err := writeTable(buf, v.Field(i), path); err != nil {
			return err
		}
	}
	return nil
}

func writeMap(buf *bytes.Buffer, m reflect.Value, path string) error {
	keys := make([]string, 0, m.Len())
	for _, k := range m.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub := path + "." + k
		fmt.Fprintf(buf, "[%s]\n", sub)
		if err := writeTable(buf, m.MapIndex(reflect.ValueOf(k)), sub); err != nil {
			return err
		}
	}
	return nil
}

func writeComment(buf *bytes.Buffer, comment string) {
	for _, line := range strings.Split(comment, "\n") {
		if line != "" {
			fmt.Fprintf(buf, "# %s\n", line)
		}
	}
}

func writeKey(buf *bytes.Buffer, sf reflect.StructField, f reflect.Value) error {
	writeComment(buf, sf.Tag.Get("comment"))
	var kv bytes.Buffer
	if err := toml.NewEncoder(&kv).Encode(map[string]any{sf.Tag.Get("toml"): f.Interface()}); err != nil {
		return fmt.Errorf("encode %s: %w", sf.Tag.Get("toml"), err)
	}
	buf.Write(kv.Bytes())
	buf.WriteString("\n")
	return nil
}
