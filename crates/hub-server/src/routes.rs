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
    // `ANY` (One Hub's `router.Any`, e.g. the payment notify): every method.
    let handler = if method.as_str() == "ANY" {
        axum::routing::any(h)
    } else {
        on(
            MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET),
            h,
        )
    };
    Route {
        info: RouteInfo {
            method,
            path,
            access,
            json_body,
        },
        handler,
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
        r(M::GET, "/api/sync/nodes", Admin, false, crate::fleet::nodes),
        r(
            M::GET,
            "/api/available_model",
            Public,
            false,
            api::status::available_model,
        ),
        r(M::GET, "/api/prices", Public, false, api::prices::list),
        // Site content and what the UI loads at start or login
        r(M::GET, "/api/notice", Public, false, api::site::notice),
        r(M::GET, "/api/about", Public, false, api::site::about),
        r(
            M::GET,
            "/api/home_page_content",
            Public,
            false,
            api::site::home_page_content,
        ),
        r(
            M::GET,
            "/api/user_group_map",
            Public,
            false,
            api::site::user_group_map,
        ),
        r(
            M::GET,
            "/api/group/",
            Admin,
            false,
            api::site::group_symbols,
        ),
        r(
            M::POST,
            "/api/system_info/log",
            Root,
            true,
            api::site::system_log,
        ),
        r(
            M::POST,
            "/api/option/system_info/log",
            Root,
            true,
            api::site::system_log,
        ),
        r(
            M::GET,
            "/api/option/safe_tools",
            Root,
            false,
            api::site::safe_tools,
        ),
        // Model owners and model descriptions
        r(
            M::GET,
            "/api/model_ownedby/",
            Public,
            false,
            api::site::owners,
        ),
        r(
            M::GET,
            "/api/model_ownedby/{id}",
            Admin,
            false,
            api::site::owner_get,
        ),
        r(
            M::POST,
            "/api/model_ownedby/",
            Admin,
            true,
            api::site::owner_create,
        ),
        r(
            M::PUT,
            "/api/model_ownedby/",
            Admin,
            true,
            api::site::owner_update,
        ),
        r(
            M::DELETE,
            "/api/model_ownedby/{id}",
            Admin,
            false,
            api::site::owner_delete,
        ),
        r(
            M::GET,
            "/api/model_info/",
            Public,
            false,
            api::site::model_infos,
        ),
        r(
            M::GET,
            "/api/model_info/{id}",
            Admin,
            false,
            api::site::model_info_get,
        ),
        r(
            M::POST,
            "/api/model_info/",
            Admin,
            true,
            api::site::model_info_create,
        ),
        r(
            M::PUT,
            "/api/model_info/",
            Admin,
            true,
            api::site::model_info_update,
        ),
        r(
            M::DELETE,
            "/api/model_info/{id}",
            Admin,
            false,
            api::site::model_info_delete,
        ),
        // Dashboards and analytics
        r(
            M::GET,
            "/api/user/dashboard",
            User,
            false,
            api::dashboard::user_dashboard,
        ),
        r(
            M::GET,
            "/api/user/dashboard/rate",
            User,
            false,
            api::dashboard::user_dashboard_rate,
        ),
        r(
            M::GET,
            "/api/user/dashboard/uptimekuma/status-page",
            User,
            false,
            api::dashboard::uptime_status_page,
        ),
        r(
            M::GET,
            "/api/user/dashboard/uptimekuma/status-page/heartbeat",
            User,
            false,
            api::dashboard::uptime_heartbeat,
        ),
        r(
            M::GET,
            "/api/user/invoice",
            User,
            false,
            api::invoices::list,
        ),
        r(
            M::GET,
            "/api/user/invoice/detail",
            User,
            false,
            api::invoices::detail,
        ),
        r(
            M::POST,
            "/api/option/invoice/gen/{time}",
            Root,
            false,
            api::invoices::generate,
        ),
        r(
            M::POST,
            "/api/option/invoice/update/{time}",
            Root,
            false,
            api::invoices::regenerate,
        ),
        r(
            M::GET,
            "/api/analytics/statistics",
            Admin,
            false,
            api::dashboard::analytics_statistics,
        ),
        r(
            M::GET,
            "/api/analytics/period",
            Admin,
            false,
            api::dashboard::analytics_period,
        ),
        r(
            M::GET,
            "/api/analytics/multi_user_stats",
            Admin,
            false,
            api::dashboard::multi_user_stats,
        ),
        r(
            M::GET,
            "/api/analytics/multi_user_stats/export",
            Admin,
            false,
            api::dashboard::multi_user_stats_export,
        ),
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
        // Sign-up, invitations, OAuth and binding (contract §5.3, §5.5, §5.7)
        r(
            M::POST,
            "/api/user/register",
            Public,
            true,
            api::register::register,
        ),
        r(M::GET, "/api/user/aff", User, false, api::register::aff),
        r(
            M::GET,
            "/api/verification",
            Public,
            false,
            api::email::send_verification,
        ),
        r(
            M::GET,
            "/api/reset_password",
            Public,
            false,
            api::email::send_reset,
        ),
        r(M::POST, "/api/user/reset", Public, true, api::email::reset),
        r(
            M::GET,
            "/api/oauth/state",
            Public,
            false,
            api::oauth::oauth_state,
        ),
        r(
            M::GET,
            "/api/oauth/github",
            Public,
            false,
            api::oauth::github,
        ),
        r(M::GET, "/api/oauth/lark", Public, false, api::oauth::lark),
        r(
            M::GET,
            "/api/oauth/wechat",
            Public,
            false,
            api::oauth::wechat,
        ),
        r(
            M::GET,
            "/api/oauth/wechat/bind",
            User,
            false,
            api::oauth::wechat_bind,
        ),
        r(
            M::GET,
            "/api/oauth/email/bind",
            User,
            false,
            api::oauth::email_bind,
        ),
        r(
            M::GET,
            "/api/oauth/endpoint",
            Public,
            false,
            api::oauth::oidc_endpoint,
        ),
        r(M::GET, "/api/oauth/oidc", Public, false, api::oauth::oidc),
        r(M::POST, "/api/user/unbind", User, true, api::oauth::unbind),
        // Passkeys (contract §5.6)
        r(
            M::POST,
            "/api/webauthn/registration/begin",
            User,
            false,
            api::webauthn::registration_begin,
        ),
        r(
            M::POST,
            "/api/webauthn/registration/finish",
            User,
            true,
            api::webauthn::registration_finish,
        ),
        r(
            M::POST,
            "/api/webauthn/login/begin",
            Public,
            true,
            api::webauthn::login_begin,
        ),
        r(
            M::POST,
            "/api/webauthn/login/finish",
            Public,
            true,
            api::webauthn::login_finish,
        ),
        r(
            M::GET,
            "/api/webauthn/credentials",
            User,
            false,
            api::webauthn::credentials,
        ),
        r(
            M::DELETE,
            "/api/webauthn/credentials/{id}",
            User,
            false,
            api::webauthn::delete_credential,
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
        r(
            M::GET,
            "/api/token/playground",
            User,
            false,
            api::tokens::playground,
        ),
        r(M::POST, "/api/token/", User, true, api::tokens::create),
        r(M::PUT, "/api/token/", User, true, api::tokens::update),
        r(
            M::DELETE,
            "/api/token/{id}",
            User,
            false,
            api::tokens::delete,
        ),
        // Tokens of every user (admin)
        r(
            M::GET,
            "/api/token/admin/search",
            Admin,
            false,
            api::tokens::admin_search,
        ),
        r(
            M::PUT,
            "/api/token/admin",
            Admin,
            true,
            api::tokens::admin_update,
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
        // The channel quality check and the picture its image probe sends.
        r(
            M::POST,
            "/api/sse/channel/check",
            Admin,
            true,
            api::channel_check::check,
        ),
        r(
            M::GET,
            "/api/image/{id}",
            Public,
            false,
            api::channel_check::image,
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
        r(M::POST, "/api/prices/sync", Admin, true, api::prices::sync),
        r(
            M::GET,
            "/api/prices/updateService",
            Admin,
            false,
            api::prices::update_service,
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
        // Redemption codes, payment gateways and orders
        r(
            M::GET,
            "/api/redemption/",
            Admin,
            false,
            api::redemptions::list,
        ),
        r(
            M::GET,
            "/api/redemption/{id}",
            Admin,
            false,
            api::redemptions::get,
        ),
        r(
            M::POST,
            "/api/redemption/",
            Admin,
            true,
            api::redemptions::create,
        ),
        r(
            M::PUT,
            "/api/redemption/",
            Admin,
            true,
            api::redemptions::update,
        ),
        r(
            M::DELETE,
            "/api/redemption/{id}",
            Admin,
            false,
            api::redemptions::delete,
        ),
        r(
            M::POST,
            "/api/user/topup",
            User,
            true,
            api::redemptions::topup,
        ),
        r(M::GET, "/api/payment/", Admin, false, api::payments::list),
        r(
            M::GET,
            "/api/payment/order",
            Admin,
            false,
            api::payments::orders,
        ),
        r(
            M::GET,
            "/api/payment/{id}",
            Admin,
            false,
            api::payments::get,
        ),
        r(M::POST, "/api/payment/", Admin, true, api::payments::create),
        r(M::PUT, "/api/payment/", Admin, true, api::payments::update),
        r(
            M::DELETE,
            "/api/payment/{id}",
            Admin,
            false,
            api::payments::delete,
        ),
        r(
            any_method(),
            "/api/payment/notify/{uuid}",
            Public,
            false,
            api::payments::notify,
        ),
        r(
            M::GET,
            "/api/user/payment",
            User,
            false,
            api::payments::user_list,
        ),
        r(
            M::POST,
            "/api/user/order",
            User,
            true,
            api::payments::create_order,
        ),
        r(
            M::GET,
            "/api/user/order/status",
            User,
            false,
            api::payments::order_status,
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
        // Midjourney and async-task lists (rows written by One Hub (Go) nodes' relays)
        r(M::GET, "/api/mj/", Admin, false, api::tasks::mj_list),
        r(
            M::GET,
            "/api/mj/self",
            User,
            false,
            api::tasks::mj_list_self,
        ),
        r(M::GET, "/api/task/", Admin, false, api::tasks::task_list),
        r(
            M::GET,
            "/api/task/self",
            User,
            false,
            api::tasks::task_list_self,
        ),
    ]
}

/// Routes that write nothing although their method is not GET.
const READ_ONLY: &[&str] = &[
    "/api/channel/provider_models_list",
    "/api/sse/channel/check",
];

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
                "/api/model_ownedby/",
            ]
            .iter()
            .any(|p| self.path.starts_with(p))
            && !self.path.starts_with("/api/option/invoice/")
            && !self.path.starts_with("/api/option/system_info/")
    }
}

/// One Hub routes not served yet (accounts and money) whose path an `{id}` route would match.
pub const NOT_SERVED_STATIC: &[&str] = &[];

/// The method of routes that answer every method (One Hub's `Any`), as the route table and
/// `docs/compatibility.md` name it.
pub fn any_method() -> Method {
    Method::from_bytes(b"ANY").unwrap_or(Method::POST)
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
    // One Hub's static paths that we do not serve yet and that `{id}` would otherwise take
    // (they would answer an invalid-id error): the same `Invalid URL` as any unserved route.
    for path in NOT_SERVED_STATIC {
        router = router.route(path, axum::routing::any(not_found));
    }
    // Each router gets its own panic guard, answering in its own error shape.
    router
        .route("/metrics", axum::routing::get(crate::observe::metrics))
        .route("/api/metrics", axum::routing::get(crate::observe::metrics))
        .layer(middleware::from_fn(crate::catch_panic::admin))
        .merge(crate::relay::router().layer(middleware::from_fn(crate::catch_panic::relay)))
        // The web console answers the GETs no route took (its shell and assets); the rest
        // keeps One Hub's `Invalid URL` 404.
        .fallback(crate::console::fallback)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/compatibility.md`'s table of One Hub's routes: (method, path, status).
    fn documented() -> Vec<(String, String, String)> {
        let doc = include_str!("../../../docs/compatibility.md");
        let Some(start) = doc.find("### Every One Hub admin route") else {
            return Vec::new();
        };
        doc[start..]
            .lines()
            .skip_while(|l| !l.starts_with("| method"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                match cells.as_slice() {
                    ["", method, path, _role, status, ""] => Some((
                        (*method).to_owned(),
                        path.trim_matches('`').to_owned(),
                        (*status).to_owned(),
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn the_compatibility_table_is_true() {
        let doc = documented();
        assert!(
            doc.len() > 100,
            "the table is found and complete: {}",
            doc.len()
        );
        let served: Vec<(String, String)> = route_table()
            .into_iter()
            .map(|r| (r.method.to_string(), r.path.to_owned()))
            .collect();
        // Served outside the table: the metrics endpoint (its own Basic auth).
        let elsewhere = [("GET", "/api/metrics")];
        for (method, path, status) in &doc {
            let ours = served.iter().any(|(m, p)| m == method && p == path)
                || elsewhere.contains(&(method.as_str(), path.as_str()));
            assert_eq!(
                status == "served",
                ours,
                "{method} {path}: the table says {status:?}, the route table disagrees"
            );
        }
        // Every route we serve is One Hub's (listed) or one of our documented additions.
        let additions = [
            ("GET", "/api/sync/status"),
            ("GET", "/api/sync/nodes"),
            ("POST", "/api/user/{id}/logout"),
        ];
        for (method, path) in &served {
            assert!(
                doc.iter().any(|(m, p, _)| m == method && p == path)
                    || additions.contains(&(method.as_str(), path.as_str())),
                "{method} {path} is served but not in docs/compatibility.md's route table"
            );
        }
    }
}
