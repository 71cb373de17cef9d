//! The `netipc` command.
//!
//! One module per subcommand: `demo` (the tour of the stack on this
//! machine), `serve`, `call` and `probe` (a provider, a consumer and a
//! handshake report), `decode` (a protocol inspector), `bench` (the
//! benchmark engine, with its `bench-server` and `bench-client` roles) and
//! `stress` (whole-host load scenarios: many consumers against one
//! provider, reusing the `bench-server` child).
//! [`providers`] holds the data behind `serve` and `demo`; [`common`] and
//! [`table`] are shared by the live commands; [`usage`] reads this
//! process's CPU time and memory for `bench` and `stress`.

mod bench;
mod cache;
mod call;
mod common;
mod decode;
mod demo;
mod probe;
mod providers;
mod serve;
mod stress;
mod table;
mod usage;

use std::process::ExitCode;

use clap::Parser;

/// NetIPC tools: demo, serve, call, probe, benchmark, stress and inspect the
/// local IPC protocol of netdata/plugin-ipc.
#[derive(Debug, Parser)]
#[command(name = "netipc", version, propagate_version = true)]
enum Cli {
    /// Start cgroups and apps providers fed by this machine, consume them
    /// (snapshot cache, lookups), show the transport and latency, clean up.
    Demo(demo::DemoArgs),
    /// Run one provider (cgroups-snapshot, cgroups-lookup, apps-lookup,
    /// increment, string-reverse) until Ctrl-C.
    Serve(serve::ServeArgs),
    /// Call a running provider once and print the answer.
    Call(call::CallArgs),
    /// Handshake with a provider and report what was negotiated and the
    /// round-trip time.
    Probe(probe::ProbeArgs),
    /// Run the L3 snapshot cache against a cgroups-snapshot provider:
    /// refresh it, print its status and its items (or look names up).
    Cache(cache::CacheArgs),
    /// Decode one NetIPC message, chunk header or bare payload and print
    /// every field.
    Decode(decode::DecodeArgs),
    /// Benchmark the transport: every scenario against its limit row, with
    /// the server in a separate process.
    Bench(bench::BenchArgs),
    /// Serve one benchmark scenario (the server role of `bench`).
    BenchServer(bench::ServerArgs),
    /// Run the client side of one benchmark scenario against a running
    /// server and print its row.
    BenchClient(bench::ClientArgs),
    /// Load a provider with many consumers at once: calls under load, idle
    /// sessions, departures, connection churn.
    Stress(stress::StressArgs),
}

fn main() -> ExitCode {
    match Cli::parse() {
        Cli::Demo(args) => demo::run(&args),
        Cli::Serve(args) => serve::run(&args),
        Cli::Call(args) => call::run(&args),
        Cli::Probe(args) => probe::run(&args),
        Cli::Cache(args) => cache::run(&args),
        Cli::Decode(args) => decode::run(&args),
        Cli::Bench(args) => bench::run(&args),
        Cli::BenchServer(args) => bench::run_server(&args),
        Cli::BenchClient(args) => bench::run_client(&args),
        Cli::Stress(args) => stress::run(&args),
    }
}
