//! Use cases: each takes parsed input, asks the core's rules to decide, and has the store
//! persist the outcome. Handlers call exactly one of these; none of them knows about HTTP.

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod attempts;
pub mod codes;
pub mod contact;
pub mod devices;
pub mod events;
pub mod factors;
pub mod login;
pub mod mfa;
pub mod mfa_login;
pub mod notify;
pub mod passkey_login;
pub mod policy;
pub mod reset;
pub mod risk;
pub mod security;
pub mod sessions;
pub mod stepup;
pub mod teams;
pub mod webauthn;
