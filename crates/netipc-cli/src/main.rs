//! The `netipc` command.
//!
//! One module per subcommand: `decode` (a protocol inspector) and `bench`
//! (the benchmark engine, with its `bench-server` and `bench-client`
//! roles). The other live commands (`demo`, `serve`, `call`, `probe`) join
//! the [`Cli`] enum as the library grows the layers they need.

mod bench;
mod decode;

use std::process::ExitCode;

use clap::Parser;

/// NetIPC tools: inspect (and later serve, call and benchmark) the local
/// IPC protocol of netdata/plugin-ipc.
#[derive(Debug, Parser)]
#[command(name = "netipc", version, propagate_version = true)]
enum Cli {
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
}

fn main() -> ExitCode {
    match Cli::parse() {
        Cli::Decode(args) => decode::run(&args),
        Cli::Bench(args) => bench::run(&args),
        Cli::BenchServer(args) => bench::run_server(&args),
        Cli::BenchClient(args) => bench::run_client(&args),
    }
}
