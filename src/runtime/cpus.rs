//! Which CPUs the executors are pinned to, and how much io_uring memory each may register.

use std::io;
use std::path::Path;

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

/// The CPUs that take the completion interrupts of the block device holding `dir`, when that
/// is a strict few of them (a single-queue device, e.g. virtio-blk in a VM). The raft core
/// waits on every WAL write and fdatasync; on another CPU each completion costs a
/// cross-CPU wakeup (measured here: p50 of put 1×1 0.45 → 0.36 ms on the interrupt's CPU).
/// `None` when it cannot tell (device mapper, tmpfs, no /sys or /proc) or when every CPU
/// has its own queue (NVMe).
pub fn completion_cpus(dir: &Path) -> Option<Vec<usize>> {
    let block = crate::blockdev::block_device(dir)?;
    let device = std::fs::canonicalize(block.join("device")).ok()?;
    let name = device.file_name()?.to_str()?.to_owned();
    let interrupts = std::fs::read_to_string("/proc/interrupts").ok()?;
    let mut cpus = Vec::new();
    for irq in queue_irqs(&interrupts, &name) {
        let list = std::fs::read_to_string(format!("/proc/irq/{irq}/effective_affinity_list"))
            .or_else(|_| std::fs::read_to_string(format!("/proc/irq/{irq}/smp_affinity_list")))
            .ok()?;
        cpus.extend(parse_cpu_list(list.trim())?);
    }
    cpus.sort_unstable();
    cpus.dedup();
    (!cpus.is_empty()).then_some(cpus)
}

/// IRQ numbers of `device`'s I/O queues in /proc/interrupts: lines whose name is
/// `<device>-req.N` / `<device>-request…` (virtio) or `<device>qN` with N > 0 (NVMe; q0 is
/// the admin queue).
fn queue_irqs(interrupts: &str, device: &str) -> Vec<u32> {
    interrupts
        .lines()
        .filter_map(|line| {
            let (irq, rest) = line.trim_start().split_once(':')?;
            let irq: u32 = irq.parse().ok()?;
            let name = rest.split_whitespace().last()?;
            let queue = name.strip_prefix(device)?;
            let io_queue = queue.starts_with("-req")
                || queue
                    .strip_prefix('q')
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n > 0);
            io_queue.then_some(irq)
        })
        .collect()
}

/// `0-3,8,10-11` as a list of CPUs.
fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.trim().parse::<usize>().ok()?..=b.trim().parse().ok()?),
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    Some(cpus)
}

/// The CPUs the executors run on, the raft core's first: `cores` of the allowed CPUs, led by
/// one that takes the WAL device's completion interrupts when there is such a CPU among
/// the allowed ones and it is not simply every CPU.
pub fn placement(allowed: &[usize], cores: usize, completion: Option<&[usize]>) -> Vec<usize> {
    let preferred = completion
        .filter(|cpus| !allowed.iter().all(|a| cpus.contains(a)))
        .and_then(|cpus| allowed.iter().copied().find(|a| cpus.contains(a)));
    let mut order: Vec<usize> = preferred.into_iter().collect();
    order.extend(allowed.iter().copied().filter(|&a| Some(a) != preferred));
    order.truncate(cores);
    order
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
    fn the_raft_core_goes_where_the_wal_interrupts_land() {
        let interrupts = "           CPU0       CPU1\n \
             35:          0          1 PCI-MSIX-0000:00:02.0   0-edge      virtio1-config\n \
             36:          0   10258844 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0\n \
             39:       7075          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0\n \
             50:          3          0 PCI-MSIX-0000:00:04.0   0-edge      nvme0q0\n \
             51:          3          0 PCI-MSIX-0000:00:04.0   1-edge      nvme0q1\n \
             52:          0          3 PCI-MSIX-0000:00:04.0   2-edge      nvme0q2\n";
        assert_eq!(queue_irqs(interrupts, "virtio1"), vec![36]);
        assert_eq!(queue_irqs(interrupts, "nvme0"), vec![51, 52]);
        assert_eq!(queue_irqs(interrupts, "virtio9"), Vec::<u32>::new());
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("x"), None);
        // One interrupt CPU among the allowed: the raft core (first) goes there.
        assert_eq!(placement(&[0, 1, 2, 3], 2, Some(&[2])), vec![2, 0]);
        assert_eq!(placement(&[0, 1], 1, Some(&[1])), vec![1]);
        // Every CPU has a queue, or none is allowed, or unknown: allowed order.
        assert_eq!(placement(&[0, 1], 2, Some(&[0, 1])), vec![0, 1]);
        assert_eq!(placement(&[0, 1], 2, Some(&[7])), vec![0, 1]);
        assert_eq!(placement(&[0, 1], 2, None), vec![0, 1]);
    }

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
