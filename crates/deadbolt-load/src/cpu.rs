//! CPU time from Linux's /proc: how much of the machine the harness, its server and everyone
//! else took during a phase. The machine is shared, so a figure taken while others competed is
//! flagged rather than trusted (elsewhere than Linux, nothing is reported).

use std::time::Duration;

pub struct CpuMeter {
    server_pid: Option<u32>,
    start: Option<CpuSample>,
}

#[derive(Clone, Copy)]
struct CpuSample {
    /// Clock ticks of all CPUs: busy, and in all.
    busy: u64,
    total: u64,
    /// Clock ticks used by this process (the harness) and by the server.
    harness: u64,
    server: u64,
}

/// CPU time a phase took, by whom.
pub struct CpuUse {
    pub harness: Duration,
    pub server: Duration,
    /// Every other process: the database server on PostgreSQL, and whatever else runs.
    pub others: Duration,
}

/// The unit of the tick counts in /proc (USER_HZ, fixed at 100 by the kernel's ABI).
const TICKS_PER_SECOND: u64 = 100;

pub fn tick_time(n: u64) -> Duration {
    Duration::from_millis(n * 1000 / TICKS_PER_SECOND)
}

impl CpuMeter {
    pub fn start(server_pid: Option<u32>) -> Self {
        Self {
            server_pid,
            start: cpu_sample(server_pid),
        }
    }

    /// The share (0..=1) of all CPU time that other processes used since `start`.
    pub fn others_share(&self) -> Option<f64> {
        let (a, b) = (self.start?, cpu_sample(self.server_pid)?);
        let total = b.total.checked_sub(a.total).filter(|t| *t > 0)?;
        let ours = (b.harness + b.server).saturating_sub(a.harness + a.server);
        let others = b.busy.saturating_sub(a.busy).saturating_sub(ours);
        Some((others as f64 / total as f64).min(1.0))
    }

    /// The CPU time used since `start`, by the harness, the server and everything else.
    pub fn used(&self) -> Option<CpuUse> {
        let (a, b) = (self.start?, cpu_sample(self.server_pid)?);
        let harness = b.harness.saturating_sub(a.harness);
        let server = b.server.saturating_sub(a.server);
        let busy = b.busy.saturating_sub(a.busy);
        Some(CpuUse {
            harness: tick_time(harness),
            server: tick_time(server),
            others: tick_time(busy.saturating_sub(harness + server)),
        })
    }
}

fn cpu_sample(server_pid: Option<u32>) -> Option<CpuSample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8) // user nice system idle iowait irq softirq steal
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let total: u64 = ticks.iter().sum();
    // idle and iowait; and steal, the hypervisor's time for other guests, is no process's here
    let not_busy = ticks.get(3)? + ticks.get(4)? + ticks.get(7).copied().unwrap_or(0);
    let server = match server_pid {
        Some(pid) => process_ticks(&pid.to_string())?,
        None => 0,
    };
    Some(CpuSample {
        busy: total.saturating_sub(not_busy),
        total,
        harness: process_ticks("self")?,
        server,
    })
}

/// utime + stime of a process, all threads included.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the fields after "(comm)": state is the first, utime the 12th and stime the 13th
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}
