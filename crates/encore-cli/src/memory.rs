//! Peak resident memory of this process, from Linux's `/proc/self/status`.
//!
//! `VmHWM` is the high-water mark of the resident set. Writing `5` to `/proc/self/clear_refs`
//! resets it (Linux ≥ 4.0), which is how `encore evaluate` attributes a peak to each model in turn.
//! On other systems, or when /proc is unavailable, the peak is unknown (`None`).

/// Resets the high-water mark to the current resident size; returns whether that worked.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}

/// The peak resident set size in bytes since start or the last successful [`reset_peak`].
pub fn peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut fields = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_status_line() {
        let status = "Name:\tencore\nVmPeak:\t  9000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1234 * 1024));
        assert_eq!(parse_vm_hwm("VmRSS: 1 kB"), None);
    }

    #[test]
    fn reads_a_plausible_peak_on_linux() {
        if cfg!(target_os = "linux") {
            let peak = peak_bytes().expect("VmHWM is available on Linux");
            assert!(peak > 100 * 1024, "{peak}");
        }
    }
}
