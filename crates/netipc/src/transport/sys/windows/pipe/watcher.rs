//! The watcher thread of a listener registered with a poller: it waits on
//! the events of the listener's waiting pipe instances and posts the
//! listener's token to the completion port when one has a client and the
//! listener is armed. One-shot: it then waits until re-armed.
//!
//! Why a thread and not the port: a pipe instance associated with a port
//! stays associated when it becomes a connection, and its
//! `ConnectNamedPipe` would have to switch from event to port completion
//! while in flight when the listener is registered. Keeping instances off
//! the port until they are accepted avoids both; accepting is not a hot
//! path, so the extra wake-up per burst of connections is cheap.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
use windows_sys::Win32::System::Threading::INFINITE;

use super::super::overlapped::wait_any;
use super::super::poller::Port;
use super::super::util::Event as Signal;
use crate::error::{Error, Result};

/// Pause after a failed wait or post, so that a failure does not spin.
const FAILURE_PAUSE: Duration = Duration::from_millis(10);
/// Most handles one wait takes (MAXIMUM_WAIT_OBJECTS).
const MAX_WAIT: usize = 64;
/// The watcher only waits and posts.
const STACK: usize = 64 * 1024;

/// The events to watch (those of the instances waiting right now).
pub(super) type Sources = Box<dyn Fn() -> Vec<Arc<Signal>> + Send>;

#[derive(Debug)]
struct Flags {
    armed: bool,
    stop: bool,
    token: u64,
}

#[derive(Debug)]
struct State {
    /// Auto-reset: the flags changed.
    wake: Signal,
    flags: Mutex<Flags>,
    port: Arc<Port>,
}

fn lock(state: &State) -> MutexGuard<'_, Flags> {
    state.flags.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running watcher (armed from the start).
#[derive(Debug)]
pub(super) struct Watcher {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub(super) fn start(port: Arc<Port>, token: u64, sources: Sources) -> Result<Self> {
        let state = Arc::new(State {
            wake: Signal::new(false)?,
            flags: Mutex::new(Flags {
                armed: true,
                stop: false,
                token,
            }),
            port,
        });
        let thread = {
            let state = state.clone();
            std::thread::Builder::new()
                .name("netipc-accept-watch".into())
                .stack_size(STACK)
                .spawn(move || run(&state, &sources))
                .map_err(|e| Error::io("starting the listener's watcher thread", e))?
        };
        Ok(Self {
            state,
            thread: Some(thread),
        })
    }

    /// Arms the next event.
    pub(super) fn arm(&self, token: u64) {
        {
            let mut flags = lock(&self.state);
            flags.armed = true;
            flags.token = token;
        }
        self.state.wake.set();
    }
}

impl Drop for Watcher {
    /// Stops the thread and joins it.
    fn drop(&mut self) {
        lock(&self.state).stop = true;
        self.state.wake.set();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(state: &State, sources: &Sources) {
    loop {
        let armed = {
            let flags = lock(state);
            if flags.stop {
                return;
            }
            flags.armed
        };
        // Shared events stay valid while held here, even if the instance
        // they belong to is accepted meanwhile (a stale signal only makes
        // a spurious listener event, which accepting tolerates).
        let watched = if armed { sources() } else { Vec::new() };
        let mut handles = Vec::with_capacity(watched.len() + 1);
        handles.push(state.wake.raw());
        handles.extend(watched.iter().map(|e| e.raw()));
        handles.truncate(MAX_WAIT);
        let index = wait_any(&handles, INFINITE).wrapping_sub(WAIT_OBJECT_0) as usize;
        if index == 0 {
            continue;
        }
        if index < handles.len() {
            let mut flags = lock(state);
            if flags.armed && !flags.stop {
                if state.port.post_listener(flags.token) {
                    flags.armed = false;
                } else {
                    drop(flags);
                    std::thread::sleep(FAILURE_PAUSE);
                }
            }
            continue;
        }
        std::thread::sleep(FAILURE_PAUSE);
    }
}
