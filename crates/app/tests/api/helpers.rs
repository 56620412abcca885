//! The test harness: the application and its real dependencies, started for
//! one test. Everything but [`users`] is generic, for any resource's tests
//! and the infrastructure's.

mod app;
mod database;
mod metrics;
mod outbox;
mod poll;
mod sabotage;
mod users;

pub use self::app::*;
pub use self::database::*;
pub use self::metrics::*;
pub use self::outbox::*;
pub use self::poll::*;
pub use self::sabotage::*;
pub use self::users::*;
