//! The Rust side of `cargo xtask bench-c`: times one scenario through the
//! Rust API against the fixture provider and prints `SCENARIO NS_PER_OP
//! OPS`, like `capi_bench.c` does for the C API (see there).
//!
//! ```text
//! capi_bench_rust RUN_DIR SCENARIO MILLIS [--paired]
//! ```
//!
//! With `--paired` it times the Rust API and the C API (its `extern "C"`
//! functions, called from Rust exactly as a C caller calls them) in the
//! same process, alternating batches of calls on two sessions of the same
//! provider, and prints `SCENARIO RUST_NS C_NS OPS`: the two share every
//! disturbance of a busy machine, so their ratio is steadier than that of
//! two programs run one after the other.

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use netipc::cache::SnapshotCache;
use netipc::netdata::netdata_hash;
use netipc::service::{CgroupsLookupClient, CgroupsSnapshotClient, ClientConfig, Profiles};
use netipc_c::builders::nipc_str_view_t;
use netipc_c::client::*;
use netipc_c::config::nipc_client_config_t;
use netipc_c::nipc_error_t;
use netipc_c::views::*;

const LOOKUP_KEYS: usize = 64;

type Op<'a> = Box<dyn FnMut(&mut u64) -> Result<(), Box<dyn Error>> + 'a>;

/// Calls `op` for a tenth of `time` (warm-up), then for `time`; returns
/// the nanoseconds per call and the calls.
fn measure(time: Duration, op: &mut Op<'_>, sink: &mut u64) -> Result<(f64, u64), Box<dyn Error>> {
    let started = Instant::now();
    while started.elapsed() < time / 10 {
        op(sink)?;
    }
    let started = Instant::now();
    let mut ops = 0u64;
    loop {
        op(sink)?;
        ops += 1;
        if started.elapsed() >= time {
            break;
        }
    }
    Ok((started.elapsed().as_nanos() as f64 / ops as f64, ops))
}

/// Alternates batches of `a` and `b` for `time` after a warm-up; returns
/// the nanoseconds per call of each and the calls of each.
fn measure_paired<'a>(
    time: Duration,
    a: &mut Op<'a>,
    b: &mut Op<'a>,
    sink: &mut u64,
) -> Result<(f64, f64, u64), Box<dyn Error>> {
    const BATCH: u64 = 50;
    measure(time / 10, a, sink)?;
    measure(time / 10, b, sink)?;
    let (mut ta, mut tb, mut ops) = (Duration::ZERO, Duration::ZERO, 0u64);
    let started = Instant::now();
    while started.elapsed() < time {
        for (op, total) in [(&mut *a, &mut ta), (&mut *b, &mut tb)] {
            let t = Instant::now();
            for _ in 0..BATCH {
                op(sink)?;
            }
            *total += t.elapsed();
        }
        ops += BATCH;
    }
    let per = |t: Duration| t.as_nanos() as f64 / ops as f64;
    Ok((per(ta), per(tb), ops))
}

fn config(profiles: Profiles) -> ClientConfig {
    ClientConfig {
        supported_profiles: profiles,
        ..ClientConfig::default()
    }
}

const WAIT: Duration = Duration::from_secs(10);

fn rust_snapshot<'a>(client: &'a mut CgroupsSnapshotClient) -> Op<'a> {
    Box::new(move |sink| {
        let view = client.call()?;
        for item in view.iter() {
            let item = item?;
            *sink += u64::from(item.hash) + (item.name.len() + item.path.len()) as u64;
        }
        Ok(())
    })
}

fn rust_lookup<'a>(client: &'a mut CgroupsLookupClient, paths: &'a [String]) -> Op<'a> {
    Box::new(move |sink| {
        let view = client.call(paths)?;
        for item in view.iter() {
            *sink += item.status as u64 + item.name.len() as u64;
        }
        Ok(())
    })
}

/// Cache lookups: one read guard, 16 lookups by (hash, name).
fn rust_cache_lookups<'a>(cache: &'a SnapshotCache, names: &'a [(u32, String)]) -> Op<'a> {
    Box::new(move |sink| {
        let guard = cache.read();
        for (hash, name) in names {
            let item = guard.get(*hash, name.as_bytes()).ok_or("not cached")?;
            *sink += item.path.len() as u64;
        }
        Ok(())
    })
}

/// A C client context, driven through the C API.
struct CClient(Box<nipc_client_ctx_t>);

fn check(code: nipc_error_t) -> Result<(), Box<dyn Error>> {
    if code == nipc_error_t::NIPC_OK {
        Ok(())
    } else {
        Err(format!("C API: {}", code.text().to_string_lossy()).into())
    }
}

impl CClient {
    fn new(run_dir: &str, service: &str, profiles: Profiles) -> Result<Self, Box<dyn Error>> {
        // SAFETY: all-zero words are a valid (uninitialised) context.
        let mut ctx: Box<nipc_client_ctx_t> = Box::new(unsafe { std::mem::zeroed() });
        let config = nipc_client_config_t {
            supported_profiles: profiles.bits(),
            ..nipc_client_config_t::default()
        };
        let (dir, service) = (
            std::ffi::CString::new(run_dir)?,
            std::ffi::CString::new(service)?,
        );
        // SAFETY: valid context storage, C strings and config.
        check(unsafe { nipc_client_init(&mut *ctx, dir.as_ptr(), service.as_ptr(), &config) })?;
        // SAFETY: an initialised context.
        check(unsafe { nipc_client_wait_ready(&mut *ctx, 10_000) })?;
        Ok(Self(ctx))
    }

    fn snapshot(&mut self) -> Op<'_> {
        Box::new(move |sink| {
            let mut view = nipc_cgroups_resp_view_t::EMPTY;
            // SAFETY: an initialised context and a writable view.
            check(unsafe { nipc_client_call_cgroups_snapshot(&mut *self.0, &mut view) })?;
            for i in 0..view.item_count {
                let mut item = std::mem::MaybeUninit::<nipc_cgroups_item_view_t>::uninit();
                // SAFETY: a view of the last call; a writable item.
                check(unsafe { nipc_cgroups_resp_item(&view, i, item.as_mut_ptr()) })?;
                // SAFETY: written by the successful call.
                let item = unsafe { item.assume_init() };
                *sink += u64::from(item.hash) + u64::from(item.name.len + item.path.len);
            }
            Ok(())
        })
    }

    fn lookup<'a>(&'a mut self, paths: &'a [nipc_str_view_t]) -> Op<'a> {
        Box::new(move |sink| {
            let mut view = nipc_cgroups_lookup_resp_view_t::EMPTY;
            // SAFETY: an initialised context, valid paths, a writable view.
            check(unsafe {
                nipc_client_call_cgroups_lookup(
                    &mut *self.0,
                    paths.as_ptr(),
                    paths.len() as u32,
                    &mut view,
                )
            })?;
            for i in 0..view.item_count {
                let mut item = std::mem::MaybeUninit::<nipc_cgroups_lookup_item_view_t>::uninit();
                // SAFETY: a view of the last call; a writable item.
                check(unsafe { nipc_cgroups_lookup_resp_item(&view, i, item.as_mut_ptr()) })?;
                // SAFETY: written by the successful call.
                let item = unsafe { item.assume_init() };
                *sink += u64::from(item.status) + u64::from(item.name.len);
            }
            Ok(())
        })
    }
}

impl Drop for CClient {
    fn drop(&mut self) {
        // SAFETY: an initialised context, used by no one else.
        unsafe { nipc_client_close(&mut *self.0) };
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (run_dir, scenario, millis, paired) = match args.as_slice() {
        [d, s, m] => (d, s, m, false),
        [d, s, m, p] if p == "--paired" => (d, s, m, true),
        _ => return Err("usage: capi_bench_rust RUN_DIR SCENARIO MILLIS [--paired]".into()),
    };
    let time = Duration::from_millis(millis.parse()?);
    let (kind, profiles) = match scenario.as_str() {
        "snapshot-16-socket" => ("snapshot", Profiles::BASELINE),
        "snapshot-16-shm" => ("snapshot", Profiles::empty()),
        "lookup-64-socket" => ("lookup", Profiles::BASELINE),
        "lookup-64-shm" => ("lookup", Profiles::empty()),
        "cache-lookup-16" => ("cache", Profiles::empty()),
        other => return Err(format!("unknown scenario {other}").into()),
    };
    let texts: Vec<String> = (0..LOOKUP_KEYS)
        .map(|i| format!("/sys/fs/cgroup/cg-{i}"))
        .collect();
    let views: Vec<nipc_str_view_t> = texts
        .iter()
        .map(|t| nipc_str_view_t {
            ptr: t.as_ptr().cast(),
            len: t.len() as u32,
        })
        .collect();
    let mut sink = 0u64;
    let service = if kind == "lookup" {
        "fx-cgroups-lookup"
    } else {
        "fx-snapshot"
    };
    if kind == "cache" {
        let names: Vec<(u32, String)> = (0..16)
            .map(|i| {
                let name = format!("cg-{i}");
                (netdata_hash(name.as_bytes()), name)
            })
            .collect();
        let cache = SnapshotCache::new(run_dir, service, &config(profiles));
        cache.wait_ready(WAIT)?;
        let (ns, ops) = measure(time, &mut rust_cache_lookups(&cache, &names), &mut sink)?;
        if paired {
            return Err("cache-lookup-16 has no --paired form".into());
        }
        println!("{scenario} {ns:.1} {ops}");
        return Ok(());
    }
    let mut c_client = match paired {
        true => Some(CClient::new(run_dir, service, profiles)?),
        false => None,
    };
    let mut snapshot_client;
    let mut lookup_client;
    let mut rust: Op<'_> = if kind == "snapshot" {
        snapshot_client = CgroupsSnapshotClient::new(run_dir, service, &config(profiles));
        snapshot_client.wait_ready(WAIT)?;
        rust_snapshot(&mut snapshot_client)
    } else {
        lookup_client = CgroupsLookupClient::new(run_dir, service, &config(profiles));
        lookup_client.wait_ready(WAIT)?;
        rust_lookup(&mut lookup_client, &texts)
    };
    match &mut c_client {
        None => {
            let (ns, ops) = measure(time, &mut rust, &mut sink)?;
            println!("{scenario} {ns:.1} {ops}");
        }
        Some(c) => {
            let mut c_op = if kind == "snapshot" {
                c.snapshot()
            } else {
                c.lookup(&views)
            };
            let (rust_ns, c_ns, ops) = measure_paired(time, &mut rust, &mut c_op, &mut sink)?;
            println!("{scenario} {rust_ns:.1} {c_ns:.1} {ops}");
        }
    }
    if sink == 0 {
        return Err("nothing was read".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("capi_bench_rust: {err}");
            ExitCode::FAILURE
        }
    }
}
