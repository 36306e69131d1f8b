//! No panic reaches a client as a dropped connection: a middleware on each router catches a
//! panic in a handler, answers a One Hub-shaped 500 and logs one line (no backtrace).
//!
//! [`install_hook`] (called by the binary) replaces the default panic print — a multi-line
//! message, plus a backtrace with `RUST_BACKTRACE` — by one `tracing` line, and stays silent for
//! panics these middlewares catch, which log their own line with the method and path.

use std::{
    any::Any,
    cell::Cell,
    future::Future,
    panic::AssertUnwindSafe,
    task::{Context, Poll},
};

use axum::{
    Json,
    extract::Request,
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

thread_local! {
    /// True while this thread polls a request future under a guard (the hook stays silent).
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// The admin-API guard: 500 `{"success":false,"message":…}`.
pub async fn admin(req: Request, next: Next) -> Response {
    guarded(req, next, || {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"success": false, "message": "服务器内部错误，请查看服务器日志"})),
        )
            .into_response()
    })
    .await
}

/// The relay guard: 500 in One Hub's panic shape, `{"error":{"message","type":"one_hub_panic"}}`
/// (the panic text itself stays in the server log).
pub async fn relay(req: Request, next: Next) -> Response {
    guarded(req, next, || {
        let rid = crate::relay::new_request_id();
        <crate::relay::RelayError as crate::relay::Render>::render(
            &crate::relay::RelayError::relay(
                500,
                "internal error: the request was aborted; see the server log",
                json!("one_hub_panic"),
                "one_hub_panic",
            )
            .gateway(),
            &rid,
        )
    })
    .await
}

async fn guarded(req: Request, next: Next, answer: impl FnOnce() -> Response) -> Response {
    // Cheap clones (shared bytes), kept for the log line.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let fut = next.run(req);
    let mut fut = std::pin::pin!(fut);
    let outcome = std::future::poll_fn(|cx: &mut Context<'_>| {
        let was = GUARDED.replace(true);
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        GUARDED.set(was);
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(resp)) => Poll::Ready(Ok(resp)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    })
    .await;
    match outcome {
        Ok(resp) => resp,
        Err(payload) => {
            tracing::error!(
                method = %method,
                path = %uri.path(),
                panic = %crate::catch_panic::message(payload.as_ref()),
                "request handler panicked; answered 500"
            );
            answer()
        }
    }
}

/// The text of a panic payload (`panic!("…")` carries a `&str` or a `String`).
pub fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-text panic payload)")
}

/// Replaces the default panic print with one `tracing` error line (location and message); a
/// panic caught by a request guard is logged by the guard instead.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        if GUARDED.get() {
            return;
        }
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, panic = %message(info.payload()), "panic");
    }));
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use axum::{Router, body::Body, middleware, routing::get};
    use tower::ServiceExt;

    use super::*;

    async fn boom() -> &'static str {
        panic!("boom in a handler")
    }

    async fn call(router: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let resp = router
            .oneshot(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn admin_guard_answers_one_hub_500() {
        let router = Router::new()
            .route("/api/x", get(boom))
            .layer(middleware::from_fn(admin));
        let (status, body) = call(router, "/api/x").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["success"], false);
        assert!(body["message"].as_str().unwrap().contains("服务器内部错误"));
    }

    #[tokio::test]
    async fn relay_guard_answers_one_hub_panic_shape() {
        let router = Router::new()
            .route("/v1/x", get(boom))
            .layer(middleware::from_fn(relay));
        let (status, body) = call(router, "/v1/x").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["type"], "one_hub_panic");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("request id"), "{msg}");
        assert!(
            !msg.contains("boom"),
            "the panic text stays in the log: {msg}"
        );
    }

    #[test]
    fn payload_text() {
        let p: Box<dyn Any + Send> = Box::new("static");
        assert_eq!(message(p.as_ref()), "static");
        let p: Box<dyn Any + Send> = Box::new(String::from("owned"));
        assert_eq!(message(p.as_ref()), "owned");
        let p: Box<dyn Any + Send> = Box::new(7u8);
        assert_eq!(message(p.as_ref()), "(non-text panic payload)");
    }
}
