//! What two or more of Deadbolt's test crates share, as a dev-dependency: which database
//! backend the suite runs on and a fresh database of it for each test ([`database`]), and TOTP
//! codes computed independently of the server's own code ([`totp`]), and the code in a
//! message's words ([`codes`]).
//!
//! A helper belongs here once a second test crate needs it; one that a single test crate uses
//! stays in that crate's `tests/`. Nothing here may depend on `deadbolt-server` or the other
//! crates under test (the helpers must not share the code they check), and every dependency is
//! one the test crates already build.

#![allow(
    clippy::expect_used,
    reason = "test support: a panic here is the test's failure, with the message saying why"
)]

pub mod codes;
pub mod database;
pub mod totp;
