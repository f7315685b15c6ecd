//! Typed identifiers, so an account id can never be passed where a session id belongs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random (v4) id from the caller's randomness.
            pub fn generate(rng: &dyn crate::random::Random) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill(&mut bytes);
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            /// A fresh id that sorts by creation time (UUIDv7: the millisecond, then 74
            /// random bits), for records written at a high rate: a new row's key lands at the
            /// end of its index rather than on a random page, so a burst of sign-ins rewrites
            /// a few index pages instead of one page each. The time it shows is the record's
            /// own creation time, which the record carries anyway.
            pub fn generate_ordered(
                rng: &dyn crate::random::Random,
                at: time::OffsetDateTime,
            ) -> Self {
                let mut bytes = [0u8; 10];
                rng.fill(&mut bytes);
                let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                Self(uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

typed_id!(
    /// An account (a person or service that signs in).
    AccountId,
    /// A sign-in session; access and refresh tokens belong to one.
    SessionId,
    /// A recorded security event.
    EventId,
    /// A message waiting in the outbox.
    MessageId,
    /// A one-time code sent to a channel.
    CodeId,
    /// A second-factor method of an account.
    MethodId,
    /// One recovery code.
    RecoveryCodeId,
    /// A step-up grant of a session.
    GrantId,
    /// A trusted device.
    DeviceId,
    /// An API key.
    ApiKeyId,
    /// A team of accounts.
    TeamId,
    /// An invitation to join a team.
    InvitationId,
    /// A push request waiting for (or given) its approver's answer.
    ApprovalId,
);
