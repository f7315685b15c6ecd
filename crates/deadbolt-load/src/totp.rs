//! TOTP codes computed by the harness itself, independently of the server's code: a second
//! implementation, so that a bug shared with the server's cannot pass for a working sign-in.

use anyhow::{Context, Result};

/// The TOTP parameters of the server's `[mfa]` defaults.
pub const TOTP_PERIOD: u64 = 30;
const TOTP_DIGITS: u32 = 6;

/// A base32 TOTP secret as the server hands it out (padding tolerated).
pub fn decode_secret(secret: &str) -> Result<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(secret.trim_end_matches('=').to_ascii_uppercase().as_bytes())
        .map_err(|e| anyhow::anyhow!("the TOTP secret is not base32: {e}"))
}

/// The code of a time step (the `[mfa]` defaults: HMAC-SHA-1, 6 digits, 30 s).
pub fn totp_code(key: &[u8], step: u64) -> String {
    totp_lite::totp_custom::<totp_lite::Sha1>(TOTP_PERIOD, TOTP_DIGITS, key, step * TOTP_PERIOD)
}

/// The code of the step after the current one, computed as the request leaves: within the
/// server's window (skew 1) even if the step turns on the way, and newer than the step the
/// enrolment's confirmation spent.
pub fn next_step_code(key: &[u8]) -> Result<String> {
    Ok(totp_code(key, unix_seconds()? / TOTP_PERIOD + 1))
}

/// The wall clock: the codes are for a live server, which reads it too.
#[allow(
    clippy::disallowed_methods,
    reason = "a client of a live server, not a rule: TOTP codes follow the real clock"
)]
pub fn unix_seconds() -> Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_codes_follow_rfc_6238() {
        // RFC 6238 appendix B, SHA-1: T = 59 s is step 1, code 94287082 (6 digits: 287082)
        let key = decode_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(key, b"12345678901234567890");
        assert_eq!(
            decode_secret("gezdgnbvgy3tqojq====").unwrap(),
            b"1234567890"
        );
        assert_eq!(totp_code(&key, 1), "287082");
        assert!(decode_secret("not base32!").is_err());
    }
}
