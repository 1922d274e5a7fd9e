//! Routes: the page, the original demo's API, the new overview/health endpoints, the SSE
//! stream, `/healthz` and `/metrics`. Every query parameter is checked against a fixed list.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use query::{Queries, Range};
use serde_json::json;

use crate::answers::{unix_ms, Answer, Answers, Question, SingleFlight};
use crate::assets::ASSETS;
use crate::health::HealthMonitor;

#[derive(Clone)]
pub struct AppState {
    answers: Arc<Answers>,
    monitor: HealthMonitor,
    /// The stream's snapshot per range, made of the answers above and the health, as a
    /// whole Server-Sent Events frame: every open stream sends the same bytes (shared, not
    /// copied per viewer).
    snapshots: Arc<SingleFlight<Range, Frame>>,
}

/// A snapshot's SSE frame, and when the newest of its parts started: the next snapshot's
/// parts must be newer, so no two snapshots show the same part.
#[derive(Clone)]
struct Frame {
    bytes: Bytes,
    newest_part: Instant,
}

impl AppState {
    pub fn new(queries: Queries, monitor: HealthMonitor) -> Self {
        AppState {
            answers: Arc::new(Answers::new(queries)),
            monitor,
            snapshots: Arc::default(),
        }
    }
}

/// The header that says how old an answer is, in milliseconds.
pub const AGE_HEADER: &str = "x-answer-age-ms";

/// A cached answer as an HTTP response: its JSON with its age, or its error.
fn respond(answer: Answer) -> Result<Response, ApiError> {
    let age = answer.age().as_millis().to_string();
    match answer.body {
        Ok(json) => Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    header::HeaderName::from_static(AGE_HEADER),
                    HeaderValue::from_str(&age).expect("digits"),
                ),
            ],
            json.to_string(),
        )
            .into_response()),
        Err(e) => Err(ApiError::from(&*e)),
    }
}

/// An error answer: `{"error": "..."}` with a status.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<&clickhouse_http::Error> for ApiError {
    fn from(e: &clickhouse_http::Error) -> Self {
        let status = if e.is_unreachable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        tracing::warn!(error = %e, "dashboard query failed");
        ApiError(status, e.to_string())
    }
}

type Params = Query<HashMap<String, String>>;

/// Rejects any parameter outside `allowed`.
fn only(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            if allowed.is_empty() {
                format!("unknown parameter {k:?}: this endpoint takes none")
            } else {
                format!(
                    "unknown parameter {k:?}: this endpoint takes {}",
                    allowed.join(", ")
                )
            },
        )),
        None => Ok(()),
    }
}

fn range_of(params: &HashMap<String, String>) -> Result<Range, ApiError> {
    only(params, &["range"])?;
    match params.get("range") {
        None => Ok(Range::default()),
        Some(r) => r.parse().map_err(|e| ApiError(StatusCode::BAD_REQUEST, e)),
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/sales", get(sales))
        .route("/api/stock", get(stock))
        .route("/api/recent_sales", get(recent_sales))
        .route("/api/status", get(status))
        .route("/api/overview", get(overview))
        .route("/api/stock_levels", get(stock_levels))
        .route("/api/dead_letters", get(dead_letters))
        .route("/api/health", get(health))
        .route("/api/stream", get(stream))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(asset)
        .with_state(state)
}

async fn sales(State(s): State<AppState>, Query(p): Params) -> Result<Response, ApiError> {
    only(&p, &[])?;
    respond(s.answers.get(Question::SalesHourly).await)
}

async fn stock(State(s): State<AppState>, Query(p): Params) -> Result<Response, ApiError> {
    only(&p, &[])?;
    respond(s.answers.get(Question::StockTop).await)
}

async fn recent_sales(State(s): State<AppState>, Query(p): Params) -> Result<Response, ApiError> {
    only(&p, &[])?;
    respond(s.answers.get(Question::RecentSales).await)
}

/// The original answered `status: "error"` rather than failing; so does this.
async fn status(State(s): State<AppState>, Query(p): Params) -> Result<Response, ApiError> {
    only(&p, &[])?;
    let answer = s.answers.get(Question::Status).await;
    Ok(match &answer.body {
        Ok(_) => respond(answer)?,
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"tables_exist": false, "existing_tables": [], "sales_count": 0,
                "stock_count": 0, "status": "error", "error": e.to_string()}),
            ),
        )
            .into_response(),
    })
}

async fn overview(State(s): State<AppState>, Query(p): Params) -> Result<Response, ApiError> {
    let range = range_of(&p)?;
    respond(s.answers.get(Question::Overview(range)).await)
}

async fn stock_levels(State(s): State<AppState>, Query(p): Params) -> Result<Response, ApiError> {
    only(&p, &["by"])?;
    let by_product = match p.get("by").map(String::as_str) {
        None | Some("warehouse") => false,
        Some("product") => true,
        Some(other) => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("by must be warehouse or product (got {other:?})"),
            ))
        }
    };
    respond(s.answers.get(Question::StockLevels { by_product }).await)
}

async fn dead_letters(State(s): State<AppState>, Query(p): Params) -> Result<Response, ApiError> {
    only(&p, &[])?;
    respond(s.answers.get(Question::LatestDeadLetters).await)
}

async fn health(
    State(s): State<AppState>,
    Query(p): Params,
) -> Result<impl IntoResponse, ApiError> {
    only(&p, &[])?;
    Ok(Json(s.monitor.latest()))
}

async fn healthz(State(s): State<AppState>) -> Response {
    match s.answers.queries().client().ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("clickhouse: {e}\n"),
        )
            .into_response(),
    }
}

/// Everything the page shows, as one JSON document in an SSE frame (`event: snapshot`),
/// made at most once a second per range from the shared answers, newer than `newer_than`
/// (the snapshot this viewer was sent last). Parts read from ClickHouse are `null` when they
/// fail, and `error` says why; `at_ms` is when the oldest part was computed. Returns when
/// the snapshot started, and its frame.
async fn snapshot(s: &AppState, range: Range, newer_than: Option<Instant>) -> (Instant, Bytes) {
    let (started, frame) = s
        .snapshots
        .get_newer(range, newer_than, |_, previous: Option<Frame>| async move {
            let a = &s.answers;
            let after = previous.map(|f| f.newest_part);
            let (status, overview, sales, stock, recent) = tokio::join!(
                a.get_newer(Question::Status, after),
                a.get_newer(Question::Overview(range), after),
                a.get_newer(Question::SalesHourly, after),
                a.get_newer(Question::StockTop, after),
                a.get_newer(Question::RecentSales, after)
            );
            let parts = [
                ("status", status),
                ("overview", overview),
                ("sales", sales),
                ("stock", stock),
                ("recent_sales", recent),
            ];
            let at_ms = parts
                .iter()
                .map(|(_, a)| a.computed_at_ms)
                .min()
                .unwrap_or_else(unix_ms);
            let newest_part = parts
                .iter()
                .map(|(_, a)| a.started)
                .max()
                .unwrap_or_else(Instant::now);
            let error = parts
                .iter()
                .find_map(|(_, a)| a.body.as_ref().err().map(|e| e.to_string()));
            // The parts are JSON already: they are spliced in, not parsed and written again.
            let mut doc = format!(
                "{{\"at\":{},\"at_ms\":{at_ms},\"range\":{}",
                at_ms / 1000,
                json!(range)
            );
            for (name, answer) in &parts {
                let text = answer.body.as_deref().unwrap_or("null");
                doc.push_str(&format!(",\"{name}\":{text}"));
            }
            let health = serde_json::to_string(&s.monitor.latest()).unwrap_or("null".into());
            doc.push_str(&format!(
                ",\"health\":{health},\"error\":{}}}",
                json!(error)
            ));
            // Compact JSON has no line break, so it is one `data:` line.
            Frame {
                bytes: Bytes::from(format!("event: snapshot\ndata: {doc}\n\n")),
                newest_part,
            }
        })
        .await;
    (started, frame.bytes)
}

/// One snapshot at once, then one a second on a fixed beat (a late one delays the beat
/// rather than bunching), each newer than the one before: a viewer whose beat comes before
/// a new snapshot exists waits for it, so every viewer gets each snapshot once.
async fn stream(State(s): State<AppState>, Query(p): Params) -> Result<Response, ApiError> {
    let range = range_of(&p)?;
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let frames = futures::stream::unfold((s, beat, None), move |(s, mut beat, last)| async move {
        beat.tick().await;
        let (started, frame) = snapshot(&s, range, last).await;
        Some((Ok::<_, Infallible>(frame), (s, beat, Some(started))))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(frames),
    )
        .into_response())
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(&s.monitor.latest()),
    )
        .into_response()
}

async fn asset(uri: Uri) -> Response {
    let path = uri.path();
    if path == "/favicon.ico" {
        return StatusCode::NO_CONTENT.into_response();
    }
    match ASSETS
        .iter()
        .find(|a| a.path == path || (a.path == "/" && path == "/index.html"))
    {
        Some(a) => {
            let mut r = a.body.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
                ),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            r
        }
        None => ApiError(StatusCode::NOT_FOUND, format!("no such page: {path}")).into_response(),
    }
}
