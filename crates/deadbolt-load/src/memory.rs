//! The server's resident memory, from Linux's /proc/<pid>/status: overload must not make it
//! grow without bound, so the storms sample it and read the kernel's high-water mark.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// VmRSS (now) and VmHWM (the peak since the process started), in KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rss {
    pub now_kib: u64,
    pub peak_kib: u64,
}

/// None when the process is gone or /proc is not Linux's.
pub fn rss(pid: u32) -> Option<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

fn parse_status(status: &str) -> Option<Rss> {
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Rss {
        now_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// Samples VmRSS every `every` until stopped; the highest sample is kept. The kernel's VmHWM
/// is the true peak, but it covers the process's whole life: this tells what a storm itself
/// reached.
pub struct RssSampler {
    highest_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: Option<u32>, every: Duration) -> Self {
        let highest_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (highest, stop) = (highest_kib.clone(), stop.clone());
            tokio::spawn(async move {
                let Some(pid) = pid else { return };
                while !stop.load(Ordering::Relaxed) {
                    if let Some(r) = rss(pid) {
                        highest.fetch_max(r.now_kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(every).await;
                }
            })
        };
        Self {
            highest_kib,
            stop,
            task,
        }
    }

    /// The highest VmRSS sampled, in KiB (None when nothing could be read).
    pub async fn stop(self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        Some(self.highest_kib.load(Ordering::Relaxed)).filter(|k| *k > 0)
    }
}

pub fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "-".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read() {
        let status =
            "Name:\tdeadbolt\nVmPeak:\t  900000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Rss {
                now_kib: 70000,
                peak_kib: 81234
            })
        );
        assert_eq!(parse_status("Name: x\n"), None);
        assert_eq!(mib(Some(2048)), "2.0 MiB");
    }
}
