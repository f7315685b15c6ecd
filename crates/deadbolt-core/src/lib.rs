//! Deadbolt's rules, free of HTTP, SQL, the wall clock and any global RNG.
//!
//! Time comes in through [`clock::Clock`] and randomness through [`random::Random`], so every
//! rule here is a plain function that tests can drive exactly. The layers above parse input into
//! these types once, ask a rule to decide, and persist or render the result.

pub mod account;
pub mod api_key;
pub mod auth;
pub mod clock;
pub mod code;
pub mod delivery;
pub mod device_grant;
pub mod email;
pub mod error;
pub mod event;
pub mod ids;
pub mod mfa;
pub mod name;
pub mod oidc;
pub mod oidc_client;
pub mod password;
pub mod phone;
pub mod policy;
pub mod push;
pub mod random;
pub mod recovery;
pub mod risk;
pub mod secret;
pub mod session;
pub mod stepup;
pub mod subject;
pub mod team;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod user_agent;
pub mod webauthn;

pub use error::CoreError;
