//! The route table. Every admin-API route is declared once here with its method, path and the
//! role it requires; the router and the role/bad-input tests are both built from this table,
//! so a new route cannot escape either.

use axum::{
    Router,
    extract::Request,
    http::Method,
    middleware,
    response::{IntoResponse, Response},
    routing::{MethodFilter, MethodRouter, on},
};
use hub_core::role::Access;

use crate::{AppState, api, auth, error::invalid_url};

/// A route as seen by tests and docs.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    /// True when the route reads a JSON body.
    pub json_body: bool,
}

struct Route {
    info: RouteInfo,
    handler: MethodRouter<AppState>,
}

fn r<H, T>(method: Method, path: &'static str, access: Access, json_body: bool, h: H) -> Route
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
    Route {
        info: RouteInfo {
            method,
            path,
            access,
            json_body,
        },
        handler: on(filter, h),
    }
}

fn routes() -> Vec<Route> {
    use Access::*;
    use Method as M;
    vec![
        // Public
        r(M::GET, "/api/status", Public, false, api::status::status),
        r(M::GET, "/api/ownedby", Public, false, api::status::owned_by),
        r(
            M::GET,
            "/api/sync/status",
            Admin,
            false,
            api::status::sync_status,
        ),
        r(
            M::GET,
            "/api/available_model",
            Public,
            false,
            api::status::available_model,
        ),
        r(M::GET, "/api/prices", Public, false, api::prices::list),
        r(
            M::POST,
            "/api/user/login",
            Public,
            true,
            api::user_self::login,
        ),
        r(
            M::GET,
            "/api/user/logout",
            Public,
            false,
            api::user_self::logout,
        ),
        // Self
        r(
            M::GET,
            "/api/user/self",
            User,
            false,
            api::user_self::get_self,
        ),
        r(
            M::PUT,
            "/api/user/self",
            User,
            true,
            api::user_self::update_self,
        ),
        r(
            M::GET,
            "/api/user/token",
            User,
            false,
            api::user_self::regenerate_access_token,
        ),
        // Tokens (the caller's own)
        r(M::GET, "/api/token/", User, false, api::tokens::list),
        r(M::GET, "/api/token/{id}", User, false, api::tokens::get),
        r(M::POST, "/api/token/", User, true, api::tokens::create),
        r(M::PUT, "/api/token/", User, true, api::tokens::update),
        r(
            M::DELETE,
            "/api/token/{id}",
            User,
            false,
            api::tokens::delete,
        ),
        // Channels. Static segments (`models`, `test`, `batch`, `disabled`, …) win over `{id}`.
        r(M::GET, "/api/channel/", Admin, false, api::channels::list),
        r(
            M::GET,
            "/api/channel/models",
            Admin,
            false,
            api::channel_models::list,
        ),
        r(
            M::POST,
            "/api/channel/provider_models_list",
            Admin,
            true,
            api::channel_models::provider_models,
        ),
        r(
            M::GET,
            "/api/channel/test",
            Admin,
            false,
            api::channels::test_all,
        ),
        r(
            M::GET,
            "/api/channel/test/{id}",
            Admin,
            false,
            api::channels::test,
        ),
        r(
            M::GET,
            "/api/channel/{id}",
            Admin,
            false,
            api::channels::get,
        ),
        r(
            M::GET,
            "/api/channel/update_balance",
            Admin,
            false,
            api::channels::update_all_balances,
        ),
        r(
            M::GET,
            "/api/channel/update_balance/{id}",
            Admin,
            false,
            api::channels::update_balance,
        ),
        r(M::POST, "/api/channel/", Admin, true, api::channels::create),
        r(M::PUT, "/api/channel/", Admin, true, api::channels::update),
        r(
            M::DELETE,
            "/api/channel/{id}",
            Admin,
            false,
            api::channels::delete,
        ),
        r(
            M::PUT,
            "/api/channel/batch/azure_api",
            Admin,
            true,
            api::channel_batch::azure_api,
        ),
        r(
            M::PUT,
            "/api/channel/batch/del_model",
            Admin,
            true,
            api::channel_batch::del_model,
        ),
        r(
            M::DELETE,
            "/api/channel/batch",
            Admin,
            true,
            api::channel_batch::delete,
        ),
        r(
            M::DELETE,
            "/api/channel/disabled",
            Admin,
            false,
            api::channel_batch::delete_disabled,
        ),
        r(
            M::DELETE,
            "/api/channel/{id}/tag",
            Admin,
            false,
            api::channel_tags::untag,
        ),
        // Channel tags (`_all` wins over `{tag}`)
        r(
            M::GET,
            "/api/channel_tag/_all",
            Admin,
            false,
            api::channel_tags::all,
        ),
        r(
            M::GET,
            "/api/channel_tag/{tag}/list",
            Admin,
            false,
            api::channel_tags::list,
        ),
        r(
            M::GET,
            "/api/channel_tag/{tag}",
            Admin,
            false,
            api::channel_tags::get,
        ),
        r(
            M::PUT,
            "/api/channel_tag/{tag}",
            Admin,
            true,
            api::channel_tags::update,
        ),
        r(
            M::DELETE,
            "/api/channel_tag/{tag}",
            Admin,
            false,
            api::channel_tags::delete,
        ),
        r(
            M::DELETE,
            "/api/channel_tag/{tag}/disabled",
            Admin,
            false,
            api::channel_tags::delete_disabled,
        ),
        r(
            M::PUT,
            "/api/channel_tag/{tag}/priority",
            Admin,
            true,
            api::channel_tags::priority,
        ),
        r(
            M::PUT,
            "/api/channel_tag/{tag}/status/{status}",
            Admin,
            false,
            api::channel_tags::status,
        ),
        // Users
        r(M::GET, "/api/user/", Admin, false, api::users::list),
        r(M::GET, "/api/user/{id}", Admin, false, api::users::get),
        r(M::POST, "/api/user/", Admin, true, api::users::create),
        r(M::PUT, "/api/user/", Admin, true, api::users::update),
        r(
            M::DELETE,
            "/api/user/{id}",
            Admin,
            false,
            api::users::delete,
        ),
        r(M::POST, "/api/user/manage", Admin, true, api::users::manage),
        r(
            M::POST,
            "/api/user/{id}/logout",
            Admin,
            false,
            api::users::logout_everywhere,
        ),
        r(
            M::POST,
            "/api/user/quota/{id}",
            Admin,
            true,
            api::users::add_quota,
        ),
        // Options
        r(M::GET, "/api/option/", Root, false, api::options::list),
        r(M::PUT, "/api/option/", Root, true, api::options::update),
        // Prices
        r(
            M::GET,
            "/api/prices/model_list",
            Admin,
            false,
            api::prices::model_list,
        ),
        r(
            M::POST,
            "/api/prices/single",
            Admin,
            true,
            api::prices::add_single,
        ),
        r(
            M::PUT,
            "/api/prices/single/{*model}",
            Admin,
            true,
            api::prices::update_single,
        ),
        r(
            M::DELETE,
            "/api/prices/single/{*model}",
            Admin,
            false,
            api::prices::delete_single,
        ),
        r(
            M::POST,
            "/api/prices/multiple",
            Admin,
            true,
            api::prices::update_multiple,
        ),
        r(
            M::PUT,
            "/api/prices/multiple/delete",
            Admin,
            true,
            api::prices::delete_multiple,
        ),
        // User groups
        r(M::GET, "/api/user_group/", Admin, false, api::groups::list),
        r(
            M::GET,
            "/api/user_group/{id}",
            Admin,
            false,
            api::groups::get,
        ),
        r(
            M::POST,
            "/api/user_group/",
            Admin,
            true,
            api::groups::create,
        ),
        r(M::PUT, "/api/user_group/", Admin, true, api::groups::update),
        r(
            M::PUT,
            "/api/user_group/enable/{id}",
            Admin,
            false,
            api::groups::toggle_enable,
        ),
        r(
            M::DELETE,
            "/api/user_group/{id}",
            Admin,
            false,
            api::groups::delete,
        ),
        // Logs
        r(M::GET, "/api/log/", Admin, false, api::logs::list),
        r(M::DELETE, "/api/log/", Admin, false, api::logs::delete_old),
        r(M::GET, "/api/log/stat", Admin, false, api::logs::stat),
        r(M::GET, "/api/log/self", User, false, api::logs::list_self),
        r(
            M::GET,
            "/api/log/self/stat",
            User,
            false,
            api::logs::stat_self,
        ),
    ]
}

/// Routes that write nothing although their method is not GET.
const READ_ONLY: &[&str] = &["/api/channel/provider_models_list"];

impl RouteInfo {
    /// Whether the route may write (any method but GET, except the [`READ_ONLY`] routes).
    pub fn writes(&self) -> bool {
        self.method != Method::GET && !READ_ONLY.contains(&self.path)
    }

    /// Writes to channels (and their tags), user groups, prices and options change routing.
    pub fn reloads_snapshot(&self) -> bool {
        self.writes()
            && [
                "/api/channel/",
                "/api/channel_tag/",
                "/api/user_group/",
                "/api/prices/",
                "/api/option/",
            ]
            .iter()
            .any(|p| self.path.starts_with(p))
    }
}

/// Method, path and required role of every admin-API route.
pub fn route_table() -> Vec<RouteInfo> {
    routes().into_iter().map(|r| r.info).collect()
}

/// Builds the router: each route wrapped in its role check; group paths ending in `/` are also
/// served without it (gin redirects; we answer directly). Unknown paths and methods get
/// One Hub's `Invalid URL` 404.
pub fn build_router(state: AppState) -> Router {
    let mut router: Router<AppState> = Router::new();
    for Route { info, handler } in routes() {
        // A write to routing config rebuilds this node's snapshot before the call returns;
        // every write is then announced to the other nodes (Redis, when configured).
        let handler = if info.reloads_snapshot() {
            handler.route_layer(middleware::from_fn_with_state(state.clone(), reload_after))
        } else if info.writes() && info.access != Access::Public {
            handler.route_layer(middleware::from_fn_with_state(
                state.clone(),
                announce_after,
            ))
        } else {
            handler
        };
        let handler = if info.access == Access::Public {
            handler
        } else {
            handler.route_layer(middleware::from_fn_with_state(
                (state.clone(), info.access),
                auth::require,
            ))
        };
        router = router.route(info.path, handler.clone());
        if let Some(bare) = info.path.strip_suffix('/') {
            router = router.route(bare, handler);
        }
    }
    // Each router gets its own panic guard, answering in its own error shape.
    router
        .route("/metrics", axum::routing::get(crate::observe::metrics))
        .route("/api/metrics", axum::routing::get(crate::observe::metrics))
        .layer(middleware::from_fn(crate::catch_panic::admin))
        .merge(crate::relay::router().layer(middleware::from_fn(crate::catch_panic::relay)))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::enforce,
        ))
        // Preflights are answered before the limiters, as One Hub answers them.
        .layer(middleware::from_fn(crate::cors::cors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::observe::track,
        ))
        .with_state(state)
}

async fn reload_after(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: middleware::Next,
) -> Response {
    let resp = next.run(req).await;
    state.config_changed().await;
    resp
}

async fn announce_after(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: middleware::Next,
) -> Response {
    let resp = next.run(req).await;
    // Apply our own token/user change to this node's cache before answering, then tell the others.
    if state.sync.ready()
        && let Err(e) = crate::sync::poll_once(&state).await
    {
        tracing::warn!(error = %e, "cannot apply a local change at once; the next sync check will");
    }
    crate::sync::announce(&state).await;
    resp
}

async fn not_found(req: Request) -> Response {
    invalid_url(req.method().as_str(), req.uri().path()).into_response()
}
