//! What a measured section cost: wall time, this process's CPU (every thread, librdkafka's
//! included), Rust heap allocations (with the `count-allocations` feature), and the CPU of
//! another process (the broker the bench started) when its pid is known.

use std::time::{Duration, Instant};

/// CPU time (user + system) of this process so far, from `getrusage(RUSAGE_SELF)`.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU time (user + system) of another process, from `/proc/<pid>/stat` (clock-tick
/// resolution, 10 ms here). `None` when it cannot be read.
pub fn other_process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': field 3 is f[0], so utime (14) is f[11] and stime (15) is f[12].
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    Some(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

/// Rust heap allocations (alloc, alloc_zeroed, realloc) of this process so far; `None`
/// unless built with the `count-allocations` feature. librdkafka allocates with C's
/// malloc, which this does not see.
pub fn allocations() -> Option<u64> {
    #[cfg(feature = "count-allocations")]
    {
        Some(counting::ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed))
    }
    #[cfg(not(feature = "count-allocations"))]
    {
        None
    }
}

#[cfg(feature = "count-allocations")]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

    pub struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Relaxed);
            System.alloc(layout)
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Relaxed);
            System.alloc_zeroed(layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Relaxed);
            System.realloc(ptr, layout, new_size)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout)
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

/// Started just before a measured section; [`Meter::stop`] right after it.
pub struct Meter {
    other_pid: Option<u32>,
    at: Instant,
    cpu: Duration,
    allocations: Option<u64>,
    other_cpu: Option<Duration>,
}

/// The cost of one measured section.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    pub cpu: Duration,
    pub allocations: Option<u64>,
    /// CPU of the other process (the broker), when its pid was given and readable.
    pub other_cpu: Option<Duration>,
}

impl Meter {
    pub fn start(other_pid: Option<u32>) -> Self {
        let other_cpu = other_pid.and_then(other_process_cpu);
        let allocations = allocations();
        let cpu = process_cpu();
        Meter {
            other_pid,
            at: Instant::now(),
            cpu,
            allocations,
            other_cpu,
        }
    }

    pub fn stop(self) -> Cost {
        let wall = self.at.elapsed();
        let cpu = process_cpu().saturating_sub(self.cpu);
        let allocations = allocations()
            .zip(self.allocations)
            .map(|(b, a)| b.saturating_sub(a));
        let other_cpu = self
            .other_pid
            .and_then(other_process_cpu)
            .zip(self.other_cpu)
            .map(|(b, a)| b.saturating_sub(a));
        Cost {
            wall,
            cpu,
            allocations,
            other_cpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_grows_and_proc_stat_parses() {
        let before = process_cpu();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu() > before);
        assert!(other_process_cpu(std::process::id()).is_some());
    }
}
