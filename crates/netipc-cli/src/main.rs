//! The `netipc` command.
//!
//! One module per subcommand; today `decode` (a protocol inspector). The
//! live commands (`demo`, `serve`, `call`, `probe`, `bench`) join the
//! [`Cli`] enum as the library grows the layers they need.

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
}

fn main() -> ExitCode {
    match Cli::parse() {
        Cli::Decode(args) => decode::run(&args),
    }
}
