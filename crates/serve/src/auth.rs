//! An optional access token for the page and the API (`--auth-token`). A browser presents
//! it once as `?token=…`, gets it back as an HttpOnly cookie and is redirected to the clean
//! URL (EventSource cannot send headers); scripts send `Authorization: Bearer …`.
//! `/healthz` stays open for load balancers.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

const COOKIE: &str = "pipeline_token";

#[derive(Clone)]
pub struct Token(pub std::sync::Arc<str>);

/// Compares without stopping at the first different byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub async fn require(State(token): State<Token>, req: Request, next: Next) -> Response {
    let expected = &*token.0;
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(COOKIE)
                .and_then(|c| c.strip_prefix('='))
        })
        .next();
    if bearer.is_some_and(|t| same(t, expected)) || cookie.is_some_and(|t| same(t, expected)) {
        return next.run(req).await;
    }
    // ?token=… : set the cookie and come back without it in the address bar.
    let query = req.uri().query().unwrap_or("");
    let given = query.split('&').find_map(|kv| kv.strip_prefix("token="));
    if given.is_some_and(|t| same(t, expected)) {
        let rest: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.starts_with("token="))
            .collect();
        let target = if rest.is_empty() {
            req.uri().path().to_string()
        } else {
            format!("{}?{}", req.uri().path(), rest.join("&"))
        };
        let mut resp = Redirect::to(&target).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{COOKIE}={expected}; HttpOnly; SameSite=Strict; Path=/"
        )) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return resp;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "an access token is required: open the page as /?token=<token> or send Authorization: Bearer <token>\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_whole_tokens() {
        assert!(super::same("abc", "abc"));
        assert!(!super::same("abc", "abd"));
        assert!(!super::same("abc", "abcd"));
    }
}
