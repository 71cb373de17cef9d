//! The C API's programs: every `crates/netipc-c/tests/c/*.c` and
//! `crates/netipc-c/examples/*.c`, compiled as a plugin author would
//! (`-std=c11 -Wall -Wextra -Werror -pedantic`, the static library) and
//! run against Rust providers, under one of four [`Flavor`]s: plain gcc,
//! gcc with AddressSanitizer and UBSan, valgrind memcheck, and mingw-w64
//! under Wine (the windows lane).
//!
//! Before the programs run, the Rust fixture provider
//! (`crates/netipc-c/tests/c/fixture_provider.rs`, the services
//! `tests/c/fixture.h` names) and netipc's `cgroups_provider` example start
//! in a fresh run directory. Every test gets that directory as its only
//! argument; consumer examples get it and the example provider's prefix,
//! and must print what the Rust consumers print (`examples::CONSUMERS`);
//! provider examples are started like `cgroups_provider` and the consumer
//! examples run against them too. Then the providers' standard input is
//! closed: they must exit 0 and leave the run directory empty. Every wait
//! has a watchdog, and a failure shows the program's output.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::examples::{CONSUMERS, failed, missing_lines, with_run_dir};
use crate::process::{self, Background};
use crate::wine::{MINGW_GCC, Wine};

/// Compiler flags of every program: what the C API promises to compile
/// cleanly with.
const CFLAGS: &[&str] = &["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"];
/// The static library's system libraries (`cargo rustc --crate-type
/// staticlib -- --print native-static-libs`, plus what the Windows route
/// with -Zbuild-std needs), and the pthreads of the tests (mingw-w64's
/// winpthreads on Windows: pthread_create, clock_gettime, nanosleep).
const LINUX_LIBS: &[&str] = &["-lpthread", "-ldl", "-lm", "-lrt", "-lutil"];
const WINDOWS_LIBS: &[&str] = &[
    "-lws2_32",
    "-luserenv",
    "-lntdll",
    "-lbcrypt",
    "-ladvapi32",
    "-ldbghelp",
    "-lpthread",
    "-lkernel32",
];
/// The sanitizers of the `asan` flavor (the Rust library itself is not
/// instrumented: ASan checks the C side and every heap block, whoever
/// allocates it, and LeakSanitizer every leak).
const SANITIZE: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
];
/// Memcheck's options. `--fair-sched=yes`: valgrind runs one thread at a
/// time, and without fair scheduling threads that spin (readers of a cache
/// during refreshes, shared-memory waits) can keep the others from running
/// for minutes.
const VALGRIND: &[&str] = &[
    "-q",
    "--fair-sched=yes",
    "--error-exitcode=1",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite,indirect",
];

/// Memcheck's `--suppressions` option: the known false reports of the
/// Rust library's system calls (see the file).
fn suppressions(root: &Path) -> String {
    format!(
        "--suppressions={}",
        root.join("crates/netipc-c/tests/valgrind.supp").display()
    )
}

/// The example provider's service prefix (not the default names).
const PREFIX: &str = "xtask-c";
/// Time for a provider to start serving (Wine can be slow to start).
const READY_LIMIT: Duration = Duration::from_secs(120);
/// Time for one program (valgrind is slow).
const PROGRAM_LIMIT: Duration = Duration::from_secs(600);
/// Time for a provider to stop once its stdin is closed.
const STOP_LIMIT: Duration = Duration::from_secs(60);
/// Time to compile one program.
const COMPILE_LIMIT: Duration = Duration::from_secs(300);

/// What an example of `crates/netipc-c/examples` does. Every example must be
/// listed in [`EXAMPLES`] (the lane says so otherwise).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// Takes `RUN_DIR PREFIX`, runs against netipc's `cgroups_provider`
    /// and prints these lines (`None`: those of its Rust namesake in
    /// [`CONSUMERS`]), then exits 0.
    Consumer(Option<Expected>),
    /// A provider the consumer examples (C and Rust) run against.
    Provider(&'static ProviderExample),
}

/// One group of fragments per line a program must print.
type Expected = &'static [&'static [&'static str]];

/// A consumer run against a provider example: its name, the arguments
/// after the run directory, what it must print, and whether netipc's Rust
/// example of the same name runs too.
type ConsumerRun = (&'static str, &'static [&'static str], Expected, bool);

/// How a provider example runs, and what consumers print against it.
#[derive(PartialEq, Eq, Debug)]
struct ProviderExample {
    /// Its arguments after the run directory.
    args: &'static [&'static str],
    /// The start of the line it prints once clients can connect.
    serving: &'static str,
    consumers: &'static [ConsumerRun],
}

/// examples/cgroups_provider.c: the standard service names, stopped by
/// Ctrl-C (or after the seconds given).
const C_CGROUPS_PROVIDER: ProviderExample = ProviderExample {
    args: &["300"],
    serving: "cgroups_provider: serving",
    consumers: &[
        (
            "snapshot_consumer",
            &["cgroups"],
            &[
                &["generation 1", "4 cgroups"],
                &[
                    "docker-1a2b3c",
                    "/sys/fs/cgroup/system.slice/docker-1a2b3c.scope",
                ],
                &[
                    "user-1000.slice",
                    "/sys/fs/cgroup/user.slice/user-1000.slice",
                ],
            ],
            true,
        ),
        (
            "lookup_consumer",
            &[
                "cgroups",
                "/sys/fs/cgroup/system.slice/docker-1a2b3c.scope",
                "/sys/fs/cgroup/no-such-cgroup",
            ],
            &[
                &["generation 1", "2 paths"],
                &[
                    "KNOWN",
                    "/sys/fs/cgroup/system.slice/docker-1a2b3c.scope",
                    "-> docker-1a2b3c (docker)",
                    "image=nginx:1.27",
                ],
                &["UNKNOWN_PERMANENT", "/sys/fs/cgroup/no-such-cgroup"],
            ],
            true,
        ),
        (
            "cache_consumer",
            &["cgroups"],
            &[
                &["refresh 1: generation 1, 4 cgroups"],
                &["refresh 3: generation 1, 4 cgroups"],
                &["first cgroup, copied before the refreshes: system.slice"],
            ],
            false,
        ),
    ],
};

const EXAMPLES: &[(&str, Role)] = &[
    ("snapshot_consumer", Role::Consumer(None)),
    ("lookup_consumer", Role::Consumer(None)),
    (
        "cache_consumer",
        Role::Consumer(Some(&[
            &["refresh 1: generation 1, 3 cgroups"],
            &["nginx", "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope"],
            &["no-such-cgroup", "not cached"],
            &["refresh 3: generation 1, 3 cgroups"],
            &["first cgroup, copied before the refreshes: nginx"],
        ])),
    ),
    ("cgroups_provider", Role::Provider(&C_CGROUPS_PROVIDER)),
];

/// Tests that also take the prefix of netipc's `cgroups_provider`, which
/// serves them (the others get the run directory only).
const TESTS_OF_THE_EXAMPLE_PROVIDER: &[&str] = &["test_cache_provider"];

/// Time for a provider example to stop after Ctrl-C (or its own time
/// limit, where Ctrl-C does not reach it).
const PROVIDER_STOP_LIMIT: Duration = Duration::from_secs(330);

/// How the programs are built and run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flavor {
    /// gcc, run directly.
    Gcc,
    /// gcc with AddressSanitizer and UBSan.
    Asan,
    /// gcc, run under valgrind memcheck (against the release library:
    /// the debug one is ten times slower there).
    Valgrind,
    /// mingw-w64, run under Wine.
    Wine,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gcc => "gcc",
            Self::Asan => "asan",
            Self::Valgrind => "valgrind",
            Self::Wine => "wine",
        }
    }
}

/// One flavor's toolchain and the binaries the programs need.
pub struct Programs<'a> {
    flavor: Flavor,
    root: PathBuf,
    /// The static library to link.
    library: PathBuf,
    /// Where the Rust providers are (`c_fixture_provider`,
    /// `cgroups_provider`).
    providers: PathBuf,
    /// Where the compiled programs go.
    out: PathBuf,
    wine: Option<&'a Wine>,
}

impl<'a> Programs<'a> {
    /// `flavor` on Linux: `target` is cargo's target directory with the
    /// debug and release builds of netipc-c and the debug examples.
    pub fn linux(flavor: Flavor, root: &Path, target: &Path) -> Self {
        let profile = if flavor == Flavor::Valgrind {
            "release"
        } else {
            "debug"
        };
        Self {
            flavor,
            root: root.to_path_buf(),
            library: target.join(profile).join("libnetipc_c.a"),
            providers: target.join("debug/examples"),
            out: target.join("c").join(flavor.name()),
            wine: None,
        }
    }

    /// The Windows build in `target` (cargo's target directory of the
    /// cross build), run under `wine`.
    pub fn windows(root: &Path, target: &Path, wine: &'a Wine) -> Self {
        let build = target.join(crate::cross::TARGET).join("debug");
        Self {
            flavor: Flavor::Wine,
            root: root.to_path_buf(),
            library: build.join("libnetipc_c.a"),
            providers: build.join("examples"),
            out: target.join("c/wine"),
            wine: Some(wine),
        }
    }

    fn suffix(&self) -> &'static str {
        if self.flavor == Flavor::Wine {
            ".exe"
        } else {
            ""
        }
    }

    /// Compiles and runs every program; returns how many ran.
    pub fn check(&self) -> Result<usize, String> {
        let (tests, examples) = sources(&self.root.join("crates/netipc-c"))?;
        let roles = examples
            .iter()
            .map(|source| {
                let name = stem(source);
                EXAMPLES
                    .iter()
                    .find(|(example, _)| *example == name)
                    .map(|&(_, role)| (name.clone(), role))
                    .ok_or_else(|| {
                        format!(
                            "{} is not listed in EXAMPLES of xtask/src/c_lane.rs: \
                             add it with its role (consumer or provider)",
                            source.display()
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        fs::create_dir_all(&self.out)
            .map_err(|err| format!("cannot create {}: {err}", self.out.display()))?;
        for source in tests.iter().chain(&examples) {
            self.compile(source)?;
        }
        let name = format!("netipc-c-{}", self.flavor.name());
        with_run_dir(&name, "the providers", |dir| self.run(dir, &tests, &roles))?;
        Ok(tests.len() + examples.len())
    }

    fn binary(&self, name: &str) -> PathBuf {
        self.out.join(format!("{name}{}", self.suffix()))
    }

    fn compile(&self, source: &Path) -> Result<(), String> {
        let windows = self.flavor == Flavor::Wine;
        let sanitize = if self.flavor == Flavor::Asan {
            SANITIZE
        } else {
            &[]
        };
        let binary = self.binary(&stem(source));
        compile(
            &self.root,
            source,
            &self.library,
            &binary,
            windows,
            sanitize,
        )
    }

    /// A command running `program` of this flavor (a compiled C program,
    /// or a Rust provider when `rust`).
    fn command(&self, program: &Path, rust: bool) -> Command {
        match (self.flavor, self.wine) {
            (Flavor::Wine, Some(wine)) => {
                let mut cmd = Command::new(wine.wine64());
                cmd.arg(program).envs(wine.env());
                cmd
            }
            (Flavor::Valgrind, _) if !rust => {
                let mut cmd = Command::new("valgrind");
                cmd.args(VALGRIND)
                    .arg(suppressions(&self.root))
                    .arg(program);
                cmd
            }
            (Flavor::Asan, _) if !rust => {
                let mut cmd = Command::new(program);
                cmd.env("ASAN_OPTIONS", "detect_leaks=1")
                    .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
                cmd
            }
            _ => Command::new(program),
        }
    }

    /// Starts a provider and waits until it prints a line starting with
    /// `serving`.
    fn provider(
        &self,
        program: &Path,
        rust: bool,
        args: &[&str],
        serving: &str,
    ) -> Result<Background, String> {
        let name = stem(program);
        let mut cmd = self.command(program, rust);
        cmd.args(args);
        let mut provider =
            Background::spawn(&mut cmd, true).map_err(|err| format!("{name}: {err}"))?;
        provider
            .wait_for(serving, |line| line.starts_with(serving), READY_LIMIT)
            .map_err(|err| failed(&name, &err, &provider))?;
        Ok(provider)
    }

    fn stop(provider: &mut Background, name: &str, limit: Duration) -> Result<(), String> {
        provider.close_stdin();
        provider
            .wait(limit)
            .map_err(|err| failed(name, &err.to_string(), provider))
    }

    /// Runs `program` (a C program of this flavor, or a Rust one) to
    /// completion; returns its standard output.
    fn run_program(&self, program: &Path, rust: bool, args: &[&str]) -> Result<String, String> {
        let name = stem(program);
        let mut cmd = self.command(program, rust);
        cmd.args(args);
        let mut child =
            Background::spawn(&mut cmd, false).map_err(|err| format!("{name}: {err}"))?;
        child
            .wait(PROGRAM_LIMIT)
            .map_err(|err| failed(&name, &err.to_string(), &child))?;
        let stdout = child.stdout();
        eprintln!("xtask: c/{}: {name} exited 0:", self.flavor.name());
        eprint!("{}", child.transcript());
        Ok(stdout)
    }

    /// Runs a consumer and checks that it prints `expected`.
    fn run_consumer(
        &self,
        program: &Path,
        rust: bool,
        args: &[&str],
        expected: &[&[&str]],
    ) -> Result<(), String> {
        let stdout = self.run_program(program, rust, args)?;
        missing_lines(&stdout, expected).map_err(|missing| format!("{}: {missing}", stem(program)))
    }

    fn run(
        &self,
        run_dir: &str,
        tests: &[PathBuf],
        roles: &[(String, Role)],
    ) -> Result<(), String> {
        let rust = |name: &str| self.providers.join(format!("{name}{}", self.suffix()));
        let mut fixture = self.provider(&rust("c_fixture_provider"), true, &[run_dir], "ready")?;
        let mut example =
            self.provider(&rust("cgroups_provider"), true, &[run_dir, PREFIX], "ready")?;
        for test in tests {
            let name = stem(test);
            let args: &[&str] = if TESTS_OF_THE_EXAMPLE_PROVIDER.contains(&name.as_str()) {
                &[run_dir, PREFIX]
            } else {
                &[run_dir]
            };
            self.run_program(&self.binary(&name), false, args)?;
        }
        for (name, role) in roles {
            let Role::Consumer(expected) = role else {
                continue;
            };
            let expected = match expected {
                Some(lines) => lines,
                None => CONSUMERS
                    .iter()
                    .find(|(consumer, _)| consumer == name)
                    .map(|(_, lines)| lines)
                    .ok_or_else(|| format!("{name}: no expected output in examples::CONSUMERS"))?,
            };
            self.run_consumer(&self.binary(name), false, &[run_dir, PREFIX], expected)?;
        }
        Self::stop(&mut example, "cgroups_provider", STOP_LIMIT)?;
        for (name, role) in roles {
            let Role::Provider(spec) = role else {
                continue;
            };
            let args: Vec<&str> = std::iter::once(run_dir)
                .chain(spec.args.iter().copied())
                .collect();
            let mut provider = self.provider(&self.binary(name), false, &args, spec.serving)?;
            for &(consumer, extra, expected, with_rust) in spec.consumers {
                let args: Vec<&str> = std::iter::once(run_dir)
                    .chain(extra.iter().copied())
                    .collect();
                self.run_consumer(&self.binary(consumer), false, &args, expected)?;
                if with_rust {
                    self.run_consumer(&rust(consumer), true, &args, expected)?;
                }
            }
            provider.interrupt();
            Self::stop(&mut provider, name, PROVIDER_STOP_LIMIT)?;
        }
        Self::stop(&mut fixture, "c_fixture_provider", STOP_LIMIT)
    }
}

/// Compiles the C program `source` as a plugin author would, against the
/// static `library` (with gcc, or mingw-w64 when `windows`), into
/// `binary`; `extra` are more compiler flags (the sanitizers).
pub fn compile(
    root: &Path,
    source: &Path,
    library: &Path,
    binary: &Path,
    windows: bool,
    extra: &[&str],
) -> Result<(), String> {
    let mut cc = Command::new(if windows { MINGW_GCC } else { "gcc" });
    cc.args(CFLAGS)
        .args(extra)
        .arg("-I")
        .arg(root.join("crates/netipc-c/include"))
        .arg(source)
        .arg(library);
    if windows {
        // No DLLs of the compiler's runtime to find under Wine.
        cc.arg("-static").args(WINDOWS_LIBS);
    } else {
        cc.args(LINUX_LIBS);
    }
    cc.arg("-o").arg(binary);
    process::run(&mut cc, COMPILE_LIMIT)
        .map_err(|err| format!("compiling {}: {err}", source.display()))
}

/// The test and example sources under the netipc-c crate `dir`, sorted.
fn sources(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let list = |sub: &str| -> Result<Vec<PathBuf>, String> {
        let dir = dir.join(sub);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(|err| format!("cannot list {}: {err}", dir.display()))?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
            .collect();
        files.sort();
        Ok(files)
    };
    let (tests, examples) = (list("tests/c")?, list("examples")?);
    if tests.is_empty() {
        return Err(format!("no C tests in {}", dir.join("tests/c").display()));
    }
    Ok((tests, examples))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_valgrind_suppressions_exist() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let option = suppressions(root);
        let path = option.strip_prefix("--suppressions=").unwrap();
        let text = fs::read_to_string(path).unwrap();
        assert!(text.contains("Memcheck:Param"), "{path}: {text}");
    }
}
