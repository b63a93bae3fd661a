//! The bad input catalogue: hostile requests against the real server, each answered with its
//! documented 4xx as `application/problem+json`, and nothing stored — after every case the event
//! count, the catalog list and the probe user are checked unchanged.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use std::io::{Read, Write};

use crate::reliability_common::{Node, reply};

/// Largest body the server under test accepts (so that a 10 MB body is over it).
const MAX_BODY: usize = 4_000_000;

/// One hostile request and the statuses its documented answer may have.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    /// Send over a raw connection (an oversized body): `Some(true)` chunked without a content
    /// length, `Some(false)` with one.
    raw: Option<bool>,
    expect: &'static [u16],
}

fn case(
    name: &'static str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    expect: &'static [u16],
) -> Case {
    Case { name, method, path: path.to_string(), body, raw: None, expect }
}

fn events(body: &str) -> Option<Vec<u8>> {
    Some(body.as_bytes().to_vec())
}

/// Every event of the hostile batches is by this user: it must never appear.
const PROBE: &str = "probe";

fn catalogue() -> Vec<Case> {
    use Method as M;
    let ev = "/v1/catalogs/music/events";
    let rec = "/v1/catalogs/music/recommend";
    let deep = |depth: usize| {
        format!(
            r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1","weight":{}1{}}}]}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    let long_id = "x".repeat(100_000);
    let ten_mb = format!(
        r#"{{"events":[{{"user_id":"{PROBE}","item_id":"{}"}}]}}"#,
        "y".repeat(10 * 1024 * 1024)
    );
    let mut invalid_utf8 =
        format!(r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i"#).into_bytes();
    invalid_utf8.extend_from_slice(b"\xff\xfe\"}]}");
    let mut cases = vec![
        case("invalid UTF-8 in a body string", M::POST, ev, Some(invalid_utf8), &[400]),
        case(
            "invalid UTF-8 in a path id",
            M::GET,
            "/v1/catalogs/music/users/%FF%FE",
            None,
            &[400, 404],
        ),
        case("JSON nested 100,000 deep", M::POST, ev, events(&deep(100_000)), &[400]),
        case("JSON nested 200 deep", M::POST, ev, events(&deep(200)), &[400]),
        case(
            "deep nesting in an unknown field",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[],"x":{}{}}}"#,
                "{\"a\":".repeat(50_000),
                "}".repeat(50_000)
            )),
            &[400],
        ),
        case(
            "weight 1e400 (not an f64)",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1","weight":1e400}}]}}"#
            )),
            &[400],
        ),
        case(
            "weight 1e300 (not an f32)",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1","weight":1e300}}]}}"#
            )),
            &[400],
        ),
        case(
            "timestamp beyond i64",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1","timestamp":99999999999999999999999999}}]}}"#
            )),
            &[400],
        ),
        case(
            "n beyond u64",
            M::POST,
            rec,
            events(r#"{"user_id":"u1","n":18446744073709551616}"#),
            &[400],
        ),
        case("n zero", M::POST, rec, events(r#"{"user_id":"u1","n":0}"#), &[400]),
        case(
            "negative weight after a valid event",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1"}},{{"user_id":"{PROBE}","item_id":"i2","weight":-1}}]}}"#
            )),
            &[400],
        ),
        case(
            "negative weight in a history",
            M::POST,
            rec,
            events(r#"{"history":[{"item_id":"i1","weight":-0.5}]}"#),
            &[400],
        ),
        case(
            "NaN weight literal",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1","weight":NaN}}]}}"#
            )),
            &[400],
        ),
        case(
            "NaN weight as a string",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1","weight":"NaN"}}]}}"#
            )),
            &[400],
        ),
        case(
            "Infinity weight literal",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1","weight":Infinity}}]}}"#
            )),
            &[400],
        ),
        Case { raw: Some(false), ..case("10 MB body", M::POST, ev, events(&ten_mb), &[413]) },
        Case {
            raw: Some(true),
            ..case("10 MB chunked body", M::POST, ev, events(&ten_mb), &[413])
        },
        case(
            "user id of 100 KB",
            M::POST,
            ev,
            events(&format!(r#"{{"events":[{{"user_id":"{long_id}","item_id":"i1"}}]}}"#)),
            &[400],
        ),
        case(
            "item id of 100 KB",
            M::POST,
            ev,
            events(&format!(r#"{{"events":[{{"user_id":"{PROBE}","item_id":"{long_id}"}}]}}"#)),
            &[400],
        ),
        case(
            "recommend for a user id of 100 KB",
            M::POST,
            rec,
            events(&format!(r#"{{"user_id":"{long_id}"}}"#)),
            &[400],
        ),
        case(
            "unknown field in an event",
            M::POST,
            ev,
            events(&format!(r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1","rating":5}}]}}"#)),
            &[400],
        ),
        case(
            "unknown top-level field",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1"}}],"dry_run":true}}"#
            )),
            &[400],
        ),
        case(
            "duplicate event in a batch",
            M::POST,
            ev,
            events(&format!(
                r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i1","timestamp":1700000000}},{{"user_id":"{PROBE}","item_id":"i1","timestamp":1700000000}}]}}"#
            )),
            &[400],
        ),
        case(
            "control character in an id",
            M::POST,
            ev,
            events(&format!(r#"{{"events":[{{"user_id":"{PROBE}","item_id":"i\u0000"}}]}}"#)),
            &[400],
        ),
        case("a JSON array instead of an object", M::POST, ev, events("[]"), &[400]),
        case("empty body", M::POST, ev, events(""), &[400]),
        case(
            "SQL in a catalog name",
            M::POST,
            "/v1/catalogs",
            events(r#"{"name":"'; DROP TABLE events; --"}"#),
            &[400],
        ),
        case(
            "SQL in a catalog path",
            M::GET,
            "/v1/catalogs/'%3B%20DROP%20TABLE%20events%3B%20--",
            None,
            &[400, 404],
        ),
        case(
            "SQL in a user path",
            M::GET,
            "/v1/catalogs/music/users/'%3B%20DROP%20TABLE%20events%3B%20--",
            None,
            &[404],
        ),
        case(
            "SQL in a user id",
            M::GET,
            "/v1/catalogs/music/users/x'%20OR%20'1'%3D'1",
            None,
            &[404],
        ),
        case(
            "SQL in a model version",
            M::POST,
            "/v1/catalogs/music/models/v1%3B%20DELETE%20FROM%20models/activate",
            events("{}"),
            &[400],
        ),
        case(
            "path traversal in a catalog name",
            M::POST,
            "/v1/catalogs",
            events(r#"{"name":"../../etc/passwd"}"#),
            &[400],
        ),
        case(
            "percent-encoded traversal as a catalog",
            M::GET,
            "/v1/catalogs/..%2F..%2Fetc%2Fpasswd",
            None,
            &[400, 404],
        ),
        case(
            "percent-encoded dots as a catalog",
            M::DELETE,
            "/v1/catalogs/%2E%2E",
            None,
            &[400, 404],
        ),
        case(
            "traversal as an item id",
            M::GET,
            "/v1/catalogs/music/items/..%2F..%2Fetc%2Fpasswd",
            None,
            &[404],
        ),
        case(
            "traversal as similar items",
            M::GET,
            "/v1/catalogs/music/items/..%2F..%2Fetc%2Fpasswd/similar",
            None,
            &[404, 422],
        ),
        case(
            "traversal as a model version",
            M::POST,
            "/v1/catalogs/music/models/..%2F..%2Fetc%2Fpasswd/activate",
            events("{}"),
            &[400],
        ),
        case(
            "traversal after a version",
            M::POST,
            "/v1/catalogs/music/models/v1%2F..%2F..%2Fencore.db/activate",
            events("{}"),
            &[400],
        ),
        case("job id beyond u64", M::GET, "/v1/jobs/99999999999999999999999", None, &[400, 404]),
        case(
            "training with an unknown model",
            M::POST,
            "/v1/catalogs/music/models",
            events(r#"{"model":"../../bin/sh"}"#),
            &[400],
        ),
        case(
            "training with negative factors",
            M::POST,
            "/v1/catalogs/music/models",
            events(r#"{"model":"ials","params":{"factors":-1}}"#),
            &[400],
        ),
        case(
            "upsert of an item with a 100 KB id",
            M::POST,
            "/v1/catalogs/music/items",
            events(&format!(r#"{{"items":[{{"item_id":"{long_id}"}}]}}"#)),
            &[400],
        ),
    ];
    // Item metadata must not be stored either.
    cases.push(case(
        "item batch with one bad row",
        M::POST,
        "/v1/catalogs/music/items",
        events(r#"{"items":[{"item_id":"probe-item","title":"ok"},{"item_id":""}]}"#),
        &[400],
    ));
    cases
}

#[test]
fn hostile_requests_get_their_documented_4xx_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let max_body = MAX_BODY.to_string();
    let node = Node::first_start(&dir.path().join("data"), &["--max-body-bytes", &max_body]);
    node.seed("music");
    // An active model, so that recommendation and similar-item requests reach their validation
    // instead of stopping at `503 no_active_model`.
    node.train("music", "ials", json!({"factors": 8, "iterations": 2}), "always");
    let events_before = node.event_count("music");
    let catalogs_before = node.get("/v1/catalogs").body;
    let client =
        reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();

    let mut table = Vec::new();
    for case in catalogue() {
        if let Some(chunked) = case.raw {
            // The server answers 413 as soon as the limit is crossed and closes the connection
            // while the client may still be sending, so the client can see a reset instead of
            // the answer: both are a refusal. What counts is below: nothing stored.
            let body = case.body.as_deref().unwrap_or_default();
            let status = send_raw(&node, &case.path, body, chunked);
            assert!(
                status.is_none_or(|s| case.expect.contains(&s)),
                "{}: got {status:?}",
                case.name
            );
            assert_nothing_stored(&node, case.name, events_before, &catalogs_before);
            table.push(format!(
                "{:>3} {}",
                status.map_or("rst".into(), |s| s.to_string()),
                case.name
            ));
            continue;
        }
        let mut request = node.authed(client.request(case.method.clone(), node.url(&case.path)));
        if let Some(body) = case.body {
            request = request.header("content-type", "application/json").body(body);
        }
        let answer = match request.send() {
            Ok(response) => reply(response),
            Err(e) => panic!("{}: no answer: {e}", case.name),
        };
        assert!(
            case.expect.contains(&answer.status),
            "{}: got {} (expected {:?}): {}",
            case.name,
            answer.status,
            case.expect,
            answer.body
        );
        for field in ["type", "title", "status", "detail"] {
            assert!(
                !answer.body[field].is_null(),
                "{}: problem without `{field}`: {}",
                case.name,
                answer.body
            );
        }
        assert_nothing_stored(&node, case.name, events_before, &catalogs_before);
        table.push(format!("{:>3} {}", answer.status, case.name));
    }
    println!("bad input catalogue ({} cases):\n  {}", table.len(), table.join("\n  "));

    // SQL-looking and traversal-looking ids are data, not code or paths: stored verbatim, read back
    // verbatim, erased, and the tables are intact afterwards.
    for id in ["'; DROP TABLE events; --", "../../etc/passwd", "x' OR '1'='1"] {
        let r = node
            .post("/v1/catalogs/music/events", json!({"events": [{"user_id": id, "item_id": id}]}));
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        let path = format!("/v1/catalogs/music/users/{}", percent_encode(id));
        let user = node.get(&path);
        assert_eq!(user.status, 200, "{id}: {}", user.body);
        assert_eq!(user.body["user_id"], id);
        assert_eq!(user.body["events"][0]["item_id"], id);
        assert_eq!(node.delete(&path).status, 200, "{id}");
    }
    assert_eq!(node.event_count("music"), events_before);
    assert_eq!(node.get("/v1/catalogs/music/users/u1").status, 200);
    assert!(node.child.id() > 0 && node.get("/healthz").status == 200, "the server survived");
}

/// Percent-encodes every byte that is not unreserved (RFC 3986), for a path segment.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Checks that a refused request left no trace: same event count, same catalogs, no probe user
/// and no probe item.
fn assert_nothing_stored(node: &Node, name: &str, events_before: u64, catalogs_before: &Value) {
    assert_eq!(node.event_count("music"), events_before, "{name}: events were stored");
    let user = node.get(&format!("/v1/catalogs/music/users/{PROBE}"));
    assert_eq!(user.status, 404, "{name}: {}", user.body);
    assert_eq!(node.get("/v1/catalogs/music/items/probe-item").status, 404, "{name}");
    assert_eq!(&node.get("/v1/catalogs").body, catalogs_before, "{name}: catalogs changed");
}

/// POSTs `body` over a raw connection, with `Transfer-Encoding: chunked` (no length to refuse up
/// front) or a `Content-Length`; returns the status the server answered, or `None` when it reset the connection
/// before the answer could be read.
fn send_raw(node: &Node, path: &str, body: &[u8], chunked: bool) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(node.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth =
        node.key.as_ref().map(|k| format!("authorization: Bearer {k}\r\n")).unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n{auth}\
         {}\r\nconnection: close\r\n\r\n",
        node.addr,
        if chunked {
            "transfer-encoding: chunked".to_string()
        } else {
            format!("content-length: {}", body.len())
        }
    );
    let mut sent = stream.write_all(head.as_bytes());
    for chunk in body.chunks(64 * 1024) {
        if sent.is_err() {
            break;
        }
        sent = if chunked {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| stream.write_all(chunk))
                .and_then(|()| stream.write_all(b"\r\n"))
        } else {
            stream.write_all(chunk)
        };
    }
    if chunked && sent.is_ok() {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    assert!(
        text.to_ascii_lowercase().contains("content-type: application/problem+json"),
        "refusal of an oversized body is not problem+json: {text}"
    );
    Some(status)
}
