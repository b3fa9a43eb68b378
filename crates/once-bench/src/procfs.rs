//! The server's resident memory and CPU time, from Linux `/proc`.

use std::io::Write;

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat`. Reading `sysconf(_SC_CLK_TCK)`
/// needs libc (unavailable here); it is 100 (USER_HZ) on every Linux architecture Once targets
/// and on every mainstream distribution, which is what `getconf CLK_TCK` prints.
const CLK_TCK: f64 = 100.0;

/// Resident set size in MiB (`VmRSS`), or `None` if the process is gone or this isn't Linux.
pub fn rss_mib(pid: u32) -> Option<f64> {
    parse_vmrss_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?).map(|k| k / 1024.0)
}

/// User + system CPU time consumed so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    parse_cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?).map(|t| t as f64 / CLK_TCK)
}

/// Resident memory from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: f64,
    /// `VmHWM`: the peak of `VmRSS` since the process started, or since [`reset_peak`].
    pub hwm_kib: f64,
    /// `RssAnon`: the resident part of the heap, stacks and other private memory.
    pub anon_kib: f64,
    /// `RssFile`: resident file-backed pages (the binary, shared libraries, mmapped files).
    pub file_kib: f64,
}

impl Memory {
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib / 1024.0
    }
}

/// The process's resident memory, or `None` if it is gone or this isn't Linux.
pub fn memory(pid: u32) -> Option<Memory> {
    parse_memory(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Starts `VmHWM` over from the current `VmRSS` (writes `5` to `/proc/<pid>/clear_refs`,
/// Linux 4.0+; needs the process to be ours). `false` if that was refused: `VmHWM` then still
/// counts from the process's start.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/clear_refs"))
        .and_then(|mut f| f.write_all(b"5"))
        .is_ok()
}

fn parse_vmrss_kib(status: &str) -> Option<f64> {
    status_kib(status, "VmRSS:")
}

/// The value in kB of the `/proc/<pid>/status` line that starts with `field`.
fn status_kib(status: &str, field: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn parse_memory(status: &str) -> Option<Memory> {
    Some(Memory {
        rss_kib: status_kib(status, "VmRSS:")?,
        hwm_kib: status_kib(status, "VmHWM:")?,
        // Both are missing before Linux 4.5; the total above still counts.
        anon_kib: status_kib(status, "RssAnon:").unwrap_or(0.0),
        file_kib: status_kib(status, "RssFile:").unwrap_or(0.0),
    })
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may itself contain spaces and parentheses, so fields are counted from
/// the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at indices 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmrss() {
        let status = "Name:\tonce\nVmPeak:\t  99999 kB\nVmRSS:\t   20480 kB\nThreads:\t3\n";
        assert_eq!(parse_vmrss_kib(status), Some(20480.0));
        assert_eq!(parse_vmrss_kib("Name:\tzombie\n"), None);
    }

    #[test]
    fn memory_fields() {
        let status = "Name:\tonce\nVmPeak:\t  99999 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n\
                      RssAnon:\t   12288 kB\nRssFile:\t    8192 kB\nRssShmem:\t       0 kB\n";
        let m = parse_memory(status).unwrap_or_else(|| panic!("parsed"));
        assert_eq!(m, Memory { rss_kib: 20480.0, hwm_kib: 40960.0, anon_kib: 12288.0, file_kib: 8192.0 });
        assert_eq!(m.rss_mib(), 20.0);
        // VmHWM is required: a status without it (a zombie) is no reading.
        assert_eq!(parse_memory("Name:\tzombie\nVmRSS:\t 1 kB\n"), None);
    }

    #[test]
    fn cpu_ticks() {
        let stat = "1234 (once serve) S 1 1234 1234 0 -1 4194560 2000 0 0 0 250 75 0 0 20 0 3 0 100 \
                    123456 789 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        let odd = "77 (a) b) (c) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 1 1";
        assert_eq!(parse_cpu_ticks(odd), Some(10));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_process_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            let me = std::process::id();
            assert!(rss_mib(me).is_some_and(|m| m > 0.0));
            assert!(cpu_seconds(me).is_some());
            assert!(memory(me).is_some_and(|m| m.rss_kib > 0.0 && m.hwm_kib >= m.rss_kib));
        }
    }
}
