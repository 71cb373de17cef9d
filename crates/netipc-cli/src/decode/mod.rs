//! `netipc decode`: a protocol inspector for one NetIPC message.
//!
//! The input is a file, a device or stdin holding one message: the 32-byte
//! outer header and its payload, at most the largest legal message
//! (4294967295 bytes; see [`input`]). A chunk continuation header (magic `NCHK`) is
//! recognised and printed as well, and `--payload METHOD[:DIRECTION]`
//! decodes a bare method or handshake payload without a header (the form
//! of the codec golden vectors).
//!
//! Modules: [`input`] reads the bytes, [`message`] and [`payload`] decode
//! them with the library into the [`model`], [`text`] / [`text_payload`]
//! and [`json`] print the model. Malformed input is reported with the field
//! and byte offset ([`error`]).

mod error;
mod input;
mod json;
mod layout;
mod message;
mod model;
mod names;
mod payload;
mod text;
mod text_payload;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use error::{DecodeError, EXIT_IO};
use model::{Direction, PayloadType};

/// Arguments of `netipc decode`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 decoded, 1 the input could not be read, 2 the input is malformed \
(the error names the field and its byte offset) or larger than the largest legal \
NetIPC message (4294967295 bytes; reading stops there).

Examples:
  netipc decode message.bin
  netipc decode --json message.bin
  xxd -p message.bin | netipc decode --hex -
  netipc decode --payload cgroups-lookup:response payload.bin")]
pub struct DecodeArgs {
    /// File holding the bytes; `-` reads stdin.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The input is hex text (whitespace and newlines are ignored).
    #[arg(long)]
    hex: bool,

    /// Print JSON instead of the readable layout (errors still go to
    /// stderr as text).
    #[arg(long)]
    json: bool,

    /// Decode the input as a bare payload without outer header.
    ///
    /// METHOD is one of increment, string-reverse, cgroups-snapshot,
    /// cgroups-lookup, apps-lookup, hello, hello-ack. DIRECTION (request or
    /// response) is required for cgroups-snapshot, cgroups-lookup and
    /// apps-lookup.
    #[arg(long, value_name = "METHOD[:DIRECTION]", value_parser = parse_payload_spec)]
    payload: Option<PayloadSpec>,

    /// Decode only the 32-byte outer header; the payload (which may be
    /// missing) is not checked.
    #[arg(long, conflicts_with = "payload")]
    header_only: bool,

    /// Show the payload (or each batch item) as hex instead of decoding it
    /// by method code; the header and batch directory are still checked.
    #[arg(long, conflicts_with_all = ["payload", "header_only"])]
    raw: bool,
}

/// The parsed value of `--payload`.
#[derive(Debug, Clone, Copy)]
struct PayloadSpec {
    ty: PayloadType,
    direction: Direction,
}

fn parse_payload_spec(spec: &str) -> Result<PayloadSpec, String> {
    let (method, direction) = match spec.split_once(':') {
        Some((m, d)) => (m, Some(d)),
        None => (spec, None),
    };
    let names = || {
        PayloadType::ALL
            .iter()
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(&(ty, _)) = PayloadType::ALL.iter().find(|(_, n)| *n == method) else {
        return Err(format!(
            "unknown method `{method}` (expected one of {})",
            names()
        ));
    };
    let direction = match direction {
        Some("request") => Direction::Request,
        Some("response") => Direction::Response,
        Some(other) => {
            return Err(format!(
                "unknown direction `{other}` (expected request or response)"
            ));
        }
        None if ty.has_directions() => {
            return Err(format!(
                "`{method}` requests and responses differ: use {method}:request or {method}:response"
            ));
        }
        None if ty == PayloadType::HelloAck => Direction::Response,
        None => Direction::Request,
    };
    Ok(PayloadSpec { ty, direction })
}

/// Runs `netipc decode` and returns the process exit code.
pub fn run(args: &DecodeArgs) -> ExitCode {
    match decode(args) {
        Ok(output) => write_stdout(&output),
        Err(err) => {
            eprintln!("netipc decode: error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn decode(args: &DecodeArgs) -> Result<String, DecodeError> {
    let shape = match args.payload {
        Some(p) => input::Shape::Payload(p.ty, p.direction),
        None => input::Shape::Message {
            header_only: args.header_only,
        },
    };
    let input = input::read_input(&args.file, args.hex, shape)?;
    let options = message::Options {
        payload: args.payload.map(|p| (p.ty, p.direction)),
        header_only: args.header_only,
        raw: args.raw,
    };
    let report = message::analyze(&input.bytes, input.len, &options)?;
    Ok(if args.json {
        let mut text = serde_json::to_string_pretty(&json::render(&report))
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot format JSON: {e}\"}}"));
        text.push('\n');
        text
    } else {
        text::render(&report)
    })
}

/// Writes the output; a closed pipe (`| head`) is not an error.
fn write_stdout(output: &str) -> ExitCode {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netipc decode: error: cannot write the output: {e}");
            ExitCode::from(EXIT_IO)
        }
    }
}
