//! This process's CPU time and resident memory, as `bench` and `stress`
//! read them (the `bench-server` child's samples, the client's and the
//! consumers' CPU).
//!
//! Each reading is one system call of the OS, so this is the CLI's one
//! module with an implementation per OS: `clock_gettime` with the
//! process's or thread's CPU clock (through rustix) and `/proc/self/statm`
//! (parsed by procfs-core) on Linux; `GetProcessTimes`, `GetThreadTimes`
//! and `GetProcessMemoryInfo` (through windows-sys) on Windows. A reading
//! the OS refuses is `None`.

use std::time::Duration;

pub use imp::{process_cpu, resident_bytes, thread_cpu};

#[cfg(unix)]
mod imp {
    use std::time::Duration;

    use procfs_core::FromRead;
    use procfs_core::process::StatM;
    use rustix::time::{ClockId, clock_gettime};

    fn clock(id: ClockId) -> Option<Duration> {
        let t = clock_gettime(id);
        Some(Duration::new(
            u64::try_from(t.tv_sec).ok()?,
            u32::try_from(t.tv_nsec).ok()?,
        ))
    }

    /// CPU time used by this process so far (all its threads).
    pub fn process_cpu() -> Option<Duration> {
        clock(ClockId::ProcessCPUTime)
    }

    /// CPU time used by the calling thread so far.
    pub fn thread_cpu() -> Option<Duration> {
        clock(ClockId::ThreadCPUTime)
    }

    /// Resident memory of this process in bytes (`None` without
    /// `/proc/self/statm`).
    pub fn resident_bytes() -> Option<u64> {
        let statm = StatM::from_file("/proc/self/statm").ok()?;
        statm
            .resident
            .checked_mul(rustix::param::page_size() as u64)
    }
}

#[cfg(windows)]
mod imp {
    use std::time::Duration;

    use windows_sys::Win32::Foundation::{FILETIME, HANDLE};
    use windows_sys::Win32::System::ProcessStatus::{
        GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
    };
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, GetCurrentThread, GetProcessTimes, GetThreadTimes,
    };

    const ZERO: FILETIME = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };

    /// Kernel plus user time, in the 100 ns units of a FILETIME.
    fn sum(kernel: FILETIME, user: FILETIME) -> Duration {
        let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
        let total = ticks(kernel).saturating_add(ticks(user));
        Duration::new(total / 10_000_000, (total % 10_000_000) as u32 * 100)
    }

    /// `GetProcessTimes` or `GetThreadTimes`.
    type Times = unsafe extern "system" fn(
        HANDLE,
        *mut FILETIME,
        *mut FILETIME,
        *mut FILETIME,
        *mut FILETIME,
    ) -> windows_sys::core::BOOL;

    /// The CPU time `times` reports for `handle`.
    fn cpu(times: Times, handle: HANDLE) -> Option<Duration> {
        let (mut creation, mut exit, mut kernel, mut user) = (ZERO, ZERO, ZERO, ZERO);
        // SAFETY: `handle` is a pseudo handle of this process or thread,
        // valid for its whole life; the four pointers are to live
        // FILETIMEs of this frame.
        let ok = unsafe { times(handle, &mut creation, &mut exit, &mut kernel, &mut user) };
        (ok != 0).then(|| sum(kernel, user))
    }

    /// CPU time used by this process so far (all its threads).
    pub fn process_cpu() -> Option<Duration> {
        // SAFETY: returns a pseudo handle of this process (no closing).
        cpu(GetProcessTimes, unsafe { GetCurrentProcess() })
    }

    /// CPU time used by the calling thread so far.
    pub fn thread_cpu() -> Option<Duration> {
        // SAFETY: returns a pseudo handle of the calling thread (no
        // closing).
        cpu(GetThreadTimes, unsafe { GetCurrentThread() })
    }

    /// Working set of this process in bytes.
    pub fn resident_bytes() -> Option<u64> {
        let size = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>();
        // SAFETY: PROCESS_MEMORY_COUNTERS is plain data (integers), for
        // which all zeros is a valid value.
        let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
        // SAFETY: a pseudo handle of this process, and a pointer to a live
        // PROCESS_MEMORY_COUNTERS of the size passed along with it.
        let ok = unsafe {
            GetProcessMemoryInfo(
                GetCurrentProcess(),
                &mut counters,
                u32::try_from(size).ok()?,
            )
        };
        (ok != 0).then_some(counters.WorkingSetSize as u64)
    }
}

/// The CPU time spent since a reading of one of this module's clocks.
pub fn since(start: Option<Duration>, now: Option<Duration>) -> Option<Duration> {
    now?.checked_sub(start?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_advance_with_work_and_memory_is_read() {
        let (process, thread) = (process_cpu(), thread_cpu());
        assert!(process.is_some() && thread.is_some());
        let mut x = 0u64;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while process_cpu() <= process && std::time::Instant::now() < deadline {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(since(process, process_cpu()).is_some_and(|d| d > Duration::ZERO));
        assert!(since(thread, thread_cpu()).is_some());
        assert!(resident_bytes().is_some_and(|b| b > 0));
        assert_eq!(since(None, process_cpu()), None);
    }
}
