//! The whole-host suite: one provider and many consumers, as on a real
//! Netdata host (issue "providers that serve a whole host"): 1,024
//! concurrent sessions, the session limit, departures, churn, deadlines of
//! every blocking step, a prompt stop, silent peers and fairness.
//!
//! Each case runs on both transports (shared memory, the default, and the
//! baseline socket or pipe), under a watchdog, in its own run directory.
//! The heavy cases take a process-wide lock so that they do not compete
//! for the CPU with each other. Cases assert behaviour ("served",
//! "refused at capacity", "stop returned", "ended by its timeout");
//! latencies and CPU are measured by `netipc stress`, not here.

#[path = "../common/mod.rs"]
mod common;
mod deadlines;
mod fairness;
mod scale;
mod stop;
mod support;
