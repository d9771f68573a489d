//! The `labelmux` binary against one small hostile HTTP server (issue 15): it echoes the
//! credentials it received (401 and unparsable 200), redirects to another host, sends terminal
//! escapes in ids and error bodies, paginates without end, stalls, trickles, withholds its head,
//! and sends an endless body; and against configurations that could hang. Every run must end
//! within a stated bound (the timeouts are shortened through the environment), with its
//! documented exit code, without a panic, and with no form of the API key and no control
//! character in anything it prints (stderr, stdout, `--output json`).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The canary key: characters that make its raw, URL-encoded and base64 forms all differ.
const KEY: &str = "CANARY+k3y/9f=Q";

/// Terminal escapes (clear screen, set title, bell) and a forged error line, as a hostile
/// server sends them.
const ESCAPES: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\r\nerror: forged line\n";

// ---------------------------------------------------------------------------------------------
// The hostile server
// ---------------------------------------------------------------------------------------------

/// The server: every misbehaviour under its own path prefix (`/<mode>/v2/…`), and "another
/// host" (the same machine under the name `localhost`) that records whatever reaches it.
struct Hostile {
    root: String,
    other_seen: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    fn base(&self, mode: &str, api: &str) -> String {
        format!("{}/{mode}/{api}", self.root)
    }
}

async fn hostile() -> Hostile {
    let other_seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = other.local_addr().unwrap().port();
    let seen = other_seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = other.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                if let Some((head, _)) = read_request(&mut sock).await {
                    seen.lock().unwrap().push(head);
                    let _ = respond(&mut sock, 200, "application/json", "{}").await;
                }
            });
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = format!("http://{}", listener.local_addr().unwrap());
    let elsewhere = format!("http://localhost:{other_port}/collect");
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(misbehave(sock, elsewhere.clone()));
        }
    });
    Hostile { root, other_seen }
}

/// Read one request: its head as text and its body.
async fn read_request(sock: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, body))
}

async fn respond(
    sock: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} Hostile\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.flush().await
}

/// A query parameter of a request target.
fn param(target: &str, name: &str) -> Option<u64> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.parse().ok())?
    })
}

async fn misbehave(mut sock: TcpStream, elsewhere: String) {
    let Some((head, _body)) = read_request(&mut sock).await else {
        return;
    };
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mode = target.split('/').nth(1).unwrap_or("").to_owned();
    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));
    // The whole request head echoed back: request line (Sama's key in the query) and every
    // header (Scale's Basic credential), wrapped in escapes and forged lines.
    let echo = format!("{ESCAPES}{head}{ESCAPES}");
    let _ = match mode.as_str() {
        "echo401" => respond(&mut sock, 401, "text/plain", &echo).await,
        "echo200" => respond(&mut sock, 200, "application/json", &echo).await,
        "redirect" => {
            let answer = format!(
                "HTTP/1.1 302 Found\r\nlocation: {elsewhere}?from=hostile\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            sock.write_all(answer.as_bytes()).await
        }
        "escids" => {
            // One short page of Sama tasks whose id and state carry escapes.
            let evil = format!("t1{ESCAPES}");
            let page = serde_json::json!({"tasks": [
                {"id": evil, "state": format!("new{ESCAPES}"), "data": {"external_id": evil}}
            ]});
            respond(&mut sock, 200, "application/json", &page.to_string()).await
        }
        "endless" => {
            // Seven pages of fresh tasks, then page 7 again and again, whatever is asked.
            let page = param(&target, "page").unwrap_or(1).min(7);
            let size = param(&target, "page_size").unwrap_or(100);
            let tasks: Vec<serde_json::Value> = (0..size)
                .map(|i| serde_json::json!({"id": format!("p{page}-{i}"), "state": "delivered"}))
                .collect();
            let page = serde_json::json!({ "tasks": tasks });
            respond(&mut sock, 200, "application/json", &page.to_string()).await
        }
        "silent" => {
            pause(600_000).await;
            Ok(())
        }
        "slowloris" => {
            for b in b"HTTP/1.1 200 OK\r\nx-padding: "
                .iter()
                .chain([b'a'; 10_000].iter())
            {
                if sock.write_all(&[*b]).await.is_err() {
                    break;
                }
                pause(100).await;
            }
            Ok(())
        }
        "nobody" => {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                .await;
            pause(600_000).await;
            Ok(())
        }
        "trickle" => {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n{\"tasks\": [")
                .await;
            while sock.write_all(b" ").await.is_ok() {
                pause(50).await;
            }
            Ok(())
        }
        "huge" => {
            // A JSON body without end (200 MB and more), never announced.
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = [b"4000\r\n".as_slice(), &[b' '; 0x4000], b"\r\n"].concat();
            while sock.write_all(&chunk).await.is_ok() {}
            Ok(())
        }
        _ => respond(&mut sock, 404, "text/plain", "no such mode").await,
    };
}

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// Short timeouts for the slow modes: each must end within [`BOUND`].
const FAST_TRANSPORT: [(&str, &str); 5] = [
    ("LABELMUX_TRANSPORT_TIMEOUT_SECS", "2"),
    ("LABELMUX_TRANSPORT_READ_IDLE_TIMEOUT", "1s"),
    ("LABELMUX_TRANSPORT_MAX_ATTEMPTS", "5"),
    ("LABELMUX_TRANSPORT_INITIAL_BACKOFF_MS", "10"),
    ("LABELMUX_TRANSPORT_MAX_BACKOFF_MS", "50"),
];

/// Every run ends within this, or the test fails (two 2 s attempts, plus start-up).
const BOUND: Duration = Duration::from_secs(20);

/// Run the binary in `dir` with `args` and the vendor key `key_var` set to [`KEY`], isolated
/// from the developer's environment; kill it and fail if it outlives [`BOUND`].
async fn run(dir: &Path, key_var: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("labelmux"));
    cmd.current_dir(dir)
        .env_remove("LABELMUX_CONFIG")
        .env_remove("LABELMUX_PROVIDER")
        .env_remove("LABELMUX_PROJECT")
        .env_remove("LABELMUX_BASE_URL")
        .env_remove("RUST_LOG")
        .env("LABELMUX_STATE_DIR", dir.join("state"))
        .env(key_var, KEY)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = args.join(" ");
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        // Drain the pipes while waiting, so a chatty child never blocks on a full pipe.
        let mut out_pipe = child.stdout.take().unwrap();
        let mut err_pipe = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut out_pipe, &mut v).ok();
            v
        });
        let err = std::thread::spawn(move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut err_pipe, &mut v).ok();
            v
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > BOUND {
                // Ours to end: the child this test started, by its handle.
                let _ = child.kill();
                let _ = child.wait();
                panic!("`labelmux {what}` still ran after {BOUND:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    })
    .await
    .unwrap()
}

/// Nothing printed holds a form of the key, a control character (but line breaks between
/// lines of stdout), a forged `error:` line, or a panic.
fn assert_clean(what: &str, out: &Output) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = format!("{stdout}\n{stderr}");
    // As a query string carries it (`+`, `/`, `=` percent-encoded).
    let encoded = "CANARY%2Bk3y%2F9f%3DQ".to_owned();
    for form in [
        KEY.to_owned(),
        encoded,
        b64.encode(format!("{KEY}:")),
        b64.encode(format!("{KEY}:"))
            .trim_end_matches('=')
            .to_owned(),
        b64.encode(KEY),
    ] {
        assert!(
            !shown.contains(&form),
            "{what}: the key leaked as {form:?}:\n{shown}"
        );
    }
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        let bad: Vec<char> = text
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert!(
            bad.is_empty(),
            "{what}: control characters {bad:?} on {name}:\n{text:?}"
        );
    }
    assert!(
        !stderr
            .lines()
            .any(|l| l.trim_start().starts_with("error: forged")),
        "{what}: a forged line reached stderr:\n{stderr}"
    );
    assert!(!shown.contains("panicked"), "{what}: panic:\n{shown}");
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn json_doc(what: &str, out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The runs
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn echoed_credentials_redirects_and_escapes_leave_no_key_and_no_escape() {
    let server = hostile().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scale = |mode: &str| server.base(mode, "v1");
    let sama = |mode: &str| server.base(mode, "v2");

    // A 401 that echoes the request (Scale: the Basic credential), human and JSON output.
    for output in ["human", "json"] {
        let base = scale("echo401");
        let out = run(
            d,
            "SCALE_API_KEY",
            &[
                "--provider",
                "scale",
                "--base-url",
                &base,
                "--project",
                "p",
                "--output",
                output,
                "tasks",
                "list",
            ],
            &[],
        )
        .await;
        let what = format!("scale 401 echo ({output})");
        assert_clean(&what, &out);
        assert_eq!(
            code(&out),
            Some(3),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if output == "json" {
            assert_eq!(json_doc(&what, &out)["error"]["status"], 401);
        }
    }
    // An unparsable 200 that echoes the request.
    let base = scale("echo200");
    let out = run(
        d,
        "SCALE_API_KEY",
        &[
            "--provider",
            "scale",
            "--base-url",
            &base,
            "--project",
            "p",
            "--output",
            "json",
            "tasks",
            "list",
        ],
        &[],
    )
    .await;
    assert_clean("scale 200 echo", &out);
    assert_eq!(code(&out), Some(7));
    assert_eq!(json_doc("scale 200 echo", &out)["error"]["kind"], "decode");
    // The same against Sama, whose key travels in the query string.
    let base = sama("echo401");
    let out = run(
        d,
        "SAMA_API_KEY",
        &[
            "--provider",
            "sama",
            "--base-url",
            &base,
            "--project",
            "1",
            "--output",
            "json",
            "tasks",
            "get",
            "--task",
            "t",
        ],
        &[],
    )
    .await;
    assert_clean("sama 401 echo", &out);
    assert_eq!(code(&out), Some(3));
    // A redirect to another host: nothing reaches it, nothing leaks.
    let base = sama("redirect");
    let out = run(
        d,
        "SAMA_API_KEY",
        &[
            "--provider",
            "sama",
            "--base-url",
            &base,
            "--project",
            "1",
            "tasks",
            "list",
        ],
        &[],
    )
    .await;
    assert_clean("sama redirect", &out);
    assert_ne!(code(&out), Some(0), "a redirect away is not a success");
    assert!(
        server.other_seen.lock().unwrap().is_empty(),
        "the other host was reached: {:?}",
        server.other_seen.lock().unwrap()
    );
    // Ids and states full of escapes reach the table, not the terminal.
    for args in [
        &["tasks", "list"][..],
        &["tasks", "get", "--task", "t1"][..],
    ] {
        let base = sama("escids");
        let mut all = vec!["--provider", "sama", "--base-url", &base, "--project", "1"];
        all.extend_from_slice(args);
        let out = run(d, "SAMA_API_KEY", &all, &[]).await;
        assert_clean(&format!("escape ids: {args:?}"), &out);
        assert_eq!(
            code(&out),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("t1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endless_pagination_ends_and_the_table_streams() {
    let server = hostile().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = server.base("endless", "v2");
    let out = run(
        d,
        "SAMA_API_KEY",
        &[
            "--provider",
            "sama",
            "--base-url",
            &base,
            "--project",
            "1",
            "tasks",
            "list",
        ],
        &[],
    )
    .await;
    assert_clean("endless tasks list", &out);
    assert_eq!(code(&out), Some(7));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stopped making progress"), "{stderr}");
    // The 700 tasks before the repeated page were printed: a table of 500 as soon as they
    // came, then the last 200 before the error.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows = stdout
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|id| id.starts_with('p') && id.contains('-'))
        })
        .count();
    assert_eq!(rows, 700, "{stdout}");
    assert_eq!(
        stdout.matches("external key").count(),
        2,
        "two tables:\n{stdout}"
    );

    // A pull into a file ends too; the file holds at most what came before the repetition.
    let file = d.join("out.jsonl");
    let out = run(
        d,
        "SAMA_API_KEY",
        &[
            "--provider",
            "sama",
            "--base-url",
            &base,
            "--project",
            "1",
            "deliveries",
            "pull",
            "--all",
            "--out",
            file.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_clean("endless pull", &out);
    assert_eq!(
        code(&out),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = std::fs::read_to_string(&file)
        .unwrap_or_default()
        .lines()
        .count();
    assert!(lines <= 7000, "{lines} lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_servers_and_endless_bodies_end_within_the_bound() {
    let server = hostile().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = FAST_TRANSPORT.to_vec();
    env.push(("LABELMUX_TRANSPORT_MAX_RESPONSE_BYTES", "1048576"));
    let runs = ["silent", "slowloris", "nobody", "trickle", "huge"].map(|mode| {
        let base = server.base(mode, "v2");
        let d = dir.path().to_path_buf();
        let env = env.clone();
        async move {
            let started = Instant::now();
            let out = run(
                &d,
                "SAMA_API_KEY",
                &[
                    "--provider",
                    "sama",
                    "--base-url",
                    &base,
                    "--project",
                    "1",
                    "--output",
                    "json",
                    "tasks",
                    "list",
                ],
                &env,
            )
            .await;
            (mode, out, started.elapsed())
        }
    });
    for (mode, out, took) in futures::future::join_all(runs).await {
        assert_clean(mode, &out);
        assert_eq!(
            code(&out),
            Some(7),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = json_doc(mode, &out);
        let message = doc["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (kind, names) = match mode {
            "huge" => ("decode", "max_response_bytes"),
            "nobody" | "trickle" => ("timeout", "read_idle_timeout"),
            _ => ("timeout", ""),
        };
        assert_eq!(doc["error"]["kind"], kind, "{mode}: {message}");
        assert!(message.contains(names), "{mode}: {message}");
        eprintln!("{mode}: ended in {took:?} (bound {BOUND:?})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configurations_that_could_hang_or_leak_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    /// What the message must say, the arguments, the environment.
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: [Case; 6] = [
        (
            "max_attempts",
            vec!["--base-url", "http://127.0.0.1:9/v2"],
            vec![("LABELMUX_TRANSPORT_MAX_ATTEMPTS", "4294967295")],
        ),
        (
            "concurrency",
            vec!["--base-url", "http://127.0.0.1:9/v2"],
            vec![("LABELMUX_TRANSPORT_CONCURRENCY", "100000000")],
        ),
        (
            "rate_limit_per_second",
            vec!["--base-url", "http://127.0.0.1:9/v2"],
            vec![("LABELMUX_TRANSPORT_RATE_LIMIT_PER_SECOND", "4294967295")],
        ),
        (
            "ftp",
            vec!["--base-url", "ftp://user:CANARY+k3y/9f=Q@files.example/v2"],
            vec![],
        ),
        (
            "not a URL",
            vec!["--base-url", "https://user:CANARY+k3y/9f=Q@[bad/v2"],
            vec![],
        ),
        (
            "not a URL",
            vec!["--base-url", "http//api:CANARY+k3y/9f=Q@api.sama.com/v2"],
            vec![],
        ),
    ];
    for (says, args, env) in cases {
        for output in ["human", "json"] {
            let mut all = vec!["--provider", "sama", "--project", "1", "--output", output];
            all.extend(args.iter().copied());
            all.extend(["tasks", "list"]);
            let started = Instant::now();
            let out = run(d, "SAMA_API_KEY", &all, &env).await;
            let what = format!("{says} ({output})");
            assert_clean(&what, &out);
            assert_eq!(
                code(&out),
                Some(2),
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let shown = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(shown.contains(says), "{what}: {shown}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{what}: refused at once"
            );
        }
    }
    // Numeric flags too: a value `Duration` cannot hold is refused, not a panic.
    for flag in ["--interval", "--timeout"] {
        let out = run(
            d,
            "SAMA_API_KEY",
            &[
                "--provider",
                "sama",
                "--base-url",
                "http://127.0.0.1:9/v2",
                "--project",
                "1",
                "batches",
                "status",
                "--batch",
                "b",
                "--wait",
                flag,
                "1e300",
            ],
            &[],
        )
        .await;
        assert_clean(flag, &out);
        assert_eq!(
            code(&out),
            Some(2),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // `config show` and follow-up hints never print credentials of a base URL either.
    let out = run(
        d,
        "SAMA_API_KEY",
        &[
            "--provider",
            "sama",
            "--base-url",
            "http://user:CANARY%2Bk3y%2F9f%3DQ@127.0.0.1:9/v2",
            "config",
            "show",
        ],
        &[],
    )
    .await;
    assert_clean("config show", &out);
    assert_eq!(
        code(&out),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("REDACTED"));
}
