// Command netipc-go-peer is a Go provider for the Rust side of the
// interop tests (crates/netipc-tests/tests/go_peers.rs): a managed Go
// server of one service kind, the Go counterpart of `netipc serve`.
//
//	netipc-go-peer [-run-dir DIR] [-service NAME] [-profiles LIST] [-data FILE] [-workers N] KIND
//
// KIND is cgroups-snapshot, cgroups-lookup or apps-lookup (answered from
// -data FILE, a JSON file in the shape `netipc call KIND --json` prints,
// with the defaults of `netipc serve --data`, and read again when it
// changes), increment (value + 1) or string-reverse (the text reversed
// by Unicode scalar value, as the Rust test server does).
// -profiles is a list like `baseline|shm-hybrid` (names baseline,
// shm-hybrid, shm-alt; default: the library's).
//
// It prints "ready" on standard output once clients can connect, and
// stops when its standard input reaches end-of-file, on SIGINT or
// SIGTERM: it then stops the server (removing its endpoint) and exits 0.
// Exit status 1: the server could not start or failed; 2: bad arguments.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/internal/service/server"
	"github.com/netdata/netipc/go/protocol"
)

// reloadPoll is how often the data file is looked at.
const reloadPoll = 100 * time.Millisecond

// provider is what every server kind offers.
type provider interface {
	Listen() error
	Run() error
	Stop()
}

func main() { os.Exit(run()) }

func run() int {
	flags := flag.NewFlagSet("netipc-go-peer", flag.ContinueOnError)
	runDir := flags.String("run-dir", os.TempDir(), "directory of the endpoint")
	service := flags.String("service", "", "service name (default: KIND)")
	profiles := flags.String("profiles", "", "transport profiles to offer, e.g. baseline|shm-hybrid (default: the library's)")
	dataFile := flags.String("data", "", "JSON data file (cgroups-snapshot, cgroups-lookup, apps-lookup)")
	workers := flags.Int("workers", 0, "handlers running at once (default: the library's)")
	if err := flags.Parse(os.Args[1:]); err != nil || flags.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: netipc-go-peer [flags] KIND")
		return 2
	}
	kind := flags.Arg(0)
	if *service == "" {
		*service = kind
	}
	set, err := parseProfiles(*profiles)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netipc-go-peer:", err)
		return 2
	}
	cfg := netipc.ServerConfig{SupportedProfiles: set, Workers: *workers}

	stop := make(chan struct{})
	var src *source
	if kind == "cgroups-snapshot" || kind == "cgroups-lookup" || kind == "apps-lookup" {
		if *dataFile == "" {
			fmt.Fprintf(os.Stderr, "netipc-go-peer: %s needs -data FILE\n", kind)
			return 2
		}
		if src, err = loadSource(kind, *dataFile); err != nil {
			fmt.Fprintln(os.Stderr, "netipc-go-peer:", err)
			return 1
		}
		go src.watch(reloadPoll, stop)
	}
	p, err := newProvider(kind, *runDir, *service, cfg, src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netipc-go-peer:", err)
		return 2
	}
	if err := p.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, "netipc-go-peer:", err)
		return 1
	}
	fmt.Println("ready")

	go func() {
		io.Copy(io.Discard, os.Stdin)
		p.Stop()
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		p.Stop()
	}()
	err = p.Run()
	close(stop)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netipc-go-peer:", err)
		return 1
	}
	return 0
}

// reverse appends text reversed by Unicode scalar value to out, as the
// Rust test handler answers (which sees a text that is not UTF-8 as
// empty).
func reverse(text, out []byte) ([]byte, error) {
	if !utf8.Valid(text) {
		return out, nil
	}
	for end := len(text); end > 0; {
		_, size := utf8.DecodeLastRune(text[:end])
		out = append(out, text[end-size:end]...)
		end -= size
	}
	return out, nil
}

// parseProfiles reads a profile list like `baseline|shm-hybrid` (or with
// commas); "" is the library's default.
func parseProfiles(list string) (protocol.Profile, error) {
	var set protocol.Profile
	if list == "" {
		return 0, nil
	}
	for _, word := range strings.FieldsFunc(list, func(r rune) bool { return r == '|' || r == ',' }) {
		switch strings.TrimSpace(word) {
		case "baseline":
			set |= protocol.ProfileBaseline
		case "shm-hybrid":
			set |= protocol.ProfileSHMHybrid
		case "shm-alt":
			set |= protocol.ProfileSHMAlt
		default:
			return 0, fmt.Errorf("%q is not a profile: use baseline, shm-hybrid, shm-alt", word)
		}
	}
	return set, nil
}

func newProvider(kind, runDir, service string, cfg netipc.ServerConfig, src *source) (provider, error) {
	switch kind {
	case "cgroups-snapshot":
		return cgroups.NewServer(runDir, service, cfg, cgroups.Handler{
			Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
				t := src.table()
				b.SetGeneration(t.generation)
				b.SetSystemdEnabled(t.systemdEnabled)
				for _, it := range t.snapshot {
					if err := b.Add(it.hash, it.options, it.enabled, it.name, it.path); err != nil {
						return err
					}
				}
				return nil
			},
		}), nil
	case "cgroups-lookup":
		return cgroupslookup.NewServer(runDir, service, cfg, cgroupslookup.Handler{
			Handle: func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
				t := src.table()
				b.SetGeneration(t.generation)
				unknown := protocol.CgroupsLookupEntry{Status: t.unknown}
				for i, path := range req.Paths() {
					e, ok := t.cgroups[string(path)]
					if !ok {
						e = &unknown
					}
					if err := b.AddRequestItem(i, e); err != nil {
						return err
					}
				}
				return nil
			},
		}), nil
	case "apps-lookup":
		return appslookup.NewServer(runDir, service, cfg, appslookup.Handler{
			Handle: func(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
				t := src.table()
				b.SetGeneration(t.generation)
				for _, pid := range req.PIDs() {
					var err error
					if e, ok := t.apps[pid]; ok {
						err = b.Add(pid, e)
					} else {
						err = b.AddStatus(pid, protocol.PIDUnknown)
					}
					if err != nil {
						return err
					}
				}
				return nil
			},
		}), nil
	case "increment":
		return server.NewIncrement(runDir, service, cfg, func(v uint64) (uint64, error) {
			return v + 1, nil
		}), nil
	case "string-reverse":
		return server.NewStringReverse(runDir, service, cfg, reverse), nil
	}
	return nil, errors.New(kind + " is not a kind: use cgroups-snapshot, cgroups-lookup, apps-lookup, increment or string-reverse")
}
