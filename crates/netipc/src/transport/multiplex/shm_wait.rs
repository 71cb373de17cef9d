//! Wait groups: threads that sleep on the request signals of many idle
//! shared-memory sessions at once and post a session's token to the
//! poller when its next request arrives.
//!
//! A session is watched only while it is idle: a worker that answered a
//! request polls briefly for the next one and hands the session to a group
//! when none comes. A group thread holds up to the backend's group
//! capacity (127 regions per `futex_waitv` on Linux, 63 events per
//! `WaitForMultipleObjects` on Windows); groups are created as sessions
//! need them and sleep without a timeout, so idle sessions cost no CPU.
//! A session's departure is noticed through its connection (the poller),
//! which makes the server close it and take it out of its group.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use super::Poller;
use crate::error::{Error, Result};
use crate::transport::{ServerSession, sys};

/// Stack of a group thread: it only sleeps and scans its members.
const GROUP_STACK: usize = 128 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which group watches a session (valid until the session is watched
/// again; stale ids are harmless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WatchId(usize);

#[derive(Debug, Default)]
struct Members {
    list: Vec<(u64, Arc<sys::ShmWatch>)>,
    stop: bool,
}

#[derive(Debug, Default)]
struct Group {
    signal: sys::GroupSignal,
    members: Mutex<Members>,
}

impl Group {
    fn wake(&self) {
        self.signal.wake();
    }
}

/// A group and its thread (`None` once joined).
type Running = (Arc<Group>, Option<JoinHandle<()>>);

/// The wait groups of one server. `Send + Sync`.
#[derive(Debug)]
pub(crate) struct ShmWaiters {
    poller: Arc<Poller>,
    groups: Mutex<Vec<Running>>,
    stopped: AtomicBool,
}

impl ShmWaiters {
    pub(crate) fn new(poller: Arc<Poller>) -> Self {
        Self {
            poller,
            groups: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
        }
    }

    /// Hands an idle shared-memory session to a group: `token` is posted
    /// once its next request has arrived (at once if it already has).
    ///
    /// # Errors
    /// `Io` when a group thread cannot be started; `Disconnected` for a
    /// session without shared memory or after [`stop`](Self::stop).
    pub(crate) fn watch(&self, token: u64, session: &ServerSession) -> Result<WatchId> {
        let Some(region) = session.chan.shm() else {
            return Err(Error::Disconnected);
        };
        let watch = Arc::new(region.watch());
        let capacity = sys::group_capacity();
        let mut groups = lock(&self.groups);
        if self.stopped.load(Ordering::SeqCst) {
            return Err(Error::Disconnected);
        }
        for (i, (group, _)) in groups.iter().enumerate() {
            let mut members = lock(&group.members);
            if members.list.len() < capacity {
                members.list.push((token, watch));
                drop(members);
                group.wake();
                return Ok(WatchId(i));
            }
        }
        let group = Arc::new(Group::default());
        lock(&group.members).list.push((token, watch));
        let thread = {
            let group = group.clone();
            let poller = self.poller.clone();
            std::thread::Builder::new()
                .name(format!("netipc-shm-wait-{}", groups.len()))
                .stack_size(GROUP_STACK)
                .spawn(move || run(&group, &poller))
                .map_err(|e| Error::io("starting a shared-memory wait thread", e))?
        };
        groups.push((group, Some(thread)));
        Ok(WatchId(groups.len() - 1))
    }

    /// Takes a session out of its group (no-op if its request arrived
    /// meanwhile and the group let go of it already).
    pub(crate) fn unwatch(&self, id: WatchId, token: u64) {
        let group = match lock(&self.groups).get(id.0) {
            Some((group, _)) => group.clone(),
            None => return,
        };
        let removed = {
            let mut members = lock(&group.members);
            members
                .list
                .iter()
                .position(|(t, _)| *t == token)
                .map(|i| members.list.swap_remove(i).1)
        };
        if let Some(watch) = removed {
            watch.nudge();
            group.wake();
        }
    }

    /// Stops and joins every group thread; later watches fail.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let groups = std::mem::take(&mut *lock(&self.groups));
        for (group, _) in &groups {
            let mut members = lock(&group.members);
            members.stop = true;
            for (_, watch) in &members.list {
                watch.nudge();
            }
            drop(members);
            group.wake();
        }
        for (_, thread) in groups {
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        }
    }
}

/// A group thread: arms every member, posts the ones whose request is
/// there, and sleeps until a member is signalled or the group changes.
fn run(group: &Group, poller: &Poller) {
    sys::prepare_thread();
    let mut armed: Vec<(Arc<sys::ShmWatch>, u32)> = Vec::new();
    let mut ready: Vec<u64> = Vec::new();
    loop {
        let seen = group.signal.value();
        armed.clear();
        ready.clear();
        {
            let mut members = lock(&group.members);
            if members.stop {
                return;
            }
            members.list.retain(|(token, watch)| match watch.arm() {
                None => {
                    ready.push(*token);
                    false
                }
                Some(value) => {
                    armed.push((watch.clone(), value));
                    true
                }
            });
        }
        if !ready.is_empty() {
            for &token in &ready {
                poller.post(token);
            }
            continue;
        }
        sys::wait_group(&group.signal, seen, &armed);
    }
}
