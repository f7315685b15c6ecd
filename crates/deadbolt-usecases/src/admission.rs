//! In-flight limits for work anyone may ask for. A passkey start needs no password, so the hash
//! pool does not bound it, and a flood from many addresses passes every per-address limit: each
//! start writes a ceremony, and past what the database can write the starts would only queue,
//! making every request slow. A gate admits a fixed number at once and refuses the rest at
//! once (503 with Retry-After), before any other work, so that a refusal costs nothing.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A number of places; a request holds one while it is answered.
#[derive(Clone)]
pub struct Gate {
    places: Arc<Semaphore>,
}

impl Gate {
    pub fn new(places: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(places.max(1))),
        }
    }

    /// A place, or `Busy` at once when every place is taken.
    pub fn enter(&self) -> Result<OwnedSemaphorePermit, crate::hash_pool::Busy> {
        self.places
            .clone()
            .try_acquire_owned()
            .map_err(|_| crate::hash_pool::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_gate_refuses_at_once_and_a_place_given_back_is_taken_again() {
        let gate = Gate::new(2);
        let first = gate.enter().unwrap();
        let _second = gate.enter().unwrap();
        assert!(gate.enter().is_err());
        drop(first);
        assert!(gate.enter().is_ok());
    }
}
