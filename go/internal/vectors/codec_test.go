package vectors_test

// Method payload vectors: every valid payload decodes to exactly the
// listed field values and is re-created byte for byte by the Go builders
// from its fields (server_dispatch vectors through the dispatch glue with
// the recorded budget and handler answers); every invalid payload is
// rejected at its reject_stage with its reject_error.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

func init() {
	checkers["codec/payload"] = checkPayload
	checkers["codec/builder_outcome"] = checkBuilderOutcome
	checkers["negative/payload"] = checkNegativePayload
}

// obj is a JSON object decoded with json.Number numbers (u64 values such
// as auth tokens do not survive float64).
type obj = map[string]any

func parseObj(raw []byte) (obj, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m obj
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// num is the unsigned integer at key; absent keys give def.
func num(m obj, key string, def uint64) (uint64, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return def, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("field %s is not a number", key)
	}
	return strconv.ParseUint(n.String(), 10, 64)
}

// nums reads several unsigned fields at once; absent ones are 0.
func nums(m obj, keys ...string) ([]uint64, error) {
	out := make([]uint64, len(keys))
	for i, k := range keys {
		v, err := num(m, k, 0)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// str is the string at key ("" when absent).
func str(m obj, key string) string {
	s, _ := m[key].(string)
	return s
}

// list is the array at key as objects.
func list(m obj, key string) []obj {
	arr, _ := m[key].([]any)
	out := make([]obj, 0, len(arr))
	for _, e := range arr {
		o, _ := e.(obj)
		out = append(out, o)
	}
	return out
}

// subset fails unless every key of want is in got with an equal value
// (recursively for objects; arrays element-wise).
func subset(path string, got, want any) error {
	switch w := want.(type) {
	case obj:
		g, ok := got.(obj)
		if !ok {
			return fmt.Errorf("%s: decoded %v, expected an object", path, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing in the decoded value", path, k)
			}
			if err := subset(path+"."+k, gv, wv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: decoded %v, expected %d elements", path, got, len(w))
		}
		for i := range w {
			if err := subset(fmt.Sprintf("%s[%d]", path, i), g[i], w[i]); err != nil {
				return err
			}
		}
		return nil
	default:
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%s: decoded %v, expected %v", path, got, want)
		}
		return nil
	}
}

// normalize turns a decoded value into the shape parseObj gives.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	err = d.Decode(&out)
	return out, err
}

func labelsJSON(l protocol.LookupLabels) []any {
	out := []any{}
	for _, lb := range l.All() {
		out = append(out, obj{"key": string(lb.Key), "value": string(lb.Value)})
	}
	return out
}

// decodePayload decodes p with the named decoder into the shape of the
// index's expect blocks. For CGROUPS_RESP every item is read (the lazy
// item checks included).
func decodePayload(decoder string, p []byte) (any, error) {
	switch decoder {
	case "INCREMENT":
		v, err := protocol.DecodeIncrement(p)
		return obj{"value": v}, err
	case "STRING_REVERSE":
		s, err := protocol.DecodeStringReverse(p)
		return obj{"str": string(s)}, err
	case "CGROUPS_REQ":
		_, err := protocol.DecodeCgroupsRequest(p)
		return obj{"layout_version": 1, "flags": 0}, err
	case "CGROUPS_RESP":
		v, err := protocol.DecodeCgroupsResponse(p)
		if err != nil {
			return nil, err
		}
		items := []any{}
		for it, err := range v.Items() {
			if err != nil {
				return nil, err
			}
			items = append(items, obj{"layout_version": 1, "flags": 0, "hash": it.Hash, "options": it.Options,
				"enabled": it.Enabled, "name": string(it.Name), "path": string(it.Path)})
		}
		return obj{"layout_version": 1, "flags": 0, "item_count": v.Len(),
			"systemd_enabled": v.SystemdEnabled(), "generation": v.Generation(), "items": items}, nil
	case "CGL_REQ":
		r, err := protocol.DecodeCgroupsLookupRequest(p)
		paths := []any{}
		for _, path := range r.Paths() {
			paths = append(paths, obj{"path": string(path)})
		}
		return obj{"item_count": r.Len(), "paths": paths}, err
	case "APPS_REQ":
		r, err := protocol.DecodeAppsLookupRequest(p)
		pids := []any{}
		for _, pid := range r.PIDs() {
			pids = append(pids, pid)
		}
		return obj{"item_count": r.Len(), "pids": pids}, err
	case "CGL_RESP":
		v, err := protocol.DecodeCgroupsLookupResponse(p)
		items := []any{}
		for _, it := range v.Items() {
			items = append(items, obj{"status": it.Status, "orchestrator": it.Orchestrator,
				"label_count": it.Labels.Len(), "path": string(it.Path), "name": string(it.Name),
				"labels": labelsJSON(it.Labels)})
		}
		return obj{"layout_version": 1, "flags": 0, "item_count": v.Len(), "generation": v.Generation(), "items": items}, err
	case "APPS_RESP":
		v, err := protocol.DecodeAppsLookupResponse(p)
		items := []any{}
		for _, it := range v.Items() {
			items = append(items, obj{"status": it.Status, "cgroup_status": it.CgroupStatus,
				"orchestrator": it.Orchestrator, "pid": it.PID, "ppid": it.PPID, "uid": it.UID,
				"starttime": it.StartTime, "label_count": it.Labels.Len(), "comm": string(it.Comm),
				"cgroup_path": string(it.CgroupPath), "cgroup_name": string(it.CgroupName),
				"labels": labelsJSON(it.Labels)})
		}
		return obj{"layout_version": 1, "flags": 0, "item_count": v.Len(), "generation": v.Generation(), "items": items}, err
	}
	return decodeHandshakePayload(decoder, p)
}

func lookupLabels(item obj) []protocol.LookupLabel {
	var out []protocol.LookupLabel
	for _, l := range list(item, "labels") {
		out = append(out, protocol.LookupLabel{Key: str(l, "key"), Value: str(l, "value")})
	}
	return out
}

func cgroupsLookupEntry(item obj) (*protocol.CgroupsLookupEntry, error) {
	f, err := nums(item, "status", "orchestrator")
	if err != nil {
		return nil, err
	}
	return &protocol.CgroupsLookupEntry{
		Status:       protocol.CgroupsLookupStatus(f[0]),
		Orchestrator: protocol.Orchestrator(f[1]),
		Name:         str(item, "name"),
		Labels:       lookupLabels(item),
	}, nil
}

func appsLookupEntry(item obj) (*protocol.AppsLookupEntry, error) {
	f, err := nums(item, "status", "cgroup_status", "orchestrator", "ppid", "starttime")
	if err != nil {
		return nil, err
	}
	uid, err := num(item, "uid", uint64(protocol.UIDUnset))
	if err != nil {
		return nil, err
	}
	return &protocol.AppsLookupEntry{
		Status:       protocol.PIDStatus(f[0]),
		CgroupStatus: protocol.CgroupStatus(f[1]),
		Orchestrator: protocol.Orchestrator(f[2]),
		PPID:         uint32(f[3]),
		UID:          uint32(uid),
		StartTime:    f[4],
		Comm:         str(item, "comm"),
		CgroupPath:   str(item, "cgroup_path"),
		CgroupName:   str(item, "cgroup_name"),
		Labels:       lookupLabels(item),
	}, nil
}

// encodePayload re-creates a payload from the vector's fields with the Go
// encoders and builders.
func encodePayload(v *vector, dir string) ([]byte, error) {
	f, err := parseObj(v.Fields)
	if err != nil {
		return nil, err
	}
	if _, ok := f["server_dispatch"]; ok {
		return dispatchVector(v, f, dir)
	}
	out := make([]byte, 1<<16)
	n, err := encodeFields(*v.Decoder, f, out)
	if err != nil {
		return nil, err
	}
	out = out[:n]
	if t := str(f, "trailing_hex"); t != "" {
		var tail []byte
		for i := 0; i+1 < len(t); i += 2 {
			b, err := strconv.ParseUint(t[i:i+2], 16, 8)
			if err != nil {
				return nil, err
			}
			tail = append(tail, byte(b))
		}
		out = append(out, tail...)
	}
	return out, nil
}

func encodeFields(decoder string, f obj, out []byte) (int, error) {
	switch decoder {
	case "INCREMENT":
		value, err := num(f, "value", 0)
		if err != nil {
			return 0, err
		}
		return protocol.EncodeIncrement(out, value)
	case "STRING_REVERSE":
		return protocol.EncodeStringReverse(out, []byte(str(f, "str")))
	case "CGROUPS_REQ":
		return protocol.EncodeCgroupsRequest(out)
	case "CGL_REQ":
		var paths [][]byte
		for _, p := range f["paths"].([]any) {
			paths = append(paths, []byte(p.(string)))
		}
		want, ok := protocol.CgroupsLookupRequestLen(paths)
		if !ok || protocol.CgroupsLookupRequestFit(paths, want) != len(paths) ||
			(len(paths) > 0 && protocol.CgroupsLookupRequestFit(paths, want-1) != len(paths)-1) {
			return 0, fmt.Errorf("request length %d (ok %v) and fit disagree", want, ok)
		}
		n, err := protocol.EncodeCgroupsLookupRequest(out, paths)
		if err == nil && n != want {
			return 0, fmt.Errorf("request length %d != computed length %d", n, want)
		}
		return n, err
	case "APPS_REQ":
		var pids []uint32
		for _, p := range f["pids"].([]any) {
			n, err := strconv.ParseUint(p.(json.Number).String(), 10, 32)
			if err != nil {
				return 0, err
			}
			pids = append(pids, uint32(n))
		}
		return protocol.EncodeAppsLookupRequest(out, pids)
	case "CGROUPS_RESP":
		bf, _ := f["builder"].(obj)
		h, err := nums(bf, "max_items", "systemd_enabled", "generation")
		if err != nil {
			return 0, err
		}
		b, err := protocol.NewCgroupsBuilder(out, int(h[0]))
		if err != nil {
			return 0, err
		}
		b.SetSystemdEnabled(uint32(h[1]))
		b.SetGeneration(h[2])
		for _, it := range list(f, "items") {
			x, err := nums(it, "hash", "options", "enabled")
			if err != nil {
				return 0, err
			}
			if err := b.Add(uint32(x[0]), uint32(x[1]), uint32(x[2]), str(it, "name"), str(it, "path")); err != nil {
				return 0, err
			}
		}
		return b.Finish()
	case "CGL_RESP":
		bf, _ := f["builder"].(obj)
		h, err := nums(bf, "max_items", "generation")
		if err != nil {
			return 0, err
		}
		b, err := protocol.NewCgroupsLookupBuilder(out, int(h[0]), h[1])
		if err != nil {
			return 0, err
		}
		for _, it := range list(f, "items") {
			e, err := cgroupsLookupEntry(it)
			if err != nil {
				return 0, err
			}
			if err := b.Add(str(it, "path"), e); err != nil {
				return 0, err
			}
		}
		return b.Finish()
	case "APPS_RESP":
		bf, _ := f["builder"].(obj)
		h, err := nums(bf, "max_items", "generation")
		if err != nil {
			return 0, err
		}
		b, err := protocol.NewAppsLookupBuilder(out, int(h[0]), h[1])
		if err != nil {
			return 0, err
		}
		for _, it := range list(f, "items") {
			e, err := appsLookupEntry(it)
			if err != nil {
				return 0, err
			}
			pid, err := num(it, "pid", 0)
			if err != nil {
				return 0, err
			}
			if err := b.Add(uint32(pid), e); err != nil {
				return 0, err
			}
		}
		return b.Finish()
	}
	return encodeHandshakeFields(decoder, f, out)
}

// dispatchVector runs the server dispatch of a server_dispatch vector with
// the recorded budget and handler answers.
func dispatchVector(v *vector, f obj, dir string) ([]byte, error) {
	d, _ := f["server_dispatch"].(obj)
	request, err := os.ReadFile(filepath.Join(dir, str(d, "request_file")))
	if err != nil {
		return nil, err
	}
	h, err := nums(d, "response_buffer_size", "generation")
	if err != nil {
		return nil, err
	}
	out := make([]byte, h[0])
	answers := list(d, "handler_answers_per_request_item")
	var n int
	if *v.Method == "CGROUPS_LOOKUP" {
		var b protocol.CgroupsLookupBuilder
		n, err = protocol.DispatchCgroupsLookup(&b, request, out,
			func(r *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) bool {
				b.SetGeneration(h[1])
				for i := 0; i < r.Len() && i < len(answers); i++ {
					e, err := cgroupsLookupEntry(answers[i])
					if err != nil || b.AddRequestItem(i, e) != nil {
						return false
					}
				}
				return true
			})
	} else {
		var b protocol.AppsLookupBuilder
		n, err = protocol.DispatchAppsLookup(&b, request, out,
			func(r *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) bool {
				b.SetGeneration(h[1])
				for i := 0; i < r.Len() && i < len(answers); i++ {
					e, err := appsLookupEntry(answers[i])
					if err != nil {
						return false
					}
					pid, err := r.PID(i)
					if err != nil || b.Add(pid, e) != nil {
						return false
					}
				}
				return true
			})
	}
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

func checkPayload(_ *testing.T, v *vector, dir string) error {
	if v.Decoder == nil {
		return errors.New("payload vector without a decoder")
	}
	decoded, err := decodePayload(*v.Decoder, v.Bytes)
	if err != nil {
		return fmt.Errorf("decode failed: %w", err)
	}
	got, err := normalize(decoded)
	if err != nil {
		return err
	}
	want, err := parseObj(v.Expect)
	if err != nil {
		return err
	}
	if err := subset("expect", got, want); err != nil {
		return err
	}
	encoded, err := encodePayload(v, dir)
	if err != nil {
		return fmt.Errorf("re-encode failed: %w", err)
	}
	if !bytes.Equal(encoded, v.Bytes) {
		return fmt.Errorf("re-encoded payload (%d bytes) differs from the %d vector bytes", len(encoded), len(v.Bytes))
	}
	return nil
}

// errorKind is the codec error kind the vectors call name.
func errorKind(name string) (protocol.CodecErrorKind, error) {
	for k := protocol.Truncated; k <= protocol.Overflow; k++ {
		if k.String() == name {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown error kind %q", name)
}

func checkBuilderOutcome(_ *testing.T, v *vector, dir string) error {
	want, err := errorKind(*v.RejectError)
	if err != nil {
		return err
	}
	_, err = encodePayload(v, dir)
	var de *protocol.DispatchError
	switch {
	case err == nil:
		return errors.New("dispatch succeeded but the vector expects a failure")
	case !errors.As(err, &de) || de.Stage != protocol.DispatchBuilder || !errors.Is(err, want):
		return fmt.Errorf("dispatch failed with %v, expected a builder %v", err, want)
	case want == protocol.Overflow && de.Status() != protocol.StatusLimitExceeded:
		return fmt.Errorf("an overflow must map to LIMIT_EXCEEDED, got %v", de.Status())
	}
	return nil
}

func checkNegativePayload(_ *testing.T, v *vector, _ string) error {
	want, err := errorKind(*v.RejectError)
	if err != nil {
		return err
	}
	f, err := parseObj(v.Fields)
	if err != nil {
		return err
	}
	decoder := str(f, "decoder")
	switch *v.RejectStage {
	case "decode":
		_, err = decodePayload(decoder, v.Bytes)
	case "item_access":
		if decoder != "CGROUPS_RESP" {
			return fmt.Errorf("no item_access checker for %s", decoder)
		}
		raw, _ := parseObj(v.Raw)
		index, err2 := num(raw, "reject_item_index", 0)
		if err2 != nil {
			return err2
		}
		view, err2 := protocol.DecodeCgroupsResponse(v.Bytes)
		if err2 != nil {
			return fmt.Errorf("the header and directory must decode: %w", err2)
		}
		for i := 0; i < int(index); i++ {
			if _, err2 := view.Item(i); err2 != nil {
				return fmt.Errorf("item %d before the bad one failed: %w", i, err2)
			}
		}
		_, err = view.Item(int(index))
	default:
		return fmt.Errorf("no checker for stage %s", *v.RejectStage)
	}
	switch {
	case err == nil:
		return fmt.Errorf("accepted, expected %v", want)
	case !errors.Is(err, want):
		return fmt.Errorf("rejected with %v, expected %v", err, want)
	}
	return nil
}

// decodeHandshakePayload decodes the HELLO and HELLO_ACK payloads of the
// codec vectors (the codecs of wire's hello.go).
func decodeHandshakePayload(decoder string, p []byte) (any, error) {
	switch decoder {
	case "HELLO":
		h, err := protocol.DecodeHello(p)
		return obj{"layout_version": 1, "flags": h.Flags, "supported_profiles": h.SupportedProfiles,
			"preferred_profiles": h.PreferredProfiles, "max_request_payload_bytes": h.MaxRequestPayloadBytes,
			"max_request_batch_items": h.MaxRequestBatchItems, "max_response_payload_bytes": h.MaxResponsePayloadBytes,
			"max_response_batch_items": h.MaxResponseBatchItems, "auth_token": h.AuthToken, "packet_size": h.PacketSize}, err
	case "HELLO_ACK":
		a, err := protocol.DecodeHelloAck(p)
		return obj{"layout_version": 1, "flags": 0, "server_supported_profiles": a.ServerSupportedProfiles,
			"intersection_profiles": a.IntersectionProfiles, "selected_profile": a.SelectedProfile,
			"agreed_max_request_payload_bytes":  a.AgreedMaxRequestPayloadBytes,
			"agreed_max_request_batch_items":    a.AgreedMaxRequestBatchItems,
			"agreed_max_response_payload_bytes": a.AgreedMaxResponsePayloadBytes,
			"agreed_max_response_batch_items":   a.AgreedMaxResponseBatchItems,
			"agreed_packet_size":                a.AgreedPacketSize, "session_id": a.SessionID}, err
	}
	return nil, fmt.Errorf("unknown decoder %s", decoder)
}

func encodeHandshakeFields(decoder string, f obj, out []byte) (int, error) {
	switch decoder {
	case "HELLO":
		x, err := nums(f, "flags", "supported_profiles", "preferred_profiles", "max_request_payload_bytes",
			"max_request_batch_items", "max_response_payload_bytes", "max_response_batch_items", "auth_token", "packet_size")
		if err != nil {
			return 0, err
		}
		h := protocol.Hello{Flags: uint16(x[0]), SupportedProfiles: protocol.Profile(x[1]), PreferredProfiles: protocol.Profile(x[2]),
			MaxRequestPayloadBytes: uint32(x[3]), MaxRequestBatchItems: uint32(x[4]), MaxResponsePayloadBytes: uint32(x[5]),
			MaxResponseBatchItems: uint32(x[6]), AuthToken: x[7], PacketSize: uint32(x[8])}
		h.Encode(out)
		return protocol.HelloLen, nil
	case "HELLO_ACK":
		x, err := nums(f, "server_supported_profiles", "intersection_profiles", "selected_profile",
			"agreed_max_request_payload_bytes", "agreed_max_request_batch_items", "agreed_max_response_payload_bytes",
			"agreed_max_response_batch_items", "agreed_packet_size", "session_id")
		if err != nil {
			return 0, err
		}
		a := protocol.HelloAck{ServerSupportedProfiles: protocol.Profile(x[0]), IntersectionProfiles: protocol.Profile(x[1]),
			SelectedProfile: protocol.Profile(x[2]), AgreedMaxRequestPayloadBytes: uint32(x[3]),
			AgreedMaxRequestBatchItems: uint32(x[4]), AgreedMaxResponsePayloadBytes: uint32(x[5]),
			AgreedMaxResponseBatchItems: uint32(x[6]), AgreedPacketSize: uint32(x[7]), SessionID: x[8]}
		a.Encode(out)
		return protocol.HelloAckLen, nil
	}
	return 0, fmt.Errorf("no encoder for %s", decoder)
}
