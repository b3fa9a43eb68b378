//! The server's resident memory and CPU time, from Linux `/proc`.

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

fn parse_vmrss_kib(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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
        }
    }
}
