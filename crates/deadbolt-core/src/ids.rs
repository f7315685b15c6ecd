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
);
