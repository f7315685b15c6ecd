//! Time-based one-time passwords (RFC 6238): the shared secret, the code an authenticator app
//! shows for a time step, and when a submitted code is accepted.
//!
//! The HMAC and dynamic truncation come from `totp-rs`; this module decides which steps to try,
//! refuses replays, and builds the `otpauth://` URI that enrollment shows as a QR code.
//! [`verify`] is a pure function of (secret, params, code, now, last step) and returns the step it
//! accepted: the caller records that step with a conditional update, which is what makes a code
//! single-use across any number of instances.

use crate::random::Random;
use data_encoding::BASE32_NOPAD;
use serde::{Deserialize, Serialize};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use time::OffsetDateTime;
use zeroize::Zeroize;

const MIN_DIGITS: u32 = 6;
const MAX_DIGITS: u32 = 8;
const MIN_PERIOD: i64 = 15;
const MAX_PERIOD: i64 = 300;
const MAX_SKEW: i64 = 2;

/// The HMAC hash function. SHA1 is the default because it is the one every authenticator app
/// supports; HMAC-SHA1 is not weakened by SHA-1 collisions (RFC 4226 appendix B.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TotpAlgorithm {
    #[default]
    Sha1,
    Sha256,
    Sha512,
}

impl TotpAlgorithm {
    /// The name in an `otpauth://` URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    /// The configuration name: `sha1`, `sha256` or `sha512`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn hmac(self) -> totp_rs::Algorithm {
        match self {
            Self::Sha1 => totp_rs::Algorithm::SHA1,
            Self::Sha256 => totp_rs::Algorithm::SHA256,
            Self::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// How codes are made and how much clock drift is forgiven. Change the first three only for
/// apps known to honour them: several popular authenticators ignore `algorithm`, `digits` and
/// `period` in the URI and then show codes that never match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TotpParams {
    pub algorithm: TotpAlgorithm,
    /// Code length, 6 to 8 (RFC 4226 section 5.3).
    pub digits: u32,
    pub period_seconds: i64,
    /// Steps either side of the current one still accepted. 1 (RFC 6238 section 5.2's
    /// recommendation) forgives a phone clock a period off and a code typed as it rolled over;
    /// each extra step gives a guesser another chance.
    pub skew_steps: i64,
}

impl Default for TotpParams {
    fn default() -> Self {
        Self {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period_seconds: 30,
            skew_steps: 1,
        }
    }
}

impl TotpParams {
    /// Every problem with these parameters, as (field, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&self.digits) {
            out.push((
                "digits",
                format!("must be between {MIN_DIGITS} and {MAX_DIGITS}"),
            ));
        }
        if !(MIN_PERIOD..=MAX_PERIOD).contains(&self.period_seconds) {
            out.push((
                "period_seconds",
                format!("must be between {MIN_PERIOD} and {MAX_PERIOD}"),
            ));
        }
        if !(0..=MAX_SKEW).contains(&self.skew_steps) {
            out.push(("skew_steps", format!("must be between 0 and {MAX_SKEW}")));
        }
        out
    }

    /// [`Self::problems`] keeps bad values out of a running server; clamping is the backstop so
    /// that hand-built params can never panic (a zero period divides by zero, ten digits
    /// overflow `u32`) or widen the window without bound.
    fn clamped(&self) -> Self {
        Self {
            algorithm: self.algorithm,
            digits: self.digits.clamp(MIN_DIGITS, MAX_DIGITS),
            period_seconds: self.period_seconds.clamp(MIN_PERIOD, MAX_PERIOD),
            skew_steps: self.skew_steps.clamp(0, MAX_SKEW),
        }
    }
}

/// A TOTP shared secret, as raw bytes. Wiped on drop; `Debug` prints `TotpSecret(***)`.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// 160 bits: what RFC 4226 section 4 recommends (it requires at least 128).
    pub const GENERATED_LEN: usize = 20;

    pub fn generate(rng: &dyn Random) -> Self {
        let mut bytes = vec![0u8; Self::GENERATED_LEN];
        rng.fill(&mut bytes);
        Self(bytes)
    }

    /// A stored secret, once decrypted. Any length is accepted so that a secret stays usable
    /// whatever it was made with; new ones come from [`Self::generate`].
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32, upper case, unpadded: what authenticator apps expect when the secret is
    /// typed in or carried in an `otpauth://` URI.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

impl Drop for TotpSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The time step `now` falls in: floor(unix seconds / period), so instants before 1970 get
/// negative steps rather than sharing step 0 with the first period after it.
pub fn step_at(params: &TotpParams, now: OffsetDateTime) -> i64 {
    now.unix_timestamp()
        .div_euclid(params.clamped().period_seconds)
}

/// The code for one time step (the HOTP value of RFC 4226 with the step as counter), zero-padded
/// to `digits`.
pub fn code_for_step(secret: &TotpSecret, params: &TotpParams, step: i64) -> String {
    let p = params.clamped();
    // With a one-second period totp-rs's "time" is the counter itself, so no step * period
    // product can overflow. `new_unchecked` skips two checks: digits (clamped above) and a
    // 128-bit minimum secret, which generated secrets exceed and which must not lock out a
    // secret already enrolled. The `zeroize` feature wipes its copy of the secret on drop.
    let totp = totp_rs::TOTP::new_unchecked(
        p.algorithm.hmac(),
        p.digits as usize,
        0,
        1,
        secret.0.clone(),
    );
    // A negative step keeps its two's-complement bits as the counter, as RFC 6238's reference
    // implementation does.
    totp.generate(step as u64)
}

/// The step a submitted code is accepted for, or `None`.
///
/// `code` must be exactly `digits` ASCII digits (callers strip any spaces a user typed). Steps
/// from `current - skew` to `current + skew` are tried; a step at or before `last_step` is never
/// accepted, so each step's code works once. The caller records the returned step with a
/// conditional update (`... WHERE last_step < $step`) so that parallel submissions of one code
/// succeed exactly once.
pub fn verify(
    secret: &TotpSecret,
    params: &TotpParams,
    code: &str,
    now: OffsetDateTime,
    last_step: Option<i64>,
) -> Option<i64> {
    let p = params.clamped();
    if code.len() != p.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(&p, now);
    let mut found = Choice::from(0);
    let mut accepted = 0i64;
    // Every candidate is computed and compared, replayed ones included, so the time taken does
    // not tell which step matched.
    for step in current - p.skew_steps..=current + p.skew_steps {
        let fresh = Choice::from(u8::from(last_step.is_none_or(|last| step > last)));
        let hit = fresh
            & code_for_step(secret, &p, step)
                .as_bytes()
                .ct_eq(code.as_bytes());
        // The latest matching step wins: recording it also rules out every earlier step, so a
        // code that by chance matches two steps in the window still works only once.
        accepted.conditional_assign(&step, hit);
        found |= hit;
    }
    bool::from(found).then_some(accepted)
}

/// The key URI authenticator apps scan from a QR code:
/// `otpauth://totp/{issuer}:{account}?secret=...&issuer=...&algorithm=...&digits=...&period=...`.
/// The URI carries the secret: treat it like one.
pub fn otpauth_uri(
    secret: &TotpSecret,
    params: &TotpParams,
    issuer: &str,
    account: &str,
) -> String {
    let p = params.clamped();
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm={}&digits={}&period={}",
        percent_encode(account),
        secret.to_base32(),
        p.algorithm.as_str(),
        p.digits,
        p.period_seconds,
    )
}

/// Percent-encodes every byte but RFC 3986's unreserved characters. Stricter than a path needs,
/// on purpose: the label's `:` separates issuer from account, so one inside either must not be
/// read as that separator, and apps differ in what else they decode.
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    fn rfc_sha1_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    #[derive(Deserialize)]
    struct Vectors {
        vectors: Vec<Vector>,
    }

    #[derive(Deserialize)]
    struct Vector {
        time: i64,
        algorithm: String,
        secret_ascii: String,
        period: i64,
        digits: u32,
        code: String,
    }

    #[test]
    fn rfc6238_appendix_b() {
        let file: Vectors =
            serde_json::from_str(include_str!("../tests/data/rfc6238-vectors.json")).unwrap();
        // Six instants times three algorithms: a truncated file must not pass quietly.
        assert_eq!(file.vectors.len(), 18);
        for v in &file.vectors {
            let params = TotpParams {
                algorithm: TotpAlgorithm::parse(&v.algorithm.to_ascii_lowercase()).unwrap(),
                digits: v.digits,
                period_seconds: v.period,
                skew_steps: 0,
            };
            let secret = TotpSecret::from_bytes(v.secret_ascii.as_bytes().to_vec());
            let step = step_at(&params, at(v.time));
            assert_eq!(
                code_for_step(&secret, &params, step),
                v.code,
                "{} at {}",
                v.algorithm,
                v.time
            );
            assert_eq!(
                verify(&secret, &params, &v.code, at(v.time), None),
                Some(step)
            );
        }
    }

    #[test]
    fn six_digit_codes_are_the_low_digits() {
        // RFC 4226 truncation modulo 10^6 instead of 10^8: the last six of appendix B's code.
        let s = rfc_sha1_secret();
        let p = TotpParams::default();
        assert_eq!(code_for_step(&s, &p, step_at(&p, at(59))), "287082");
        assert_eq!(code_for_step(&s, &p, step_at(&p, at(1111111109))), "081804");
    }

    #[test]
    fn steps_are_floored() {
        let p = TotpParams::default();
        assert_eq!(step_at(&p, at(0)), 0);
        assert_eq!(step_at(&p, at(29)), 0);
        assert_eq!(step_at(&p, at(30)), 1);
        assert_eq!(step_at(&p, at(-1)), -1);
        assert_eq!(step_at(&p, at(-30)), -1);
        assert_eq!(step_at(&p, at(-31)), -2);
    }

    #[test]
    fn clock_edges() {
        let s = rfc_sha1_secret();
        let p = TotpParams::default();
        let k = 40_000_000;
        let now = at(k * 30 + 15);
        let code = |step| code_for_step(&s, &p, step);
        assert_eq!(verify(&s, &p, &code(k), now, None), Some(k));
        assert_eq!(verify(&s, &p, &code(k - 1), now, None), Some(k - 1));
        assert_eq!(verify(&s, &p, &code(k + 1), now, None), Some(k + 1));
        assert_eq!(verify(&s, &p, &code(k - 2), now, None), None);
        assert_eq!(verify(&s, &p, &code(k + 2), now, None), None);
        // Two steps ahead: refused in the last second of step k, accepted from the first of k + 1.
        assert_eq!(verify(&s, &p, &code(k + 2), at(k * 30 + 29), None), None);
        assert_eq!(
            verify(&s, &p, &code(k + 2), at(k * 30 + 30), None),
            Some(k + 2)
        );
        // One step behind: accepted to the last second of step k, refused once k + 1 begins.
        assert_eq!(
            verify(&s, &p, &code(k - 1), at(k * 30 + 29), None),
            Some(k - 1)
        );
        assert_eq!(verify(&s, &p, &code(k - 1), at(k * 30 + 30), None), None);

        let strict = TotpParams { skew_steps: 0, ..p };
        assert_eq!(verify(&s, &strict, &code(k), now, None), Some(k));
        assert_eq!(verify(&s, &strict, &code(k - 1), now, None), None);
        assert_eq!(verify(&s, &strict, &code(k + 1), now, None), None);

        let loose = TotpParams { skew_steps: 2, ..p };
        assert_eq!(verify(&s, &loose, &code(k - 2), now, None), Some(k - 2));
        assert_eq!(verify(&s, &loose, &code(k + 2), now, None), Some(k + 2));
        assert_eq!(verify(&s, &loose, &code(k + 3), now, None), None);
    }

    #[test]
    fn a_step_is_accepted_once() {
        let s = rfc_sha1_secret();
        let p = TotpParams::default();
        let k = 40_000_000;
        let now = at(k * 30 + 15);
        let code = |step| code_for_step(&s, &p, step);
        assert_eq!(verify(&s, &p, &code(k), now, Some(k)), None);
        assert_eq!(verify(&s, &p, &code(k - 1), now, Some(k)), None);
        assert_eq!(verify(&s, &p, &code(k + 1), now, Some(k)), Some(k + 1));
        assert_eq!(verify(&s, &p, &code(k - 1), now, Some(k - 1)), None);
        assert_eq!(verify(&s, &p, &code(k), now, Some(k - 1)), Some(k));
        // A step recorded ahead of this clock (another instance, a faster clock) blocks all.
        assert_eq!(verify(&s, &p, &code(k + 1), now, Some(k + 1)), None);
    }

    #[test]
    fn malformed_codes_are_refused() {
        let s = rfc_sha1_secret();
        let p = TotpParams::default();
        let k = 40_000_000;
        let now = at(k * 30 + 15);
        let right = code_for_step(&s, &p, k);
        assert_eq!(verify(&s, &p, &right, now, None), Some(k));
        for bad in [
            &right[..5],
            &format!("{right}0"),
            &format!("0{right}"),
            &format!(" {right}"),
            &format!("{right}\n"),
            "12345a",
            "abcdef",
            "１２３４５６",
            "-12345",
            "+12345",
            "",
        ] {
            assert_eq!(verify(&s, &p, bad, now, None), None, "{bad:?}");
        }
        let eight = TotpParams { digits: 8, ..p };
        assert_eq!(verify(&s, &eight, &right, now, None), None);
    }

    #[test]
    fn secrets_are_160_random_bits() {
        let rng = SeededRandom::new(7);
        let a = TotpSecret::generate(&rng);
        let b = TotpSecret::generate(&rng);
        assert_eq!(a.as_bytes().len(), 20);
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.to_base32().len(), 32);
    }

    #[test]
    fn base32_is_rfc4648_upper_unpadded() {
        assert_eq!(
            rfc_sha1_secret().to_base32(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        // RFC 4648 section 10, padding dropped.
        assert_eq!(TotpSecret::from_bytes(b"f".to_vec()).to_base32(), "MY");
        assert_eq!(
            TotpSecret::from_bytes(b"foobar".to_vec()).to_base32(),
            "MZXW6YTBOI"
        );
    }

    #[test]
    fn otpauth_uri_escapes_issuer_and_account() {
        let s = rfc_sha1_secret();
        assert_eq!(
            otpauth_uri(&s, &TotpParams::default(), "Deadbolt", "alice"),
            "otpauth://totp/Deadbolt:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Deadbolt&algorithm=SHA1&digits=6&period=30"
        );
        let p = TotpParams {
            algorithm: TotpAlgorithm::Sha256,
            digits: 8,
            period_seconds: 60,
            skew_steps: 1,
        };
        assert_eq!(
            otpauth_uri(&s, &p, "Acme: Co", "alice@example.com"),
            "otpauth://totp/Acme%3A%20Co:alice%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%3A%20Co&algorithm=SHA256&digits=8&period=60"
        );
        assert_eq!(percent_encode("a-z_0.9~"), "a-z_0.9~");
        assert_eq!(percent_encode("é&=?/#+%"), "%C3%A9%26%3D%3F%2F%23%2B%25");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert_eq!(format!("{:?}", rfc_sha1_secret()), "TotpSecret(***)");
    }

    #[test]
    fn algorithm_names() {
        for a in [
            TotpAlgorithm::Sha1,
            TotpAlgorithm::Sha256,
            TotpAlgorithm::Sha512,
        ] {
            let config_name = serde_json::to_value(a).unwrap();
            assert_eq!(config_name, a.as_str().to_ascii_lowercase());
            assert_eq!(TotpAlgorithm::parse(config_name.as_str().unwrap()), Some(a));
        }
        assert_eq!(TotpAlgorithm::parse("SHA1"), None);
        assert_eq!(TotpAlgorithm::parse("md5"), None);
    }

    #[test]
    fn params_check_and_deserialize() {
        assert!(TotpParams::default().problems().is_empty());
        let bad = TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits: 5,
            period_seconds: 0,
            skew_steps: 3,
        };
        let fields: Vec<_> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["digits", "period_seconds", "skew_steps"]);
        assert_eq!(
            serde_json::from_str::<TotpParams>("{}").unwrap(),
            TotpParams::default()
        );
        let p: TotpParams = serde_json::from_str(r#"{"algorithm":"sha512","digits":8}"#).unwrap();
        assert_eq!(
            (p.algorithm, p.digits, p.period_seconds),
            (TotpAlgorithm::Sha512, 8, 30)
        );
        assert!(serde_json::from_str::<TotpParams>(r#"{"algorithm":"SHA1"}"#).is_err());
        assert!(serde_json::from_str::<TotpParams>(r#"{"window":1}"#).is_err());
    }

    #[test]
    fn out_of_range_params_cannot_panic() {
        let s = rfc_sha1_secret();
        let wild = TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits: 12,
            period_seconds: 0,
            skew_steps: i64::MAX,
        };
        let now = at(1_700_000_000);
        let step = step_at(&wild, now);
        let code = code_for_step(&s, &wild, step);
        assert_eq!(code.len(), 8);
        assert_eq!(verify(&s, &wild, &code, now, None), Some(step));
        assert!(otpauth_uri(&s, &wild, "i", "a").ends_with("&digits=8&period=15"));
    }
}
