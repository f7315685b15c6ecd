//! What the command's tests share: reading the mail a server without an SMTP server writes to
//! files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    reason = "a panic in a test is a failed test; each test binary uses its own part"
)]

use std::path::Path;
use std::time::Duration;

/// Waits (up to ten seconds) for the outbox to write one file into `dir`.
pub fn wait_for_single_mail(dir: &Path) -> std::path::PathBuf {
    for _ in 0..100 {
        let files: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        let done: Vec<_> = files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        if let [one] = done.as_slice() {
            return one.clone();
        }
        assert!(done.len() <= 1, "{done:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no mail written under {}", dir.display());
}

/// The one 6-digit number in a message's body (headers carry ids that may hold digit runs).
pub fn six_digit_code(message: &str) -> String {
    let (_, body) = message.split_once("\r\n\r\n").unwrap();
    let mut codes: Vec<&str> = body
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 1, "{body}");
    codes[0].to_owned()
}
