//! Which CPUs the executors are pinned to, and how much io_uring memory each may register.

use std::io;

/// The CPUs this process may run on (its affinity mask), in ascending order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set, and sched_getaffinity
    // writes at most size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; the pointer and size describe `set`.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = libc::CPU_SETSIZE as usize;
    // SAFETY: `set` is initialised and every index is below CPU_SETSIZE.
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// The calling process's RLIMIT_MEMLOCK soft limit in bytes (`None` = unlimited).
pub fn memlock_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the pointer we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if rc != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        None
    } else {
        Some(limit.rlim_cur)
    }
}

/// glommio's floor for registered I/O memory per executor.
const MIN_IO_MEMORY: usize = 64 * 1024;
/// Enough for the WAL's aligned DMA buffers; more only helps bulk storage I/O.
const MAX_IO_MEMORY: usize = 4 * 1024 * 1024;

/// Registered io_uring buffers are pinned and count against RLIMIT_MEMLOCK (8 MiB for an
/// ordinary user on Debian). Give all executors together at most half of the limit, so the
/// rings themselves and the rest of the process fit in the other half.
pub fn io_memory_per_executor(memlock: Option<u64>, executors: usize) -> usize {
    let Some(limit) = memlock else {
        return MAX_IO_MEMORY;
    };
    let share = usize::try_from(limit / 2 / executors.max(1) as u64).unwrap_or(usize::MAX);
    share.clamp(MIN_IO_MEMORY, MAX_IO_MEMORY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_may_run_somewhere() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        assert!(cpus.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn io_memory_fits_an_8_mib_memlock_limit() {
        let limit = 8 * 1024 * 1024;
        for executors in [1, 2, 8, 64] {
            let per = io_memory_per_executor(Some(limit), executors);
            assert!(per >= MIN_IO_MEMORY);
            if executors <= 64 {
                assert!((per * executors) as u64 <= limit / 2 || per == MIN_IO_MEMORY);
            }
        }
        assert_eq!(io_memory_per_executor(None, 4), MAX_IO_MEMORY);
    }
}
