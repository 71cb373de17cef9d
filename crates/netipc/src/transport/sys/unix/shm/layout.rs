//! The POSIX region layout: a 64-byte header, the request area, the
//! response area.

/// Region magic (`NSHM` read big-endian).
pub(crate) const MAGIC: u32 = 0x4e53_484d;
/// Region layout version.
pub(crate) const VERSION: u16 = 3;
/// Header size, also the request area's offset.
pub(crate) const HEADER_LEN: usize = 64;
/// Areas are multiples of this.
pub(crate) const AREA_ALIGN: usize = 64;
/// Pure polls (a `pause` each, a few microseconds in all) before a waiter
/// starts yielding: an answer from a peer that is running arrives within
/// them, with no system call.
const SPIN_POLLS: u32 = 128;
/// How long a waiter keeps polling, yielding the CPU between polls, before
/// it sleeps on the futex. Longer than a futex wake-up takes on a loaded or
/// virtual machine (tens of microseconds), so two peers trading messages
/// do not settle into a sleep and a wake-up per message; yielding lets a
/// peer that shares this CPU run instead of being starved by the poll.
/// A local policy, not part of the layout.
pub(crate) const SPIN_TIME: std::time::Duration = std::time::Duration::from_micros(50);

/// A wait whose message came this long after the pure polls counts as
/// slow: polling longer would not have caught it.
pub(crate) const SLOW_WAIT: std::time::Duration = std::time::Duration::from_micros(200);
/// After this many slow waits in a row a waiter only polls briefly before
/// it sleeps, for the next [`BRIEF_WAITS`] waits: when its peer is that
/// slow, the machine is usually busy, and yielding polls would only take
/// CPU time from the threads that are to answer (many consumers on few
/// cores). A fixed stretch, not "until one quick answer": otherwise the
/// waiters that happen to poll get the quick answers and keep polling,
/// and the others are served less.
pub(crate) const SLOW_WAITS: u8 = 3;
/// How many waits a waiter keeps polling briefly once it saw
/// [`SLOW_WAITS`] slow ones in a row.
pub(crate) const BRIEF_WAITS: u16 = 64;

/// The polling phase of a wait: true while the waiter should poll again.
#[derive(Debug, Default)]
pub(crate) struct Spin {
    polls: u32,
    /// Only the pure polls, no yielding phase.
    brief: bool,
    /// When the pure polls ended (the clock is read only from then on).
    yielding_since: Option<std::time::Instant>,
}

impl Spin {
    /// A polling phase of the pure polls only.
    pub(crate) fn brief() -> Self {
        Self {
            brief: true,
            ..Self::default()
        }
    }

    #[inline]
    pub(crate) fn again(&mut self) -> bool {
        if self.polls < SPIN_POLLS {
            self.polls += 1;
            std::hint::spin_loop();
            return true;
        }
        self.again_yielding()
    }

    /// The yielding phase, out of the way of the pure polls.
    #[cold]
    #[inline(never)]
    fn again_yielding(&mut self) -> bool {
        let now = std::time::Instant::now();
        let since = *self.yielding_since.get_or_insert(now);
        if self.brief || now >= since + SPIN_TIME {
            return false;
        }
        std::thread::yield_now();
        true
    }

    /// Whether the wait this phase began is slow (its message did not come
    /// within the pure polls and came [`SLOW_WAIT`] after them or later).
    #[inline]
    pub(crate) fn was_slow(&self) -> bool {
        self.yielding_since
            .is_some_and(|since| since.elapsed() >= SLOW_WAIT)
    }
}

pub(crate) const OFF_MAGIC: usize = 0;
pub(crate) const OFF_VERSION: usize = 4;
pub(crate) const OFF_HEADER_LEN: usize = 6;
pub(crate) const OFF_OWNER_PID: usize = 8;
pub(crate) const OFF_OWNER_GEN: usize = 12;
pub(crate) const OFF_REQ_OFFSET: usize = 16;
pub(crate) const OFF_REQ_CAPACITY: usize = 20;
pub(crate) const OFF_RESP_OFFSET: usize = 24;
pub(crate) const OFF_RESP_CAPACITY: usize = 28;
pub(crate) const OFF_REQ_SEQ: usize = 32;
pub(crate) const OFF_RESP_SEQ: usize = 40;
pub(crate) const OFF_REQ_LEN: usize = 48;
pub(crate) const OFF_RESP_LEN: usize = 52;
pub(crate) const OFF_REQ_SIGNAL: usize = 56;
pub(crate) const OFF_RESP_SIGNAL: usize = 60;

/// Rounds up to a multiple of 64, `None` if that overflows a u32.
pub(crate) fn align64(x: u64) -> Option<u32> {
    u32::try_from(x.checked_add(63)? & !63).ok()
}

/// Area capacity for messages with payloads up to `max_payload`:
/// `align64(32 + max_payload)`.
pub(crate) fn capacity_for(max_payload: u32) -> Option<u32> {
    align64(u64::from(max_payload) + crate::wire::HEADER_LEN as u64)
}

/// The fields one direction of traffic uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lane {
    pub(crate) area: usize,
    pub(crate) capacity: usize,
    pub(crate) seq: usize,
    pub(crate) len: usize,
    pub(crate) signal: usize,
}

impl Lane {
    pub(crate) const fn request(offset: usize, capacity: usize) -> Self {
        Self {
            area: offset,
            capacity,
            seq: OFF_REQ_SEQ,
            len: OFF_REQ_LEN,
            signal: OFF_REQ_SIGNAL,
        }
    }

    pub(crate) const fn response(offset: usize, capacity: usize) -> Self {
        Self {
            area: offset,
            capacity,
            seq: OFF_RESP_SEQ,
            len: OFF_RESP_LEN,
            signal: OFF_RESP_SIGNAL,
        }
    }

    /// The offset just past this lane's area.
    pub(crate) const fn end(&self) -> usize {
        self.area + self.capacity
    }
}

/// The creator's generation tag: derived from the monotonic clock like the
/// reference peers, but never 0 (a zero tag would make a live region look
/// stale to every other server).
pub(crate) fn owner_generation() -> u32 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let tag = (ts.tv_sec as u64 ^ ((ts.tv_nsec as u64) >> 10)) as u32;
    if tag == 0 { 1 } else { tag }
}
