package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/internal/benchdata"
	"github.com/netdata/netipc/go/internal/service/server"
	"github.com/netdata/netipc/go/protocol"
)

// benchServer is what every scenario's server is.
type benchServer interface {
	Listen() error
	Run() error
	Stop()
	Stats() netipc.ServerStats
}

// newBenchServer returns the managed server of sc, not started: an
// INCREMENT server answering value + 1, a cgroups-snapshot server adding
// the bench snapshot's items on every request, or a cgroups-lookup server
// answering from the lookup table.
func newBenchServer(sc *scenario, runDir, service string, cfg netipc.ServerConfig) benchServer {
	switch sc.kind {
	case kindIncrement:
		return server.NewIncrement(runDir, service, cfg, func(v uint64) (uint64, error) { return v + 1, nil })
	case kindLookup:
		t := benchdata.NewLookupTable()
		return cgroupslookup.NewServer(runDir, service, cfg, cgroupslookup.Handler{Handle: t.Answer})
	default:
		list := benchdata.SnapshotCgroups(sc.snapshotItems())
		return cgroups.NewServer(runDir, service, cfg, cgroups.Handler{
			Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
				return benchdata.AddSnapshot(b, list)
			},
			// The handler knows its item count: the directory reservation
			// is exact.
			SnapshotMaxItems: uint32(len(list)),
		})
	}
}

const serverUsage = `Usage: netipc-go-bench server --scenario NAME --run-dir DIR [options]

Serves one scenario as "netipc bench-server" does: prints "ready" once
listening; a "cpu" line on stdin is answered with a JSON line of the CPU
time and resident memory, a "stats" line with the server's counters;
"stop" or the end of stdin stops it after a last JSON line
("event":"stopped"). An l2-shm-* server offers SHM_HYBRID and still
accepts baseline sessions; the l3-cache-lookup server is a snapshot
server of 1000 items.

Options:
`

func runServer(args []string) int {
	started := time.Now()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	forever := fs.Bool("forever", false, "ignore stdin and serve until killed")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serverUsage)
		fs.PrintDefaults()
	}
	sc, code := c.parse(fs, args)
	if sc == nil {
		return code
	}
	// An SHM server also accepts baseline sessions: it serves the socket
	// twin of its scenario too, as the Rust one does.
	cfg := benchdata.ServerConfig(sc.plane == planeSHM)
	cfg.MaxRequestPayloadBytes, cfg.MaxResponsePayloadBytes = uint32(c.maxRequest), uint32(c.maxResponse)
	cfg.AuthToken = uint64(c.authToken)
	srv := newBenchServer(sc, c.runDir, c.service, cfg)
	if err := srv.Listen(); err != nil {
		fmt.Fprintf(os.Stderr, "netipc-go-bench server: cannot listen as service %q in %s for scenario %s: %v\n",
			c.service, c.runDir, sc.name, err)
		return 1
	}
	ran := make(chan error, 1)
	go func() { ran <- srv.Run() }()
	if say(os.Stdout, "ready") != nil {
		srv.Stop()
		return 1
	}
	if *forever {
		return exitOf(<-ran)
	}
	controlled := make(chan struct{})
	go func() {
		control(os.Stdin, os.Stdout, os.Stderr, started, srv)
		close(controlled)
	}()
	var runErr error
	select {
	case <-controlled:
		srv.Stop()
		runErr = <-ran
	case runErr = <-ran:
		// Run ended by itself: an error, reported below.
		if runErr == nil {
			runErr = fmt.Errorf("the server stopped serving by itself")
		}
	}
	_ = say(os.Stdout, newCPULine("stopped", started))
	return exitOf(runErr)
}

func exitOf(err error) int {
	if err != nil {
		fmt.Fprintf(os.Stderr, "netipc-go-bench server: %v\n", err)
		return 1
	}
	return 0
}

// control answers the control lines of in on out until `stop` or the end
// of in; unknown lines are reported on errs.
func control(in io.Reader, out, errs io.Writer, started time.Time, srv benchServer) {
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		var answer string
		switch line := strings.TrimSpace(lines.Text()); line {
		case "cpu":
			answer = newCPULine("cpu", started)
		case "stats":
			answer = statsLine(srv.Stats())
		case "stop":
			return
		case "":
			continue
		default:
			fmt.Fprintf(errs, "netipc-go-bench server: unknown control line %q (use cpu, stats or stop)\n", line)
			continue
		}
		if say(out, answer) != nil {
			return
		}
	}
}

// statsLine is the JSON line answering `stats`: the server's counters,
// under the names of the Rust bench-server's line.
func statsLine(s netipc.ServerStats) string {
	return jsonLine(map[string]any{
		"event":               "stats",
		"sessions":            s.Sessions,
		"peak_sessions":       s.PeakSessions,
		"session_limit":       s.SessionLimit,
		"handshaking":         s.Handshaking,
		"sessions_opened":     s.SessionsOpened,
		"refused_at_capacity": s.RefusedAtCapacity,
		"handshake_failures":  s.HandshakeFailures,
		"handshake_timeouts":  s.HandshakeTimeouts,
		"dropped_connections": s.DroppedConnections,
		"send_timeouts":       s.SendTimeouts,
		"requests":            s.Requests,
		"failed_requests":     s.FailedRequests,
		"handler_errors":      s.HandlerErrors,
		"handler_panics":      s.HandlerPanics,
		"auth_failures":       s.AuthFailures,
		"protocol_errors":     s.ProtocolErrors,
		"bytes_received":      s.BytesReceived,
		"bytes_sent":          s.BytesSent,
	})
}
