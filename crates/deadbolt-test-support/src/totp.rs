//! TOTP codes (RFC 6238: SHA-1, 30-second steps, six digits, as the server issues them) from an
//! independent implementation, totp-lite: the tests must not compute codes with the server's.

/// The code for the time step that holds `unix` (seconds since the epoch, by the clock the
/// server under test reads), for a secret in unpadded base32 as the server hands it out.
pub fn totp_at(secret_b32: &str, unix: i64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .expect("the secret is unpadded base32");
    let unix = u64::try_from(unix).expect("a time after 1970");
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &key, unix)
}
