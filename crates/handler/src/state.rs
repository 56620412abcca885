//! [`AppState`]: what the public router's handlers can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use service::health::Health;
use service::users::UserService;

use crate::auth::Auth;

/// What handlers can reach. Each handler extracts only the part it needs
/// (its resource's service, `State<Arc<…Service>>`), through [`FromRef`].
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// The user use cases.
    pub users: Arc<UserService>,
    /// Start-up and readiness state, for the probes.
    pub health: Arc<Health>,
    /// How API requests are authenticated (each resource's router checks
    /// its scopes).
    pub auth: Auth,
}
