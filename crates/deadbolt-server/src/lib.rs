//! Deadbolt's HTTP service as a library: the JSON API's routes and the hosted pages, two thin
//! clients of the use cases in `deadbolt_usecases`. The `deadbolt` binary and the black-box
//! tests build it with [`app::Application`].

pub mod app;
pub use deadbolt_config as config;
pub mod error;
pub mod extract;
pub mod metrics;
mod no_store;
pub mod pages;
pub mod routes;
pub mod serve;
pub mod state;

pub use app::Application;
pub use config::Config;
