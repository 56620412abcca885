//! The users routes: `/api/v1/users` and `/api/v1/users/{id}`.

mod dto;
mod error;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Response;
use service::idempotency::StoredAnswer;
use service::users::{Created, NewUser, User, UserId, UserPatch, UserService};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use self::dto::{CreateUserRequest, UpdateUserRequest, UserPage, UserResponse};
use crate::auth::{self, Auth, Guard, RouteScopes};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query, path_id};
use crate::idempotency::{self, IdempotencyKeyHeader};
use crate::paging::ListQuery;
use crate::problem::Problem;
use crate::responses::{AuthErrors, BodyErrors, ItemErrors, RequestErrors, ServerErrors};
use crate::state::AppState;

/// The scopes of the users routes: `users:read` to read, `users:write`
/// for `POST`, `PATCH` and `DELETE`. The operations' `security(...)` below
/// name the same (a test compares the document with what is enforced).
pub const SCOPES: RouteScopes = RouteScopes {
    read: "users:read",
    write: "users:write",
};

/// The users routes, with their OpenAPI operations, behind `auth`.
pub fn router(auth: Auth) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .route_layer(middleware::from_fn_with_state(
            Guard::new(auth, SCOPES),
            auth::require,
        ))
}

/// The `{id}` path segment as a user's id.
fn user_id(raw: &str) -> Result<UserId, ApiError> {
    path_id(raw, "user").map(UserId::from_uuid)
}

/// Create a user.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer" = ["users:write"])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserResponse,
            headers(("Location" = String, description = "Path of the new user"))),
        (status = 409, description = "E-mail address already in use, or the first request with this `Idempotency-Key` is still being processed (then with `Retry-After`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        AuthErrors,
        ServerErrors,
    ),
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes a retry safe: the first request with a key creates the user; the same request again gets the same answer (with `Idempotent-Replayed: true`) for `IDEMPOTENCY_TTL`. 1 to 255 visible ASCII characters, e.g. a UUID.",
            pattern = "^[!-~]{1,255}$"),
    )
)]
async fn create_user(
    State(users): State<Arc<UserService>>,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    Json(body): Json<CreateUserRequest>,
) -> Result<Response, ApiError> {
    let new = NewUser::try_from(body)?;
    let Some(key) = key else {
        let user = users.create(new).await?;
        return Ok(idempotency::respond(created(&user), false));
    };
    Ok(match users.create_once(new, key, created).await? {
        Created::New(user) => idempotency::respond(created(&user), false),
        Created::Replayed(answer) => idempotency::respond(answer, true),
    })
}

/// The `201` of a created user, as sent and as stored with a key.
fn created(user: &User) -> StoredAnswer {
    idempotency::answer(
        StatusCode::CREATED,
        Some(format!("/api/v1/users/{}", user.id)),
        &UserResponse::from(user.clone()),
    )
}

/// List users in creation order, one page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer" = ["users:read"])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        RequestErrors,
        AuthErrors,
        ServerErrors,
    )
)]
async fn list_users(
    State(users): State<Arc<UserService>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let (cursor, limit) = query.parse()?;
    let page = users.list(cursor, limit).await?;
    Ok(Json(UserPage {
        items: page.items.into_iter().map(UserResponse::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    }))
}

/// Get one user.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = ["users:read"])),
    params(("id" = Uuid, Path, description = "The user's id: a UUID, hyphenated (8-4-4-4-12 hex digits, either case)")),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        ItemErrors,
        AuthErrors,
        ServerErrors,
    )
)]
async fn get_user(
    State(users): State<Arc<UserService>>,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, ApiError> {
    let user = users.get(user_id(&id)?).await?;
    Ok(Json(user.into()))
}

/// Change a user's e-mail address and/or name.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = ["users:write"])),
    params(("id" = Uuid, Path, description = "The user's id: a UUID, hyphenated (8-4-4-4-12 hex digits, either case)")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = UserResponse),
        (status = 409, description = "E-mail address already in use", body = Problem, content_type = "application/problem+json"),
        ItemErrors,
        BodyErrors,
        AuthErrors,
        ServerErrors,
    )
)]
async fn update_user(
    State(users): State<Arc<UserService>>,
    Path(id): Path<String>,
    Json(body): Json<UpdateUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let id = user_id(&id)?;
    let patch = UserPatch::try_from(body)?;
    let user = users.update(id, patch).await?;
    Ok(Json(user.into()))
}

/// Delete a user.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = ["users:write"])),
    params(("id" = Uuid, Path, description = "The user's id: a UUID, hyphenated (8-4-4-4-12 hex digits, either case)")),
    responses(
        (status = 204, description = "Deleted"),
        ItemErrors,
        AuthErrors,
        ServerErrors,
    )
)]
async fn delete_user(
    State(users): State<Arc<UserService>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    users.delete(user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
