//! `pipeline serve --auth-token` and `PIPELINE_AUTH_TOKEN`, through the real binary: with
//! the right token (the `Authorization` header, or the cookie `?token=` sets) the page, the
//! API, `/metrics` and the stream answer; with a wrong token or none they answer 401; and
//! `/healthz` stays open. The flag wins over the variable.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, pipeline_ok};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use testkit::TestEnv;

/// What each guarded path answers with the right token: a page, JSON, text or a stream.
const PATHS: [(&str, &str); 7] = [
    ("/", "text/html"),
    ("/app.js", "text/javascript"),
    ("/api/status", "application/json"),
    ("/api/overview?range=1h", "application/json"),
    ("/api/health", "application/json"),
    ("/metrics", "text/plain"),
    ("/api/stream?range=1h", "text/event-stream"),
];

/// `pipeline serve` with the token given by flag, by environment, both or neither; killed
/// when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(env: &TestEnv, flag: Option<&str>, var: Option<&str>) -> Served {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    cmd.args(env.pipeline_args())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("PIPELINE_AUTH_TOKEN")
        .env("PIPELINE_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(t) = flag {
        cmd.args(["--auth-token", t]);
    }
    if let Some(t) = var {
        cmd.env("PIPELINE_AUTH_TOKEN", t);
    }
    let mut served = Served {
        child: cmd.spawn().expect("the pipeline binary starts"),
        base: format!("http://127.0.0.1:{port}"),
    };
    // /healthz needs no token: it says when the server is up.
    let start = Instant::now();
    loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            panic!("pipeline serve exited before answering: {status}");
        }
        let up = reqwest::get(format!("{}/healthz", served.base)).await;
        if up.is_ok_and(|r| r.status() == 200) {
            return served;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "pipeline serve did not answer on {} within 20 s",
            served.base
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `path` with `token=...` added to its query.
fn with_token(path: &str, token: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}token={token}")
}

/// The server lets in `right` only, by header, by `?token=` (then by its cookie), and
/// refuses each of `wrong` and no token at all; `/healthz` answers everyone.
async fn only_the_token_opens(served: &Served, right: &str, wrong: &[&str], what: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = |path: &str| format!("{}{path}", served.base);
    for (path, content_type) in PATHS {
        // None: 401, saying how to present one.
        let r = http.get(url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{what}: {path} without a token");
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer", "{what}: {path}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("an access token is required"),
            "{what}: {path}: {body}"
        );
        // Wrong ones, by header and in the address.
        for w in wrong {
            let r = http.get(url(path)).bearer_auth(w).send().await.unwrap();
            assert_eq!(r.status(), 401, "{what}: {path} with Bearer {w:?}");
            let r = http.get(url(&with_token(path, w))).send().await.unwrap();
            assert_eq!(r.status(), 401, "{what}: {path} with ?token={w}");
            let r = http
                .get(url(path))
                .header(COOKIE, format!("pipeline_token={w}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{what}: {path} with the cookie {w:?}");
        }
        // The right one by header: the real answer.
        let mut r = http.get(url(path)).bearer_auth(right).send().await.unwrap();
        assert_eq!(r.status(), 200, "{what}: {path} with the token");
        let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
        assert!(ct.starts_with(content_type), "{what}: {path}: {ct}");
        if content_type == "text/event-stream" {
            // The stream's first event is a snapshot.
            let chunk = tokio::time::timeout(Duration::from_secs(15), r.chunk())
                .await
                .expect("a snapshot within 15 s")
                .unwrap()
                .expect("the stream is open");
            let text = String::from_utf8_lossy(&chunk);
            assert!(text.starts_with("event: snapshot"), "{what}: {text}");
        } else if content_type == "application/json" {
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(v.get("error").is_none(), "{what}: {path}: {v}");
        }
        // The right one in the address: a redirect to the address without it, setting
        // the cookie, which then opens the path.
        let r = http
            .get(url(&with_token(path, right)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{what}: {path}?token=");
        assert_eq!(
            r.headers()[LOCATION],
            path,
            "{what}: the token leaves the address"
        );
        let cookie = r.headers()[SET_COOKIE].to_str().unwrap();
        assert!(
            cookie.starts_with(&format!("pipeline_token={right};"))
                && cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Strict"),
            "{what}: {cookie}"
        );
        let pair = cookie.split(';').next().unwrap().to_string();
        let r = http
            .get(url(path))
            .header(COOKIE, pair)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{what}: {path} with the cookie");
    }
    // /healthz: open to all, token or not.
    for token in [None, Some(right)]
        .into_iter()
        .chain(wrong.iter().map(|w| Some(*w)))
    {
        let mut req = http.get(url("/healthz"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{what}: /healthz with {token:?}");
        assert_eq!(r.text().await.unwrap(), "ok\n");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_guards_the_real_server_from_flag_or_environment() {
    let env = TestEnv::new("serve_auth").await;
    pipeline_ok(&env, &["schema", "apply"]);

    let served = serve(&env, Some("fl4g-t0ken"), None).await;
    only_the_token_opens(
        &served,
        "fl4g-t0ken",
        &["wrong", "fl4g-t0ke"],
        "--auth-token",
    )
    .await;
    drop(served);

    let served = serve(&env, None, Some("env-t0ken")).await;
    only_the_token_opens(&served, "env-t0ken", &["wrong"], "PIPELINE_AUTH_TOKEN").await;
    drop(served);

    // Both: the flag's token, not the variable's.
    let served = serve(&env, Some("fl4g-t0ken"), Some("env-t0ken")).await;
    only_the_token_opens(&served, "fl4g-t0ken", &["env-t0ken"], "flag and variable").await;
    drop(served);

    env.drop_database().await;
}
