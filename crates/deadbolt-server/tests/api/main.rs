//! Black-box tests: the real server over HTTP, on SQLite or PostgreSQL
//! (DEADBOLT_TEST_DATABASE), with a real SMTP server receiving the mail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test"
)]

mod accounts;
mod admin;
mod browser;
mod channels;
mod clients;
mod device_grant;
mod geoip_file;
mod hardening;
mod hashing_keys;
mod helpers;
mod input;
mod keys_and_teams;
mod limits;
mod login;
mod mfa;
mod oidc;
mod outbox;
mod pages;
mod phone_receiver;
mod policy;
mod push;
mod reset;
mod risk;
mod secrets_at_rest;
mod service;
mod sessions;
mod signed_requests;
mod stepup;
mod subjects;
mod webauthn;
