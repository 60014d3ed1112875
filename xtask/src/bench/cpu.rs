//! CPU time by process, read from `/proc`: what a load cost each part of the
//! stack (a function, PgBouncer, PostgreSQL, the broker, RabbitMQ, Redis),
//! so a regression shows where it is.

use std::collections::BTreeMap;

/// Who a process is, for the tables: the stack's own by the name it was
/// started as, the services by their program.
#[derive(Default)]
pub struct Roles {
    by_pid: BTreeMap<u32, String>,
}

/// The services' programs (`comm`), by the name the tables give them.
const SERVICES: [(&str, &str); 5] = [
    ("postgres", "PostgreSQL"),
    ("pgbouncer", "PgBouncer"),
    ("beam.smp", "RabbitMQ"),
    ("redis-server", "Redis"),
    ("wrk", "wrk (the load)"),
];

impl Roles {
    pub fn new(named: impl IntoIterator<Item = (String, u32)>) -> Roles {
        Roles { by_pid: named.into_iter().map(|(name, pid)| (pid, name)).collect() }
    }

    /// CPU seconds (user and system) spent so far by every process with a
    /// role, summed by role, with what its children that exited spent: a
    /// PostgreSQL backend that ends (PgBouncer closing an idle server
    /// connection, pgbench's clients) adds its time to the postmaster's.
    pub fn snapshot(&self) -> BTreeMap<String, f64> {
        let ticks = clock_ticks();
        let mut seconds = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else { return seconds };
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let Some((comm, cpu)) = parse_stat(&stat) else { continue };
            let role = match self.by_pid.get(&pid) {
                Some(name) => name.clone(),
                None => match SERVICES.iter().find(|(program, _)| *program == comm) {
                    Some((_, role)) => (*role).to_owned(),
                    None => continue,
                },
            };
            *seconds.entry(role).or_insert(0.0) += cpu as f64 / ticks;
        }
        seconds
    }
}

/// Waits (until `deadline` at most) for every process of `pids` to be gone
/// and reaped: what a PostgreSQL backend spent shows in the postmaster's
/// children's time only then, so a snapshot taken sooner loses it (the
/// whole of a one-client load). Says whether they all went.
pub fn wait_gone(pids: &[u32], deadline: std::time::Duration) -> bool {
    let until = std::time::Instant::now() + deadline;
    loop {
        // A zombie keeps its /proc entry until its parent reaps it.
        if pids.iter().all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// What each role spent between two snapshots.
pub fn spent(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after.iter().map(|(role, s)| (role.clone(), s - before.get(role).copied().unwrap_or(0.0))).collect()
}

/// A process's program name and its user plus system time in clock ticks,
/// its exited children's included, from `/proc/<pid>/stat` (the name is in
/// parentheses and may hold spaces).
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1;
    // After the name: state, ppid, ...: utime, stime, cutime and cstime are
    // the 12th to 15th fields.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let mut ticks = 0;
    for field in 11..=14 {
        ticks += fields.get(field)?.parse::<u64>().ok()?;
    }
    Some((comm, ticks))
}

/// The kernel's clock ticks a second, asked once.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_program_and_cpu_time() {
        let stat = "4242 (beam.smp (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 10 5 20 0 30 0";
        assert_eq!(parse_stat(stat), Some(("beam.smp (x)", 340)));
    }

    #[test]
    fn this_process_is_seen_by_its_name() {
        let roles = Roles::new([("me".to_owned(), std::process::id())]);
        let busy: u64 = (0..20_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(busy > 0);
        assert!(roles.snapshot().get("me").is_some_and(|s| *s > 0.0));
    }

    #[test]
    fn a_process_is_gone_once_reaped_and_not_before() {
        let mut child = std::process::Command::new("sleep").arg("0.2").spawn().unwrap();
        let pid = child.id();
        assert!(!wait_gone(&[pid], std::time::Duration::from_millis(50)), "still running");
        let reaper = std::thread::spawn(move || child.wait().unwrap());
        assert!(wait_gone(&[pid], std::time::Duration::from_secs(5)));
        assert!(reaper.join().unwrap().success());
    }
}
