//! The device authorization grant (RFC 8628): a device with no keyboard (a TV, a console) asks
//! for a sign-in, shows a short user code, and polls while its person approves it on another
//! device. The rules here: what a user code is, how long a request lives, and how often its
//! device may poll.

use crate::random::{Random, RandomExt};
use time::{Duration, OffsetDateTime};

/// The grant type a device polls the token endpoint with.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How long a request waits for its person (RFC 8628 section 3.2 `expires_in`).
pub const REQUEST_TTL: Duration = Duration::minutes(10);

/// The least time between two polls (`interval`).
pub const POLL_INTERVAL: Duration = Duration::seconds(5);

/// How much a poll that came too soon adds to the interval, for it and every later poll
/// (RFC 8628 section 3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::seconds(5);

/// The interval never grows past this: a device that keeps polling too fast is still answered.
pub const MAX_INTERVAL: Duration = Duration::seconds(60);

/// Twenty consonants without look-alikes (no vowels, so no words; no I, O or U): RFC 8628
/// section 6.1's alphabet. Eight of them are 20^8 (about 2^34.6) codes.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Letters in a user code.
pub const USER_CODE_LEN: usize = 8;

/// A user code: eight letters of [`ALPHABET`], kept without its dash.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // whoever holds a pending code may approve or deny its device
        f.write_str("UserCode(..)")
    }
}

impl UserCode {
    pub fn generate(rng: &dyn Random) -> Self {
        let code = (0..USER_CODE_LEN)
            .map(|_| char::from(ALPHABET[rng.below(ALPHABET.len() as u32) as usize]))
            .collect();
        Self(code)
    }

    /// What a person typed: any case, with or without the dash, spaces around or between the
    /// halves. None unless eight letters of the alphabet remain.
    pub fn parse(typed: &str) -> Option<Self> {
        if typed.len() > 32 {
            return None;
        }
        let letters: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\u{2010}'..='\u{2015}'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid =
            letters.len() == USER_CODE_LEN && letters.bytes().all(|b| ALPHABET.contains(&b));
        valid.then_some(Self(letters))
    }

    /// As a person reads it: `BCDF-GHJK`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(USER_CODE_LEN / 2);
        format!("{a}-{b}")
    }

    /// The letters alone, as they are hashed for the store.
    pub fn normalized(&self) -> &str {
        &self.0
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// Waiting for its person.
    Pending,
    /// Approved: the device's next poll is given tokens.
    Approved,
    /// Its person said no.
    Denied,
    /// The device has had its tokens.
    Used,
    /// It ran out of time unanswered, and that was recorded.
    Expired,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Used => "used",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Approved,
            Self::Denied,
            Self::Used,
            Self::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What a poll is answered with, before the request's state is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Soon enough after the last: the state decides.
    InTime,
    /// Too soon: `slow_down`, and the interval from now on is this.
    TooSoon { interval: Duration },
}

/// Judges a poll's timing against the last one and the request's interval. A poll that comes
/// sooner than the interval after the previous one is `slow_down` (RFC 8628 section 3.5).
pub fn pace(
    last_polled_at: Option<OffsetDateTime>,
    interval: Duration,
    now: OffsetDateTime,
) -> Pace {
    match last_polled_at {
        Some(last) if now - last < interval => Pace::TooSoon {
            interval: (interval + SLOW_DOWN_STEP).min(MAX_INTERVAL),
        },
        _ => Pace::InTime,
    }
}

/// What a poll of a request is answered with (RFC 8628 section 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollAnswer {
    /// Still waiting: `authorization_pending`, the poll recorded with this interval.
    Pending { interval: Duration },
    /// Still waiting, polled too soon: `slow_down`, the interval grown to this.
    SlowDown { interval: Duration },
    /// Its time ran out unanswered just now: record its end, then `expired_token`.
    EndNow,
    /// `expired_token` (its end already recorded, or an approval not collected in time).
    Expired,
    /// `access_denied`.
    Denied,
    /// Its tokens were collected already: `invalid_grant`.
    Spent,
    /// Approved: the device collects its tokens.
    Collect,
}

/// Judges a poll of a request in `state` that expires at `expires_at`, last polled at
/// `last_polled_at` with `interval`.
pub fn answer_poll(
    state: DeviceState,
    expires_at: OffsetDateTime,
    last_polled_at: Option<OffsetDateTime>,
    interval: Duration,
    now: OffsetDateTime,
) -> PollAnswer {
    let ended = expires_at <= now;
    match state {
        DeviceState::Pending if ended => PollAnswer::EndNow,
        DeviceState::Pending => match pace(last_polled_at, interval, now) {
            Pace::InTime => PollAnswer::Pending { interval },
            Pace::TooSoon { interval } => PollAnswer::SlowDown { interval },
        },
        DeviceState::Expired => PollAnswer::Expired,
        DeviceState::Approved if ended => PollAnswer::Expired,
        DeviceState::Approved => PollAnswer::Collect,
        DeviceState::Denied => PollAnswer::Denied,
        DeviceState::Used => PollAnswer::Spent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;
    use time::macros::datetime;

    #[test]
    fn a_generated_code_parses_back_in_any_form_a_person_types() {
        let rng = SeededRandom::new(7);
        for _ in 0..200 {
            let code = UserCode::generate(&rng);
            let shown = code.display();
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(UserCode::parse(&shown), Some(code.clone()));
            assert_eq!(UserCode::parse(&shown.to_lowercase()), Some(code.clone()));
            assert_eq!(UserCode::parse(code.normalized()), Some(code.clone()));
            let spaced = format!(" {} {} ", &shown[..4], &shown[5..]);
            assert_eq!(UserCode::parse(&spaced), Some(code));
        }
    }

    #[test]
    fn codes_use_every_letter_of_the_alphabet_and_nothing_else() {
        let rng = SeededRandom::new(11);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            seen.extend(UserCode::generate(&rng).normalized().bytes());
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ALPHABET.to_vec());
    }

    #[test]
    fn look_alikes_vowels_and_wrong_lengths_are_refused() {
        for typed in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "BCDF-GHJ0",
            "BCDF-GHJA",
            "BCDF-GHJI",
            "BCDF-GHJO",
            "BCDF_GHJK",
            "ВCDF-GHJK", // a Cyrillic В
            "BCDF-GHJK-BCDF-GHJK-BCDF-GHJK-BCDF",
        ] {
            assert_eq!(UserCode::parse(typed), None, "{typed:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_code() {
        let code = UserCode::parse("BCDF-GHJK").unwrap();
        assert!(!format!("{code:?}").contains("BCDF"));
    }

    #[test]
    fn a_poll_sooner_than_the_interval_slows_the_device_down_for_good() {
        let t = datetime!(2026-01-01 0:00 UTC);
        assert_eq!(pace(None, POLL_INTERVAL, t), Pace::InTime);
        assert_eq!(
            pace(Some(t - Duration::seconds(5)), POLL_INTERVAL, t),
            Pace::InTime
        );
        assert_eq!(
            pace(Some(t - Duration::seconds(4)), POLL_INTERVAL, t),
            Pace::TooSoon {
                interval: Duration::seconds(10)
            }
        );
        // the grown interval is the one the next poll is judged by
        assert_eq!(
            pace(Some(t - Duration::seconds(9)), Duration::seconds(10), t),
            Pace::TooSoon {
                interval: Duration::seconds(15)
            }
        );
        assert_eq!(
            pace(Some(t), MAX_INTERVAL, t),
            Pace::TooSoon {
                interval: MAX_INTERVAL
            }
        );
    }

    #[test]
    fn a_poll_is_answered_by_the_state_the_clock_and_the_pace() {
        let t = datetime!(2026-01-01 0:00 UTC);
        let later = t + REQUEST_TTL;
        let answer =
            |state, last: Option<OffsetDateTime>| answer_poll(state, later, last, POLL_INTERVAL, t);
        assert_eq!(
            answer(DeviceState::Pending, None),
            PollAnswer::Pending {
                interval: POLL_INTERVAL
            }
        );
        assert_eq!(
            answer(DeviceState::Pending, Some(t - Duration::seconds(1))),
            PollAnswer::SlowDown {
                interval: Duration::seconds(10)
            }
        );
        assert_eq!(answer(DeviceState::Approved, Some(t)), PollAnswer::Collect);
        assert_eq!(answer(DeviceState::Denied, None), PollAnswer::Denied);
        assert_eq!(answer(DeviceState::Used, None), PollAnswer::Spent);
        assert_eq!(answer(DeviceState::Expired, None), PollAnswer::Expired);
        // at its end: a waiting request ends now, an approval not collected is expired
        let at_end = |state| answer_poll(state, t, None, POLL_INTERVAL, t);
        assert_eq!(at_end(DeviceState::Pending), PollAnswer::EndNow);
        assert_eq!(at_end(DeviceState::Approved), PollAnswer::Expired);
        assert_eq!(at_end(DeviceState::Denied), PollAnswer::Denied);
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for s in [
            DeviceState::Pending,
            DeviceState::Approved,
            DeviceState::Denied,
            DeviceState::Used,
            DeviceState::Expired,
        ] {
            assert_eq!(DeviceState::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeviceState::parse("waiting"), None);
    }
}
