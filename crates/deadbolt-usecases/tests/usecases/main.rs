//! The use cases' own rules, exercised without HTTP: each test drives the use-case functions
//! on a fresh database (SQLite, or PostgreSQL where `DEADBOLT_TEST_DATABASE` says so) with a
//! manual clock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test"
)]

mod ceremony;
mod clients;
mod lockouts;
mod oidc;
mod outbox_wake;
mod push;
mod stepup;
mod support;
