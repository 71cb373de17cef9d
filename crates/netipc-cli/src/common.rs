//! What `serve`, `call`, `probe` and `demo` share: the service kinds, the
//! endpoint arguments, exit codes and error messages that say what to do.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use netipc::service::ClientState;
use netipc::transport::run_dir::{self, RunDirError, RunDirPolicy, RunDirState, prepare_run_dir};
use netipc::transport::{Identity, IdentityPolicy, names};
use netipc::wire::{Method, Profiles, TransportStatus};

/// Exit code: the operation failed (the message says why).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad arguments (also clap's).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: no provider is running at the endpoint.
pub const EXIT_NO_PROVIDER: u8 = 3;

/// The kinds of service `netipc` can serve and call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The full list of cgroups (CGROUPS_SNAPSHOT).
    CgroupsSnapshot,
    /// Metadata of cgroup paths (CGROUPS_LOOKUP).
    CgroupsLookup,
    /// Process and cgroup metadata of PIDs (APPS_LOOKUP).
    AppsLookup,
    /// Test service: a number in, the number + 1 out (INCREMENT).
    Increment,
    /// Test service: a text in, the text reversed out (STRING_REVERSE).
    StringReverse,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::CgroupsSnapshot,
        Kind::CgroupsLookup,
        Kind::AppsLookup,
        Kind::Increment,
        Kind::StringReverse,
    ];

    /// The command-line name, which is also the conventional service name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::CgroupsSnapshot => netipc::netdata::CGROUPS_SNAPSHOT_SERVICE,
            Kind::CgroupsLookup => netipc::netdata::CGROUPS_LOOKUP_SERVICE,
            Kind::AppsLookup => netipc::netdata::APPS_LOOKUP_SERVICE,
            Kind::Increment => "increment",
            Kind::StringReverse => "string-reverse",
        }
    }

    /// The method of the kind.
    pub fn method(self) -> Method {
        match self {
            Kind::CgroupsSnapshot => Method::CgroupsSnapshot,
            Kind::CgroupsLookup => Method::CgroupsLookup,
            Kind::AppsLookup => Method::AppsLookup,
            Kind::Increment => Method::Increment,
            Kind::StringReverse => Method::StringReverse,
        }
    }

    /// The kind whose conventional service name is `service`.
    pub fn by_service_name(service: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == service)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Help text of `--run-dir`.
pub const RUN_DIR_HELP: &str = "Directory of the endpoints; providers and consumers must use \
the identical string. It must belong to you or root and not be writable by others; `serve` \
creates it (mode 0700, its parent must exist) and removes it again [default: \
$NETIPC_RUN_DIR, else $XDG_RUNTIME_DIR/netipc, else /run/netipc when /run is writable, \
else <temporary directory>/netipc-<uid>]";

/// Where a provider listens: the arguments `serve`, `call` and `probe`
/// share.
#[derive(Debug, Clone, clap::Args)]
pub struct EndpointArgs {
    #[arg(long, value_name = "DIR", help = RUN_DIR_HELP)]
    pub run_dir: Option<String>,

    /// Accept a run directory that its group may write (providers of
    /// several users sharing one directory; give it mode 1770).
    #[arg(long)]
    pub shared_run_dir: bool,

    /// Shared secret of provider and consumers (decimal or 0x-hex).
    #[arg(long, value_name = "TOKEN", default_value = "0", value_parser = parse_token)]
    pub auth_token: u64,
}

/// Help text of `--provider-identity`.
pub const PROVIDER_IDENTITY_HELP: &str = "Providers to talk to, checked before the auth token is \
sent: same-user-or-admin (the default: this user, root / the OS administrator), any, or a \
comma-separated list of uid:N, gid:N and Windows SIDs (S-1-5-18)";

/// Help text of `--profiles`.
pub const PROFILES_HELP: &str = "Transport profiles to offer, joined by | or ,: baseline (socket \
or pipe), shm-hybrid (shared memory, spin then sleep), shm-alt (Linux: the same as shm-hybrid; \
Windows: shared memory that only spins) [default: baseline|shm-hybrid]";

/// The profiles a consumer offers and prefers for `--profiles` and
/// `--no-shm`: the given set (preferring all of it), baseline alone, or
/// the library's defaults (empty sets).
/// How a consumer command (`call`, `probe`, `cache`) connects: the
/// transport profiles to offer, the providers to trust and the time limit.
#[derive(Debug, clap::Args)]
pub struct ConsumerArgs {
    /// Longest time the connection and each call (or refresh) may take,
    /// in ms.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u64,

    /// Offer only the baseline transport (socket or pipe), no shared
    /// memory: the same as `--profiles baseline`.
    #[arg(long, conflicts_with = "profiles")]
    pub no_shm: bool,

    #[arg(long, value_name = "LIST", help = PROFILES_HELP)]
    pub profiles: Option<Profiles>,

    #[arg(long, value_name = "POLICY", default_value = "default",
          hide_default_value = true, help = PROVIDER_IDENTITY_HELP)]
    pub provider_identity: IdentityPolicy,
}

impl ConsumerArgs {
    /// The time limit (at least 1 ms).
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.max(1))
    }

    /// (supported, preferred) profiles; empty sets mean the defaults.
    pub fn profiles(&self) -> (Profiles, Profiles) {
        match (self.profiles, self.no_shm) {
            (Some(p), _) => (p, p),
            (None, true) => (Profiles::BASELINE, Profiles::empty()),
            (None, false) => (Profiles::empty(), Profiles::empty()),
        }
    }

    /// The transport (L1) options of a session for a provider with
    /// `auth_token`: the service-level defaults spelled out, since the
    /// transport's empty profile sets mean "baseline only" and "no
    /// preference".
    pub fn client_options(&self, auth_token: u64) -> netipc::transport::ClientOptions {
        let (supported, preferred) = self.profiles();
        netipc::transport::ClientOptions {
            supported_profiles: if supported.is_empty() {
                netipc::service::DEFAULT_PROFILES
            } else {
                supported
            },
            preferred_profiles: if supported.is_empty() {
                Profiles::SHM_HYBRID
            } else {
                preferred
            },
            auth_token,
            handshake_timeout: self.timeout(),
            provider_identity: self.provider_identity,
            ..netipc::transport::ClientOptions::default()
        }
    }

    /// The typed client's config for a provider with `auth_token`.
    pub fn client_config(&self, auth_token: u64) -> netipc::service::ClientConfig {
        let (supported_profiles, preferred_profiles) = self.profiles();
        netipc::service::ClientConfig {
            auth_token,
            call_timeout: self.timeout(),
            supported_profiles,
            preferred_profiles,
            provider_identity: self.provider_identity,
            ..netipc::service::ClientConfig::default()
        }
    }
}

impl EndpointArgs {
    /// The run directory string: given, or the default. Not checked.
    ///
    /// # Errors
    /// An empty `--run-dir`; a default that is not UTF-8.
    pub fn run_dir(&self) -> Result<String, CliError> {
        match &self.run_dir {
            Some(dir) if dir.is_empty() => Err(run_dir_error(&RunDirError::Empty)),
            Some(dir) => Ok(dir.clone()),
            None => default_run_dir(),
        }
    }

    /// The run directory of a provider: created (mode 0700) when missing,
    /// else checked; with what was found.
    ///
    /// # Errors
    /// As [`run_dir`](Self::run_dir), and a directory that other users
    /// could control (the message names its path, owner and mode).
    pub fn provider_run_dir(&self) -> Result<(String, RunDirState), CliError> {
        let dir = self.run_dir()?;
        let policy = RunDirPolicy {
            create: true,
            allow_group_write: self.shared_run_dir,
        };
        let state = prepare_run_dir(&dir, &policy).map_err(|e| run_dir_error(&e))?;
        Ok((dir, state))
    }

    /// The run directory of a consumer: checked if it exists (a missing
    /// one means no provider is running; the connection says so). A
    /// directory of another user passes when `providers` trusts that user
    /// (`--provider-identity uid:N` or `any`): its owner is the provider.
    ///
    /// # Errors
    /// As [`provider_run_dir`](Self::provider_run_dir).
    pub fn consumer_run_dir(&self, providers: &IdentityPolicy) -> Result<String, CliError> {
        let dir = self.run_dir()?;
        check_consumer_run_dir(&dir, self.shared_run_dir, providers)?;
        Ok(dir)
    }
}

/// Checks a consumer's run directory if it exists (a missing one is left
/// to the connection, which reports that no provider is running). A
/// directory owned by a user that `providers` trusts is accepted.
///
/// # Errors
/// A directory that other users could control, or an empty path.
pub fn check_consumer_run_dir(
    dir: &str,
    shared: bool,
    providers: &IdentityPolicy,
) -> Result<(), CliError> {
    let policy = RunDirPolicy {
        create: false,
        allow_group_write: shared,
    };
    match prepare_run_dir(dir, &policy) {
        Ok(_) | Err(RunDirError::Missing { .. } | RunDirError::MissingParent { .. }) => Ok(()),
        Err(RunDirError::ForeignOwner { owner, .. }) if trusts_owner(providers, owner) => Ok(()),
        Err(e @ RunDirError::ForeignOwner { owner, .. }) => Err(CliError::failed(format!(
            "{e}; if uid {owner} is the provider you mean to use, pass --provider-identity uid:{owner}"
        ))),
        Err(e) => Err(run_dir_error(&e)),
    }
}

/// Whether the provider policy names the directory's owner (or any user).
fn trusts_owner(providers: &IdentityPolicy, owner: u32) -> bool {
    match providers {
        IdentityPolicy::Any => true,
        IdentityPolicy::Only(list) => list.contains(&Identity::Uid(owner)),
        _ => false,
    }
}

/// A run-directory problem as a CLI error: an empty `--run-dir` is a
/// usage error, anything else a failure whose message says what to do.
pub fn run_dir_error(e: &RunDirError) -> CliError {
    match e {
        RunDirError::Empty => CliError::usage(
            "--run-dir is empty: pass the path of a directory, or leave the option out to use the default",
        ),
        RunDirError::GroupWritable { .. } => {
            CliError::failed(format!("{e}; --shared-run-dir opts in"))
        }
        other => CliError::failed(other.to_string()),
    }
}

/// `$NETIPC_RUN_DIR`, else the library's default
/// ([`netipc::transport::run_dir::default_run_dir`]).
///
/// # Errors
/// When the directory is not UTF-8 (endpoint names are strings).
pub fn default_run_dir() -> Result<String, CliError> {
    if let Some(dir) = std::env::var_os("NETIPC_RUN_DIR").filter(|s| !s.is_empty()) {
        return dir.into_string().map_err(|dir| {
            CliError::usage(format!(
                "NETIPC_RUN_DIR ({}) is not UTF-8: pass --run-dir",
                std::path::Path::new(&dir).display()
            ))
        });
    }
    run_dir::default_run_dir().map_err(|e| CliError::usage(format!("{e} (--run-dir)")))
}

/// A fresh private (0700) temporary run directory named `<prefix>…` and
/// its path, removed when the returned guard drops. The error says what to
/// do.
pub fn temp_run_dir(prefix: &str) -> Result<(tempfile::TempDir, String), String> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| {
            format!("cannot create a temporary run directory: {e}; set TMPDIR to a writable place")
        })?;
    let path = dir.path().to_str().map(str::to_owned).ok_or_else(|| {
        format!(
            "the temporary directory {} is not UTF-8; set TMPDIR to a plain path",
            dir.path().display()
        )
    })?;
    Ok((dir, path))
}

/// Parses an auth token: decimal or `0x` hex.
pub fn parse_token(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("`{s}` is not a 64-bit number (decimal or 0x-hex)"))
}

/// The endpoint of a service, for messages: the socket path on POSIX,
/// the pipe name on Windows.
pub fn endpoint(run_dir: &str, service: &str) -> String {
    let name = if std::env::consts::OS == "windows" {
        names::pipe_name(run_dir, service)
    } else {
        names::socket_path(run_dir, service)
    };
    name.unwrap_or_else(|e| format!("(no endpoint: {e})"))
}

/// A failure of a subcommand: the message names the problem and what to
/// do; the code is the process exit code.
#[derive(Debug)]
pub struct CliError {
    /// The message (without the `netipc CMD: error: ` prefix).
    pub message: String,
    /// Exit code.
    pub code: u8,
}

impl CliError {
    /// A failure (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_FAILED,
        }
    }

    /// Bad arguments (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }

    /// Prints the error for `command` and returns its exit code.
    pub fn report(&self, command: &str) -> ExitCode {
        eprintln!("netipc {command}: error: {}", self.message);
        ExitCode::from(self.code)
    }
}

/// Where a client that did not become ready stands, as an error that says
/// what to do.
pub fn not_ready(kind: Kind, run_dir: &str, service: &str, state: ClientState) -> CliError {
    let serve = serve_hint(kind, run_dir, service);
    match state {
        ClientState::NotFound => CliError {
            message: format!(
                "no provider of service \"{service}\" is running in {run_dir} ({}): start it with `{serve}`, or pass the provider's --run-dir and --service",
                endpoint(run_dir, service)
            ),
            code: EXIT_NO_PROVIDER,
        },
        ClientState::AuthFailed => CliError::failed(format!(
            "the provider of \"{service}\" refused the auth token: pass the provider's token with --auth-token"
        )),
        ClientState::Incompatible => CliError::failed(format!(
            "the provider of \"{service}\" is incompatible (another protocol version, or no common transport profile): use a provider and consumer of the same NetIPC version"
        )),
        other => CliError::failed(format!(
            "could not connect to \"{service}\" in {run_dir} (state {other:?}): the provider may be overloaded or restarting; try again"
        )),
    }
}

/// The command that starts a provider for `service`.
pub fn serve_hint(kind: Kind, run_dir: &str, service: &str) -> String {
    let mut cmd = format!("netipc serve {kind} --run-dir {}", shell_word(run_dir));
    if service != kind.name() {
        cmd.push_str(&format!(" --service {service}"));
    }
    cmd
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:\\".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A failed typed call or connect as an error that says what to do: a
/// client that is not connected reports why its connection failed.
pub fn call_failed(kind: Kind, run_dir: &str, service: &str, err: &netipc::Error) -> CliError {
    match err {
        netipc::Error::Rejected(status) if *status == TransportStatus::UNSUPPORTED => {
            CliError::failed(format!(
                "service \"{service}\" does not answer {kind} requests (UNSUPPORTED): it serves another kind; check --service, or find out with `netipc probe {service}`"
            ))
        }
        netipc::Error::Rejected(status) => CliError::failed(format!(
            "the provider of \"{service}\" failed to answer the request ({status}); it was not sent again: see the provider's log (`netipc serve -v` prints it)"
        )),
        netipc::Error::NotReady {
            cause: Some(cause), ..
        } => connect_failed(Some(kind), run_dir, service, cause),
        netipc::Error::NotReady { state, cause: None } => not_ready(kind, run_dir, service, *state),
        netipc::Error::Timeout { .. } => CliError::failed(format!(
            "the provider of \"{service}\" did not answer in time ({err}); raise --timeout-ms if it is busy"
        )),
        netipc::Error::Disconnected => CliError::failed(format!(
            "the provider of \"{service}\" closed the connection during the {kind} call: it may have stopped or restarted; try again"
        )),
        other => CliError::failed(format!("the {kind} call to \"{service}\" failed: {other}")),
    }
}

/// A failed L1 connect (`probe`) as an error that says what to do.
pub fn connect_failed(
    kind: Option<Kind>,
    run_dir: &str,
    service: &str,
    err: &netipc::Error,
) -> CliError {
    use netipc::transport::HandshakeError;
    let state = match err {
        netipc::Error::NotFound { .. } => ClientState::NotFound,
        netipc::Error::Handshake(HandshakeError::AuthFailed) => ClientState::AuthFailed,
        netipc::Error::Handshake(
            HandshakeError::NoCommonProfile | HandshakeError::Incompatible(_),
        ) => ClientState::Incompatible,
        netipc::Error::Name(e) => return CliError::usage(e.to_string()),
        netipc::Error::Handshake(HandshakeError::AtCapacity { sessions }) => {
            return CliError::failed(format!(
                "the provider of \"{service}\" is at capacity ({sessions} sessions): try again later, or start it with a larger --max-sessions"
            ));
        }
        netipc::Error::Disconnected => {
            return CliError::failed(format!(
                "the provider of \"{service}\" closed the connection during the handshake: it may be overloaded or stopping; try again"
            ));
        }
        netipc::Error::UntrustedProvider(refusal) => {
            let accept = refusal
                .user
                .map_or_else(|| "any".to_owned(), |user| user.to_string());
            return CliError::failed(format!(
                "{refusal} (with netipc: --provider-identity {accept})"
            ));
        }
        netipc::Error::PermissionDenied { .. } => {
            return CliError::failed(format!("cannot call \"{service}\": {err}"));
        }
        netipc::Error::RunDir(_) => {
            return CliError {
                message: format!("cannot reach \"{service}\": {err}"),
                code: EXIT_NO_PROVIDER,
            };
        }
        netipc::Error::Timeout { .. } => {
            return CliError::failed(format!("connecting to \"{service}\" in {run_dir}: {err}"));
        }
        netipc::Error::Handshake(HandshakeError::IdentityRefused) => {
            let me = netipc::transport::Identity::current_user()
                .map_or_else(|_| "this user".to_owned(), |id| id.to_string());
            return CliError::failed(format!(
                "the provider of \"{service}\" refused this consumer ({me}) for its identity: run as a user or group the provider accepts, or start it with a --consumer-identity that includes {me}"
            ));
        }
        other => {
            return CliError::failed(format!(
                "cannot connect to \"{service}\" in {run_dir}: {other}"
            ));
        }
    };
    match kind {
        Some(kind) => not_ready(kind, run_dir, service, state),
        None if state == ClientState::NotFound => CliError {
            message: format!(
                "no provider of service \"{service}\" is running in {run_dir} ({}): start it with `netipc serve SERVICE-KIND --run-dir {} --service {service}`, or pass the provider's --run-dir",
                endpoint(run_dir, service),
                shell_word(run_dir)
            ),
            code: EXIT_NO_PROVIDER,
        },
        None => not_ready(Kind::Increment, run_dir, service, state),
    }
}

/// What a selected transport profile means on this OS.
pub fn profile_meaning(profile: Profiles) -> &'static str {
    let windows = std::env::consts::OS == "windows";
    match profile {
        Profiles::BASELINE if windows => "named pipe",
        Profiles::BASELINE => "Unix SEQPACKET socket",
        Profiles::SHM_HYBRID if windows => "shared memory, spin then wait on an event",
        Profiles::SHM_HYBRID => "shared memory, spin then futex sleep",
        Profiles::SHM_ALT if windows => "shared memory, spin only",
        Profiles::SHM_ALT => "shared memory, spin then futex sleep",
        _ => "unknown profile",
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::failed(format!("cannot write the output: {e}"))),
    }
}

/// Pretty JSON with a final newline.
pub fn json_text(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot format JSON: {e}\"}}"));
    text.push('\n');
    text
}

/// Bytes as text for humans: UTF-8 as is, anything else lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A duration in the unit that suits it (`850 ns`, `12.3 µs`, `4.56 ms`).
pub fn human_duration(d: std::time::Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// A clap parser for a number of seconds above 0 (at most a day).
pub fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds above 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(parse_token("42"), Ok(42));
        assert_eq!(parse_token("0xff"), Ok(255));
        assert!(parse_token("x").is_err());
        assert!(parse_token("-1").is_err());
    }

    #[test]
    fn hints_quote_what_needs_it() {
        assert_eq!(
            serve_hint(Kind::AppsLookup, "/run/x", "apps-lookup"),
            "netipc serve apps-lookup --run-dir /run/x"
        );
        assert_eq!(
            serve_hint(Kind::Increment, "/a b", "inc"),
            "netipc serve increment --run-dir '/a b' --service inc"
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::by_service_name(k.name()), Some(k));
        }
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_nanos(850)), "850 ns");
        assert_eq!(human_duration(Duration::from_nanos(12_340)), "12.3 µs");
        assert_eq!(human_duration(Duration::from_micros(4_560)), "4.56 ms");
    }
}
