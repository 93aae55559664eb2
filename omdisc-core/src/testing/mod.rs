//! Test support — not part of the API, hidden from the docs: what the frontends' tests, the
//! fuzz harness, the benchmarks and xtask share with the core's own tests.
//!
//! * `vectors` (feature `test-vectors`): the shared wire test vectors and their parser.
//! * [`check_engine`]: every invariant of an engine's state; the fuzz harness and the
//!   property tests both run it after every step.
//! * [`Rng`]: the engine's PRNG, for reproducible random test data.
//! * [`deterministic_interval`], [`advertised_interval`]: the bandwidth model's formulas.
//! * [`plain_announcement`]: a plain node's announcement, for tests and test programs.

mod announcement;
mod invariants;
#[cfg(feature = "test-vectors")]
pub mod vectors;

pub use crate::engine::{advertised_interval, deterministic_interval};
pub use crate::rng::Rng;
pub use announcement::plain_announcement;
pub use invariants::{check_engine, Violation};
