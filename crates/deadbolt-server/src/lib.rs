//! Deadbolt's HTTP service as a library: the `deadbolt` binary and the black-box tests build
//! it with [`app::Application`].

pub mod admission;
pub mod app;
pub use deadbolt_config as config;
pub mod error;
pub mod extract;
pub mod geoip;
pub mod hash_pool;
pub mod jwt;
pub mod keyring;
pub mod master_key;
pub mod messages;
pub mod metrics;
mod no_store;
pub mod pages;
pub mod policy;
pub mod rotation;
pub mod routes;
pub mod serve;
pub mod services;
pub mod state;
pub mod system;
pub mod verified_tokens;

pub use app::Application;
pub use config::Config;
