//! `--auth-token`: without it nothing but /healthz answers; with it (header, or the cookie
//! set by `?token=`) everything does.

use std::net::{SocketAddr, TcpListener};

use serve::{FollowedTopic, ServeConfig};
use testkit::TestEnv;

#[tokio::test(flavor = "multi_thread")]
async fn the_token_guards_page_and_api() {
    let env = TestEnv::new("auth").await;
    let addr: SocketAddr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = ServeConfig {
        listen: addr,
        database: env.database.clone(),
        query_database: env.database.clone(),
        topics: vec![FollowedTopic {
            topic: env.sales_topic.clone(),
            table: "sales".into(),
            group: "g".into(),
        }],
        kafka: env.kafka.clone(),
        auth_token: Some("s3cr3t".into()),
        guards: None,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(serve::serve(
        config,
        env.clickhouse.clone(),
        None,
        stop.clone(),
    ));
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut up = false;
    for _ in 0..50 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "the server started");
    let status = |r: reqwest::Response| r.status().as_u16();

    for path in [
        "/",
        "/app.js",
        "/api/status",
        "/api/health",
        "/metrics",
        "/api/stream",
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(status(r), 401, "{path} without a token");
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(status(r), 401, "{path} with a wrong token");
    }
    let r = http
        .get(format!("{base}/api/health"))
        .bearer_auth("s3cr3t")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(status(r), 200, "/healthz stays open");

    let r = http
        .get(format!("{base}/?token=s3cr3t&lang=en"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"],
        "/?lang=en",
        "the token leaves the address bar"
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let r = http
        .get(format!("{base}/"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200, "the cookie opens the page");

    stop.cancel();
    server.await.unwrap().unwrap();
}
