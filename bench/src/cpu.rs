//! CPU time of processes, from `/proc`: what each part of the stack spends per
//! request, for the capacity model.

use bookshelf_test_support::{ProcessStack, Service};

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU seconds process `pid` has used.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let [own, _] = cpu_seconds_with_children(pid);
    own
}

/// CPU seconds process `pid` has used itself, and those of its children that ended
/// and were waited for.
fn cpu_seconds_with_children(pid: u32) -> [f64; 2] {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return [0.0; 2];
    };
    // The command name may hold spaces; the fields after it are counted from its ')'.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or_default()
    };
    // utime, stime, cutime and cstime are fields 14 to 17 of the line, 12 to 15 after
    // the name.
    [
        (ticks(11) + ticks(12)) / TICKS_PER_SECOND,
        (ticks(13) + ticks(14)) / TICKS_PER_SECOND,
    ]
}

/// CPU seconds of every PostgreSQL server process on the machine, those that ended
/// included: a backend whose connection closed is counted in its parent's children's
/// time once the postmaster has waited for it, so the sum never goes back.
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(|pid| cpu_seconds_with_children(pid).iter().sum::<f64>())
        .sum()
}

/// CPU seconds used so far by the gateway, the auth service, the library service and
/// PostgreSQL (0 on SQLite).
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// The gateway.
    pub gateway: f64,
    /// The auth service.
    pub auth: f64,
    /// The library service.
    pub library: f64,
    /// Every PostgreSQL process.
    pub postgres: f64,
}

impl Usage {
    /// What the stack's processes have used so far.
    pub fn now(stack: &ProcessStack) -> Self {
        let of = |service| stack.pid(service).map_or(0.0, cpu_seconds);
        Self {
            gateway: of(Service::Gateway),
            auth: of(Service::Auth),
            library: of(Service::Library),
            postgres: if stack.is_postgres() {
                postgres_cpu_seconds()
            } else {
                0.0
            },
        }
    }

    /// CPU milliseconds per request between `self` and `later`, over `requests`.
    pub fn per_request(&self, later: &Self, requests: f64) -> Self {
        let per = |before: f64, after: f64| (after - before) * 1000.0 / requests.max(1.0);
        Self {
            gateway: per(self.gateway, later.gateway),
            auth: per(self.auth, later.auth),
            library: per(self.library, later.library),
            postgres: per(self.postgres, later.postgres),
        }
    }
}
