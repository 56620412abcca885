//! Users: the example resource.

mod email;
mod events;
mod model;
mod name;
mod ports;
mod service;

pub use self::email::{Email, EmailError};
pub use self::events::{USER_CREATED, USER_DELETED, USER_UPDATED};
pub use self::model::{EmptyPatch, NewUser, User, UserId, UserPatch};
pub use self::name::UserName;
pub use self::ports::{CacheLookup, USERS_EMAIL_UNIQUE, UserCache, UserStore, UserTransaction};
pub use self::service::{Created, UserError, UserService, describe_metrics};
