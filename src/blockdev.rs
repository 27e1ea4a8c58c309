//! What sysfs says about the block device under a directory. The raft core's CPU
//! ([`crate::runtime::cpus::completion_cpus`]) and how the WAL makes its writes durable
//! depend on the device that holds the WAL.

use std::path::{Path, PathBuf};

/// The sysfs directory of the whole block device holding `dir` (the disk, not its
/// partition); `None` when there is none to find (tmpfs, overlay, no /sys).
pub fn block_device(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(dir).ok()?.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let block = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    if block.join("partition").exists() {
        return block.parent().map(Path::to_path_buf);
    }
    Some(block)
}

/// Whether a write to the block device holding `dir` is made durable by one device command:
/// the device takes FUA writes (most NVMe drives), or has no volatile write cache to flush.
/// There an `RWF_DSYNC` write needs no flush after it, so every WAL write is made durable by
/// itself. `false` when it cannot tell.
pub fn writes_durably_in_one_command(dir: &Path) -> bool {
    block_device(dir).is_some_and(|device| queue_writes_durably(&device.join("queue")))
}

/// The queue attributes behind [`writes_durably_in_one_command`]: `fua` is 1, or
/// `write_cache` is `write through`.
fn queue_writes_durably(queue: &Path) -> bool {
    let attribute = |name: &str| std::fs::read_to_string(queue.join(name)).ok();
    attribute("fua").is_some_and(|fua| fua.trim() == "1")
        || attribute("write_cache").is_some_and(|cache| cache.trim() == "write through")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(fua: Option<&str>, write_cache: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(fua) = fua {
            std::fs::write(dir.path().join("fua"), fua).unwrap();
        }
        if let Some(cache) = write_cache {
            std::fs::write(dir.path().join("write_cache"), cache).unwrap();
        }
        dir
    }

    #[test]
    fn a_device_writes_durably_in_one_command_with_fua_or_without_a_volatile_cache() {
        let durable = |fua, cache| queue_writes_durably(queue(fua, cache).path());
        assert!(durable(Some("1\n"), Some("write back\n")));
        assert!(durable(Some("0\n"), Some("write through\n")));
        assert!(!durable(Some("0\n"), Some("write back\n")));
        // Nothing to read (an old kernel, no sysfs): the WAL keeps its fdatasync.
        assert!(!durable(None, None));
    }

    #[test]
    fn the_device_under_a_directory_is_the_whole_disk() {
        let dir = tempfile::tempdir().unwrap();
        // Containers may have no block device to find; where there is one, it has a queue.
        if let Some(device) = block_device(dir.path()) {
            assert!(!device.join("partition").exists(), "{device:?}");
            assert!(device.join("queue").exists(), "{device:?}");
        }
    }
}
