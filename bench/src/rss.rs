//! Memory of a process, from `/proc`.

/// A `/proc/<pid>/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Peak resident memory since start or the last [`reset_peak`], in MiB.
pub fn peak_mib(pid: u32) -> f64 {
    status_kib(pid, "VmHWM:").unwrap_or_default() as f64 / 1024.0
}

/// Resident memory now, in MiB.
pub fn current_mib(pid: u32) -> f64 {
    status_kib(pid, "VmRSS:").unwrap_or_default() as f64 / 1024.0
}

/// Starts a new peak measurement (Linux: writing 5 to `clear_refs` resets VmHWM).
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
