//! Deadbolt's use cases. Each takes parsed input and the [`client::ClientInfo`] it acts for,
//! asks the core's rules to decide, has the store persist the outcome in one batch, and answers
//! with a value or a [`error::DomainError`]. They reach the world only through
//! [`context::Context`], and know nothing of HTTP: the API's routes and the hosted pages are
//! two clients of the same functions.

pub mod client;
pub mod context;
pub mod error;

// sign-up, sign-in and sessions
pub mod accounts;
pub mod login;
pub mod mfa_login;
pub mod passkey_login;
pub mod reset;
pub mod sessions;
pub mod subject_login;

// second factors and step-up
pub mod challenge;
pub mod codes;
pub mod factor_buckets;
pub mod factor_policy;
pub mod factors;
pub mod methods;
pub mod mfa;
pub mod push;
pub mod stepup;
pub mod webauthn;

// the account's own settings and what others may do to it
pub mod admin;
pub mod api_keys;
pub mod clients;
pub mod contact;
pub mod devices;
pub mod oidc;
pub mod security;
pub mod subject_api;
pub mod subjects;
pub mod teams;

// rules around every sign-in
pub mod attempts;
pub mod live_policy;
pub mod policy;
pub mod risk;

// notices and events
pub mod events;
pub mod messages;
pub mod notice;
pub mod notify;

// keys, hashing and the outside world
pub mod admission;
pub mod claims;
pub mod geoip;
pub mod hash_pool;
pub mod jwt;
pub mod keyring;
pub mod master_key;
pub mod metrics;
pub mod rotation;
pub mod system;
pub mod verified_tokens;

pub use context::Context;
pub use error::{DomainError, DomainResult};
