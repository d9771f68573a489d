//! Drives the emulator with plain HTTP (reqwest), as a vendor client would.

use labelmux_emulator::{start, EmulatorConfig, FaultConfig, Lifecycle, RunningEmulator, Vendor};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const P: &str = "1001";

struct Sama {
    emu: RunningEmulator,
    http: reqwest::Client,
}

impl Sama {
    async fn start() -> Self {
        Self::with(EmulatorConfig::new(Vendor::Sama)).await
    }

    async fn with(config: EmulatorConfig) -> Self {
        let emu = start(config).await.expect("emulator starts");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Sama { emu, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/projects/{P}{path}", self.emu.base_url())
    }

    fn key(&self) -> (&'static str, String) {
        ("access_key", self.emu.api_key())
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .query(&[self.key()])
            .query(query)
            .send()
            .await
            .unwrap();
        decode(r).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, self.url(path))
            .query(&[self.key()])
            .header("content-type", "application/json");
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        decode(rb.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// The 3-step flow; returns the batch id once creation finished.
    async fn create(&self, records: &[Value]) -> u64 {
        let (s, open) = self
            .post(
                "/batches.json",
                Some(json!({"notification_email": null, "tasks_file_name": "test"})),
            )
            .await;
        assert_eq!(s, 200, "{open}");
        let put_url = open["tasks_put_url"].as_str().unwrap();
        let r = self
            .http
            .put(put_url)
            .header("content-type", "application/json")
            .body(Value::from(records.to_vec()).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.bytes().await.unwrap().is_empty());
        let bid = open["batch_id"].as_u64().unwrap();
        let (s, cont) = self
            .post(&format!("/batches/{bid}/continue.json"), None)
            .await;
        assert_eq!(s, 200, "{cont}");
        assert_eq!(cont, json!({"batch_id": bid}));
        self.wait_batch(bid).await;
        bid
    }

    async fn wait_batch(&self, bid: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (s, v) = self
                .get(&format!("/batches/{bid}.json"), &[("page_size", "0")])
                .await;
            assert_eq!(s, 200, "{v}");
            if v["status"] != "processing" {
                return v;
            }
            assert!(Instant::now() < deadline, "batch {bid} never finished");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn tasks(&self, query: &[(&str, &str)]) -> Vec<Value> {
        let (s, v) = self.get("/tasks.json", query).await;
        assert_eq!(s, 200, "{v}");
        v["tasks"].as_array().unwrap().clone()
    }

    async fn delivered(&self, query: &[(&str, &str)]) -> Vec<Value> {
        let (s, v) = self.get("/tasks/delivered.json", query).await;
        assert_eq!(s, 200, "{v}");
        v["tasks"].as_array().unwrap().clone()
    }

    async fn since(&self, consumer: Value, page: &str) -> Vec<Value> {
        let r = self
            .http
            .post(self.url("/tasks/delivered.json"))
            .query(&[self.key()])
            .query(&[("page", page), ("page_size", "1000")])
            .json(&json!({"batch_id": null, "client_batch_id": null,
                          "client_batch_id_match_type": null, "consumer": consumer, "limit": 1000}))
            .send()
            .await
            .unwrap();
        let (s, v) = decode(r).await;
        assert_eq!(s, 200, "{v}");
        v["tasks"].as_array().unwrap().clone()
    }
}

async fn decode(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (s, v)
}

fn rec(i: usize) -> Value {
    json!({"data": {"url": format!("https://img.example/{i}.jpg"), "name": format!("img_{i}")},
           "priority": 0, "submit": false})
}

fn ids(tasks: &[Value]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

fn is_ms_utc(ts: &Value) -> bool {
    let s = ts.as_str().unwrap_or("");
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn auth_errors_carry_the_documented_body() {
    let sama = Sama::start().await;
    let url = sama.url(".json");
    for q in [vec![], vec![("access_key", "wrong")]] {
        let r = sama.http.get(&url).query(&q).send().await.unwrap();
        let (s, v) = decode(r).await;
        assert_eq!(s, 401);
        assert_eq!(
            v,
            json!({"errors": [{"type": 401, "message": "Not authorized."}]})
        );
    }
    let (s, v) = sama.get(".json", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], 1001);
}

#[tokio::test]
async fn unknown_resources_are_404_and_wrong_methods_405() {
    let sama = Sama::start().await;
    let base = sama.emu.base_url();
    let key = sama.emu.api_key();
    for path in [
        "/projects/999.json".to_owned(),
        "/projects/999/tasks.json".to_owned(),
        format!("/projects/{P}/tasks/0123456789abcdef01234567.json"),
        format!("/projects/{P}/batches/77.json"),
        format!("/projects/{P}/nothing.json"),
    ] {
        let r = sama
            .http
            .get(format!("{base}{path}"))
            .query(&[("access_key", &key)])
            .send()
            .await
            .unwrap();
        let (s, v) = decode(r).await;
        assert_eq!(s, 404, "{path}");
        assert_eq!(v["errors"][0]["type"], 404, "{path}: {v}");
    }
    let (s, v) = sama.get("/batches.json", &[]).await;
    assert_eq!(s, 405);
    assert_eq!(v["errors"][0]["type"], 405);
    let r = sama
        .http
        .delete(sama.url("/tasks.json"))
        .query(&[sama.key()])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "GET");
    // reject is PUT only
    let (s, _) = sama
        .post("/tasks/0123456789abcdef01234567/reject.json", None)
        .await;
    assert_eq!(s, 405);
}

#[tokio::test]
async fn three_step_creation_reports_failed_records_with_data_and_errors() {
    let sama = Sama::start().await;
    let records = vec![
        rec(0),
        json!({"data": {"url": "u1", "client_batch_id": "speed_racer", "output_label": "dog"}}),
        json!({"data": {"url": "u2", "colour": "red"}}),
        json!({"data": {"url": "u3", "output_mask": {"layers": {}}}}),
        json!({"data": {"name": "no url"}}),
        json!({"data": {"url": "u5", "priority_hint": "high"}}),
        json!({"data": {"url": "u6", "name": null, "client_batch_id": "other_racer"}, "priority": -5}),
        json!({"data": {"url": "u7"}, "submit": true}),
    ];
    let (s, open) = sama
        .post(
            "/batches.json",
            Some(json!({"notification_email": null, "tasks_file_name": "t"})),
        )
        .await;
    assert_eq!(s, 200);
    let bid = open["batch_id"]
        .as_u64()
        .expect("batch_id is a JSON number");
    let put_url = open["tasks_put_url"].as_str().unwrap();
    assert!(put_url.starts_with(&sama.emu.root_url()), "{put_url}");
    assert!(!put_url.contains("access_key"));
    // continue before any upload: 400
    let (s, v) = sama
        .post(&format!("/batches/{bid}/continue.json"), None)
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = sama.get(&format!("/batches/{bid}.json"), &[]).await;
    assert_eq!(
        (s, v["status"].clone(), v["tasks"].clone()),
        (200, json!("waiting"), json!([]))
    );
    let r = sama.http.put(put_url).json(&records).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.unwrap().is_empty());
    let (s, v) = sama
        .post(&format!("/batches/{bid}/continue.json"), None)
        .await;
    assert_eq!((s, v.clone()), (200, json!({"batch_id": bid})));
    // a repeated continue is harmless and answers the same
    let (s, v2) = sama
        .post(&format!("/batches/{bid}/continue.json"), None)
        .await;
    assert_eq!((s, v2), (200, v));
    let (s, v) = sama.post("/batches/9999/continue.json", None).await;
    assert_eq!(s, 404, "{v}");

    sama.wait_batch(bid).await;
    let (_, st) = sama
        .get(
            &format!("/batches/{bid}.json"),
            &[("batch_id", &bid.to_string())],
        )
        .await;
    assert_eq!(st["status"], "completed");
    assert_eq!(st["tasks_created"], 4);
    assert_eq!(st["batch_id"], bid);
    assert!(st["messages"].is_array());
    let entries = st["tasks"].as_array().unwrap();
    assert_eq!(entries.len(), 8);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["index"], i);
    }
    let failed: Vec<&Value> = entries.iter().filter(|e| e["status"] == "failed").collect();
    assert_eq!(failed.len(), 4);
    for f in &failed {
        assert!(f["data"].is_object(), "{f}");
        assert_eq!(f["errors"][0]["type"], "InvalidInputSchema");
        assert!(f.get("id").is_none());
    }
    assert_eq!(entries[2]["data"], records[2]["data"]);
    assert!(entries[3]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Invalid seeded output name(s): mask"));
    assert!(entries
        .iter()
        .filter(|e| e["status"] == "created")
        .all(|e| e["id"].as_str().unwrap().len() == 24));
    // omit_failed_task_data drops the data, keeps the errors
    let (_, st) = sama
        .get(
            &format!("/batches/{bid}.json"),
            &[("omit_failed_task_data", "TRUE")],
        )
        .await;
    let f = &st["tasks"][2];
    assert!(f.get("data").is_none() && f["errors"].is_array(), "{f}");
    // page_size=0 omits the array
    let (_, st) = sama
        .get(&format!("/batches/{bid}.json"), &[("page_size", "0")])
        .await;
    assert!(st.get("tasks").is_none());

    // created tasks are listed by batch, with the §4.1 fields
    let tasks = sama.tasks(&[("batch_id", &bid.to_string())]).await;
    assert_eq!(tasks.len(), 4);
    let t = &tasks[0];
    assert_eq!(t["project_id"], 1001);
    assert_eq!(t["batch_id"], bid);
    assert_eq!(t["state"], "new");
    assert!(is_ms_utc(&t["created_at"]), "{t}");
    assert_eq!(t["delivered_at"], Value::Null);
    let id = t["id"].as_str().unwrap();
    assert!(
        id.len() == 24
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let submitted: Vec<&Value> = tasks.iter().filter(|t| t["state"] == "completed").collect();
    assert_eq!(submitted.len(), 1, "submit: true creates a completed task");
    assert_eq!(
        tasks[1]["answers"],
        json!({"label": "dog"}),
        "default answers = pre-annotations"
    );
    assert_eq!(tasks[2]["priority"], -5);
    // omit_answers
    let t = sama
        .tasks(&[("batch_id", &bid.to_string()), ("omit_answers", "true")])
        .await;
    assert!(t.iter().all(|t| t.get("answers").is_none()));
    // client batch id filters
    let exact = sama.tasks(&[("client_batch_id", "speed_racer")]).await;
    assert_eq!(exact.len(), 1);
    assert_eq!(exact[0]["client_batch_id"], "speed_racer");
    let contains = sama
        .tasks(&[
            ("client_batch_id", "racer"),
            ("client_batch_id_match_type", "contains"),
        ])
        .await;
    assert_eq!(contains.len(), 2);
    assert!(sama.tasks(&[("client_batch_id", "racer")]).await.is_empty());
    // state filter (with the encoded space) and date filters
    assert_eq!(sama.tasks(&[("state", "completed")]).await.len(), 1);
    assert_eq!(sama.tasks(&[("state", "new")]).await.len(), 3);
    let (s, _) = sama.get("/tasks.json", &[("state", "bogus")]).await;
    assert_eq!(s, 400);
    let created = tasks[0]["created_at"].as_str().unwrap().to_owned();
    assert_eq!(
        sama.tasks(&[("date_type", "creation_date"), ("from", &created)])
            .await
            .len(),
        4
    );
    assert_eq!(sama.tasks(&[("to", "2001-01-01")]).await.len(), 0);
    assert_eq!(
        sama.tasks(&[
            ("date_type", "completion_date"),
            ("from", "2001-01-01T00:00:00.000000001Z")
        ])
        .await
        .len(),
        1
    );
    // single task
    let (s, v) = sama
        .get(
            &format!("/tasks/{id}.json"),
            &[("same_as_delivery", "true")],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["task"]["id"], id);
}

#[tokio::test]
async fn inline_batches_are_limited_to_1000_tasks() {
    let sama = Sama::start().await;
    let many: Vec<Value> = (0..1001).map(rec).collect();
    let (s, v) = sama
        .post("/batches.json", Some(json!({"tasks": many})))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("1000"));
    let (s, v) = sama
        .post(
            "/batches.json",
            Some(json!({"tasks": [rec(1), rec(2), {"data": {}}]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["task_ids"].as_array().unwrap().len(), 2);
    assert_eq!(v["tasks_failed"], 1);
    assert_eq!(sama.emu.control().task_count(P), 2);
    // continue on an inline batch is harmless
    let bid = v["batch_id"].as_u64().unwrap();
    let (s, c) = sama
        .post(&format!("/batches/{bid}/continue.json"), None)
        .await;
    assert_eq!((s, c), (200, json!({"batch_id": bid})));
}

#[tokio::test]
async fn paging_limits_are_enforced() {
    let sama = Sama::start().await;
    let records: Vec<Value> = (0..1500).map(rec).collect();
    let bid = sama.create(&records).await;
    let b = bid.to_string();
    // batch status: at most 1000 entries per page
    let (_, p1) = sama
        .get(&format!("/batches/{b}.json"), &[("page_size", "5000")])
        .await;
    assert_eq!(p1["tasks"].as_array().unwrap().len(), 1000);
    assert_eq!(p1["tasks_created"], 1500);
    let (_, p2) = sama
        .get(
            &format!("/batches/{b}.json"),
            &[("page", "2"), ("page_size", "1000")],
        )
        .await;
    assert_eq!(p2["tasks"].as_array().unwrap().len(), 500);
    assert_eq!(p2["tasks"][0]["index"], 1000);
    // multi-task status: at most 100 per page, pages are disjoint and ordered
    let a = sama.tasks(&[("batch_id", &b), ("page_size", "500")]).await;
    assert_eq!(a.len(), 100);
    let last = sama.tasks(&[("batch_id", &b), ("page", "15")]).await;
    assert_eq!(last.len(), 100);
    assert!(sama
        .tasks(&[("batch_id", &b), ("page", "16")])
        .await
        .is_empty());
    let p2 = sama.tasks(&[("page", "2")]).await;
    assert_ne!(ids(&a)[0], ids(&p2)[0]);
    let (s, _) = sama.get("/tasks.json", &[("page", "0")]).await;
    assert_eq!(s, 400);
    // delivered GET: at most 1000 per page
    sama.emu.control().finish_all(P);
    assert_eq!(sama.delivered(&[("page_size", "5000")]).await.len(), 1000);
    assert_eq!(sama.delivered(&[("page", "2")]).await.len(), 500);
}

#[tokio::test]
async fn delivered_get_is_ordered_and_filtered() {
    let sama = Sama::start().await;
    let c = sama.emu.control();
    let b1 = sama.create(&(0..20).map(rec).collect::<Vec<_>>()).await;
    c.finish_all(P);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let b2 = sama
        .create(
            &(0..10)
                .map(|i| json!({"data": {"url": format!("v{i}"), "client_batch_id": "cb-two"}}))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(c.finish_all(P), 10);
    let all = sama.delivered(&[]).await;
    assert_eq!(all.len(), 30);
    let keys: Vec<(String, String)> = all
        .iter()
        .map(|t| {
            (
                t["delivered_at"].as_str().unwrap().to_owned(),
                t["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by (delivered_at, id)");
    assert!(all
        .iter()
        .all(|t| is_ms_utc(&t["delivered_at"]) && t["answers"]["label"] == "cat"));
    // from is inclusive
    let second_from = all[20]["delivered_at"].as_str().unwrap();
    let later = sama.delivered(&[("from", second_from)]).await;
    assert_eq!(later.len(), 10);
    assert_eq!(sama.delivered(&[("from", "2999-01-01")]).await.len(), 0);
    assert_eq!(sama.delivered(&[("from", "2001-01-01")]).await.len(), 30);
    // filters, comma lists accepted
    assert_eq!(
        sama.delivered(&[("batch_id", &b2.to_string())]).await.len(),
        10
    );
    let both = format!("{b1},{b2}");
    assert_eq!(sama.delivered(&[("batch_id", &both)]).await.len(), 30);
    assert_eq!(
        sama.delivered(&[("client_batch_id", "cb-two")]).await.len(),
        10
    );
    let two = format!("{},{}", keys[3].1, keys[25].1);
    let picked = sama.delivered(&[("task_id", &two)]).await;
    assert_eq!(ids(&picked), vec![keys[3].1.clone(), keys[25].1.clone()]);
    // paging is stable
    let p1 = sama.delivered(&[("page_size", "7")]).await;
    let p2 = sama.delivered(&[("page_size", "7"), ("page", "2")]).await;
    assert_eq!(ids(&p1), ids(&all[..7]));
    assert_eq!(ids(&p2), ids(&all[7..14]));
}

#[tokio::test]
async fn consumer_cursors_are_independent_and_ignore_page() {
    let sama = Sama::start().await;
    let c = sama.emu.control();
    sama.create(&(0..5).map(rec).collect::<Vec<_>>()).await;
    assert!(sama.since(json!("a"), "1").await.is_empty());
    assert_eq!(c.finish_all(P), 5);
    // GET never moves a cursor
    assert_eq!(sama.delivered(&[]).await.len(), 5);
    // page is ignored: a consumer starting with page=3 still gets everything
    let a1 = sama.since(json!("a"), "3").await;
    assert_eq!(a1.len(), 5);
    assert!(
        sama.since(json!("a"), "1").await.is_empty(),
        "only new deliveries"
    );
    // a second consumer starts at the beginning, independently
    let b1 = sama.since(json!("b"), "1").await;
    assert_eq!(ids(&b1), ids(&a1));
    // the anonymous cursor is shared by null and absent consumers
    assert_eq!(sama.since(Value::Null, "1").await.len(), 5);
    let (s, v) = sama.post("/tasks/delivered.json", None).await;
    assert_eq!((s, v["tasks"].as_array().unwrap().len()), (200, 0));
    // new deliveries reach every consumer once
    sama.create(&(5..8).map(rec).collect::<Vec<_>>()).await;
    c.finish_all(P);
    let a2 = sama.since(json!("a"), "2").await;
    assert_eq!(a2.len(), 3);
    assert!(ids(&a2).iter().all(|i| !ids(&a1).contains(i)));
    assert_eq!(sama.since(json!("b"), "1").await.len(), 3);
    assert!(sama.since(json!("a"), "1").await.is_empty());
    // limit caps a call; the next call continues where it stopped
    let (_, v) = sama
        .post(
            "/tasks/delivered.json",
            Some(json!({"consumer": "c", "limit": 6})),
        )
        .await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 6);
    let (_, v) = sama
        .post(
            "/tasks/delivered.json",
            Some(json!({"consumer": "c", "limit": 6})),
        )
        .await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 2);
    let (s, _) = sama
        .post(
            "/tasks/delivered.json",
            Some(json!({"consumer": "c", "limit": 0})),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn consumer_paging_over_more_than_one_page() {
    let sama = Sama::start().await;
    sama.create(&(0..2100).map(rec).collect::<Vec<_>>()).await;
    sama.emu.control().finish_all(P);
    let mut seen = Vec::new();
    for page in 1.. {
        let got = sama.since(json!("pager"), &page.to_string()).await;
        let n = got.len();
        seen.extend(ids(&got));
        if n < 1000 {
            break;
        }
    }
    assert_eq!(seen.len(), 2100);
    let mut uniq = seen.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 2100);
}

#[tokio::test]
async fn reject_sends_a_task_back_and_redelivery_appends_to_the_log() {
    let sama = Sama::start().await;
    let c = sama.emu.control();
    sama.create(&[
        json!({"data": {"url": "a", "output_label": "bird"}}),
        rec(1),
    ])
    .await;
    let tasks = sama.tasks(&[]).await;
    let (t0, t1) = (ids(&tasks)[0].clone(), ids(&tasks)[1].clone());
    let put = |t: &str| format!("/tasks/{t}/reject.json");
    // a new task cannot be rejected
    let (s, v) = sama
        .send(
            reqwest::Method::PUT,
            &put(&t1),
            Some(json!({"reasons": ["x"]})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    c.finish_all(P);
    assert_eq!(sama.since(json!("r"), "1").await.len(), 2);
    let (s, v) = sama
        .send(
            reqwest::Method::PUT,
            &put(&t1),
            Some(json!({"reasons": ["box too loose"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = sama.get(&format!("/tasks/{t1}.json"), &[]).await;
    assert_eq!(v["task"]["state"], "rejected");
    assert_eq!(v["task"]["answers"], json!({}), "default answers restored");
    assert_eq!(v["task"]["rejection_reasons"], json!(["box too loose"]));
    let (_, v) = sama.get("/tasks.json", &[("state", "rejected")]).await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    // rework: in progress, completed, approved, delivered again
    for state in ["in progress", "completed", "approved", "delivered"] {
        assert_eq!(c.advance(P), 1);
        let (_, v) = sama.get(&format!("/tasks/{t1}.json"), &[]).await;
        assert_eq!(v["task"]["state"], state);
    }
    assert_eq!(c.advance(P), 0);
    let again = sama.since(json!("r"), "1").await;
    assert_eq!(ids(&again), vec![t1.clone()]);
    let all = sama.delivered(&[]).await;
    assert_eq!(all.len(), 3, "one entry per delivery");
    assert_eq!(all.iter().filter(|t| t["id"] == t1.as_str()).count(), 2);
    // the pre-annotated task delivers its pre-annotation
    let first = all.iter().find(|t| t["id"] == t0.as_str()).unwrap();
    assert_eq!(first["answers"]["label"], "bird");
    // reject of an unknown task: 404
    let (s, _) = sama
        .send(
            reqwest::Method::PUT,
            &put("0123456789abcdef01234567"),
            Some(json!({"reasons": []})),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn delete_removes_only_new_tasks_and_bulk_update_sets_priority() {
    let sama = Sama::start().await;
    let c = sama.emu.control();
    sama.create(&(0..3).map(rec).collect::<Vec<_>>()).await;
    let all = ids(&sama.tasks(&[]).await);
    c.advance(P); // all -> in progress
    sama.create(&(3..5).map(rec).collect::<Vec<_>>()).await;
    let fresh: Vec<String> = ids(&sama.tasks(&[("state", "new")]).await);
    assert_eq!(fresh.len(), 2);
    let (s, v) = sama
        .post(
            "/tasks/delete_tasks.json",
            Some(json!({"task_ids": [fresh[0], all[0], "nope"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["deleted"], json!([fresh[0]]));
    let failed = v["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["id"], all[0].as_str());
    assert!(failed[0]["reason"]
        .as_str()
        .unwrap()
        .contains("in progress"));
    assert_eq!(c.task_count(P), 4);
    let (s, _) = sama.get(&format!("/tasks/{}.json", fresh[0]), &[]).await;
    assert_eq!(s, 404, "deleted tasks disappear");
    assert!(!ids(&sama.tasks(&[]).await).contains(&fresh[0]));
    // bulk update
    let (s, v) = sama
        .post(
            "/tasks/bulk_update.json",
            Some(json!({"task_ids": [all[1], fresh[1]], "priority": -7})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = sama.get(&format!("/tasks/{}.json", all[1]), &[]).await;
    assert_eq!(v["task"]["priority"], -7);
    for bad in [json!(2147483648i64), json!("high"), json!(1.5), Value::Null] {
        let (s, v) = sama
            .post(
                "/tasks/bulk_update.json",
                Some(json!({"task_ids": [all[1]], "priority": bad})),
            )
            .await;
        assert_eq!(s, 400, "{v}");
    }
}

#[tokio::test]
async fn cancel_stops_a_waiting_batch() {
    let sama = Sama::start().await;
    let (_, open) = sama
        .post("/batches.json", Some(json!({"tasks_file_name": null})))
        .await;
    let bid = open["batch_id"].as_u64().unwrap();
    // empty body with a JSON content type
    let (s, v) = sama
        .post(&format!("/batches/{bid}/cancel.json"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "canceled");
    let (_, st) = sama.get(&format!("/batches/{bid}.json"), &[]).await;
    assert_eq!(st["status"], "canceled");
    // the upload URL is no longer valid, continue refuses
    let r = sama
        .http
        .put(open["tasks_put_url"].as_str().unwrap())
        .json(&vec![rec(0)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let (s, _) = sama
        .post(&format!("/batches/{bid}/continue.json"), None)
        .await;
    assert_eq!(s, 400);
    let (s, _) = sama.post("/batches/4242/cancel.json", None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn project_reads_schemas_and_stats() {
    let sama = Sama::start().await;
    let (s, info) = sama.get(".json", &[]).await;
    assert_eq!(s, 200);
    for k in [
        "id",
        "name",
        "state",
        "type",
        "asset_country_code",
        "project_group",
        "description",
        "client",
    ] {
        assert!(info.get(k).is_some(), "{k} missing in {info}");
    }
    let (s, cs) = sama.get("/schemas/create_task.json", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(cs["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(cs["properties"]["priority_hint"]["type"], "integer");
    assert!(cs["properties"]["output_label"].is_object());
    assert_eq!(cs["required"], json!(["url"]));
    let (_, ds) = sama.get("/schemas/deliver_task.json", &[]).await;
    assert!(ds["properties"]["boxes"].is_object());
    sama.create(&(0..4).map(rec).collect::<Vec<_>>()).await;
    sama.emu.control().advance(P);
    let (s, st) = sama.get("/stats.json", &[]).await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["tasks"]["in progress"], 4);
    assert_eq!(st["total_tasks"], 4);
    let (_, st) = sama
        .get(
            "/stats.json",
            &[
                ("from", "2999-01-01T00:00:00Z"),
                ("to", "2999-02-01T00:00:00Z"),
            ],
        )
        .await;
    assert_eq!(st["total_tasks"], 0);
    let (s, _) = sama.get("/stats.json", &[("from", "not a time")]).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn multi_task_status_rate_limit_answers_429_with_retry_after() {
    let mut cfg = EmulatorConfig::new(Vendor::Sama);
    cfg.enforce_rate_limits = true;
    let sama = Sama::with(cfg).await;
    let (s, _) = sama.get("/tasks.json", &[]).await;
    assert_eq!(s, 200);
    let r = sama
        .http
        .get(sama.url("/tasks.json"))
        .query(&[sama.key()])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    // other endpoints are not limited
    let (s, _) = sama.get("/tasks/delivered.json", &[]).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn injected_faults_are_seen_by_a_client() {
    let sama = Sama::start().await;
    let c = sama.emu.control();
    let project_url = sama.url(".json");
    let get = || sama.http.get(&project_url).query(&[sama.key()]).send();

    for (cfg, status) in [
        (
            FaultConfig {
                unavailable_rate: 1.0,
                ..Default::default()
            },
            503,
        ),
        (
            FaultConfig {
                internal_rate: 1.0,
                ..Default::default()
            },
            500,
        ),
    ] {
        c.set_faults(cfg);
        let r = get().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        let (_, v) = decode(r).await;
        assert_eq!(v["errors"][0]["type"], status);
    }
    c.set_faults(FaultConfig {
        throttle_rate: 1.0,
        retry_after_secs: 0.05,
        ..Default::default()
    });
    let r = get().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "0.05");

    // a burst of 429 then normal service
    c.set_faults(FaultConfig {
        burst_429: 2,
        retry_after_secs: 1.0,
        ..Default::default()
    });
    let r = get().await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "1")
    );
    assert_eq!(get().await.unwrap().status().as_u16(), 429);
    assert_eq!(get().await.unwrap().status().as_u16(), 200);

    // a dropped connection is a transport error, not a response
    c.set_faults(FaultConfig {
        drop_rate: 1.0,
        ..Default::default()
    });
    let err = get()
        .await
        .expect_err("the connection must be closed without a response");
    assert!(!err.is_status(), "{err}");
    // faulted requests have no effect
    let before = c.request_count();
    let dropped = sama
        .http
        .post(sama.url("/batches.json"))
        .query(&[sama.key()])
        .json(&json!({}))
        .send()
        .await;
    assert!(dropped.is_err());
    assert_eq!(
        c.request_count(),
        before + 1,
        "faulted requests are counted"
    );
    // control routes are never faulted
    let r = sama
        .http
        .get(format!("{}/_emulator/state", sama.emu.root_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    c.set_faults(FaultConfig::default());
    let (_, st) = sama.get("/stats.json", &[]).await;
    assert_eq!(st["batches"], 0, "the faulted batch creation had no effect");

    // latency is added before the handler
    c.set_faults(FaultConfig {
        latency_ms: 120,
        ..Default::default()
    });
    let t = Instant::now();
    assert_eq!(get().await.unwrap().status().as_u16(), 200);
    assert!(t.elapsed() >= Duration::from_millis(120));
    c.set_faults(FaultConfig::default());
}

#[tokio::test]
async fn answers_lost_after_the_vendor_acted() {
    let sama = Sama::start().await;
    let c = sama.emu.control();
    sama.create(&(0..3).map(rec).collect::<Vec<_>>()).await;
    assert_eq!(c.finish_all(P), 3);
    // The since-last-call read acts (its cursor moves), then its answer is lost.
    let r = sama
        .http
        .put(format!("{}/_emulator/faults", sama.emu.root_url()))
        .body(r#"{"drop_after_rate": 1.0}"#)
        .send()
        .await
        .unwrap();
    let (s, v) = decode(r).await;
    assert_eq!(
        (s, v["faults"]["drop_after_rate"].clone()),
        (200, json!(1.0))
    );
    let lost = sama
        .http
        .post(sama.url("/tasks/delivered.json"))
        .query(&[sama.key()])
        .json(&json!({"consumer": "k", "limit": 1000}))
        .send()
        .await;
    let err = lost.expect_err("the answer must be lost");
    assert!(!err.is_status(), "{err}");
    c.set_faults(FaultConfig::default());
    assert!(
        sama.since(json!("k"), "1").await.is_empty(),
        "the server acted before the answer was lost: its cursor moved"
    );
    // A truncated answer: the head announces the whole body, half of it arrives.
    c.set_faults(FaultConfig {
        truncate_after_rate: 1.0,
        ..Default::default()
    });
    let r = sama
        .http
        .get(sama.url("/tasks/delivered.json"))
        .query(&[sama.key()])
        .send()
        .await
        .expect("the head arrives");
    assert_eq!(r.status().as_u16(), 200);
    let announced = r.content_length().expect("a length is announced");
    assert!(r.bytes().await.is_err(), "the body must be cut short");
    c.set_faults(FaultConfig::default());
    let (_, whole) = sama.get("/tasks/delivered.json", &[]).await;
    assert_eq!(whole.to_string().len() as u64, announced);
    assert_eq!(whole["tasks"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn seeded_faults_repeat_for_a_sequential_client() {
    let sama = Sama::start().await;
    let c = sama.emu.control();
    let cfg = FaultConfig {
        unavailable_rate: 0.3,
        throttle_rate: 0.2,
        seed: Some(42),
        ..Default::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        c.set_faults(cfg.clone());
        let mut statuses = Vec::new();
        for _ in 0..30 {
            let (s, _) = sama.get(".json", &[]).await;
            statuses.push(s);
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&503) && runs[0].contains(&200));
}

#[tokio::test]
async fn control_api_over_http() {
    let sama = Sama::start().await;
    let root = sama.emu.root_url();
    let http = &sama.http;
    sama.create(&(0..3).map(rec).collect::<Vec<_>>()).await;
    let post = |op: &str, q: &str| http.post(format!("{root}/_emulator/{op}{q}")).send();
    for (op, moved) in [
        ("advance", 3),
        ("complete", 3),
        ("deliver", 3),
        ("finish", 0),
    ] {
        let (s, v) = decode(post(op, "?project=1001").await.unwrap()).await;
        assert_eq!((s, v["moved"].clone()), (200, json!(moved)), "{op}: {v}");
    }
    let (s, _) = decode(post("advance", "?project=nope").await.unwrap()).await;
    assert_eq!(s, 404);
    let (s, _) = decode(post("advance", "").await.unwrap()).await;
    assert_eq!(s, 400);
    // The seed control is per vendor; Sama's tasks are created through its API.
    let (s, v) = decode(
        http.post(format!("{root}/_emulator/seed?project=1001"))
            .body(r#"{"count": 5}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert!(v["error"]
        .as_str()
        .unwrap_or("")
        .contains("no seed control"));
    let (s, st) = decode(
        http.get(format!("{root}/_emulator/state"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(st["projects"]["1001"]["states"]["delivered"], 3);
    assert_eq!(st["projects"]["1001"]["tasks"], 3);
    assert_eq!(st["vendor"], "sama");
    let r = http
        .put(format!("{root}/_emulator/faults"))
        .json(&json!({"unavailable_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(sama.get(".json", &[]).await.0, 503);
    let r = http
        .put(format!("{root}/_emulator/faults"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(sama.get(".json", &[]).await.0, 200);
    let r = http
        .put(format!("{root}/_emulator/faults"))
        .body("{\"drop_rate\": \"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (s, _) = decode(post("reset", "").await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(sama.emu.control().task_count(P), 0);
    assert!(sama.delivered(&[]).await.is_empty());
    assert_eq!(sama.emu.projects(), vec!["1001".to_owned()]);
}

#[tokio::test]
async fn auto_lifecycle_moves_tasks_to_delivery() {
    let mut cfg = EmulatorConfig::new(Vendor::Sama);
    cfg.lifecycle = Lifecycle::Auto {
        step: Duration::from_millis(10),
    };
    cfg.projects = vec!["7".into(), "8".into()];
    let emu = start(cfg).await.unwrap();
    assert_eq!(emu.projects(), vec!["7".to_owned(), "8".to_owned()]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}/projects/8/batches.json", emu.base_url());
    let r = http
        .post(&url)
        .query(&[("access_key", emu.api_key())])
        .json(&json!({"tasks": [rec(0), rec(1)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = emu.control().state();
        if st["projects"]["8"]["states"]["delivered"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "tasks never delivered: {st}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let emu = start(EmulatorConfig::new(Vendor::Sama)).await.unwrap();
    let url = format!("{}/_emulator/state", emu.root_url());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(http.get(&url).send().await.is_ok());
    emu.shutdown().await;
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(fresh.get(&url).send().await.is_err());
}

#[tokio::test]
async fn standalone_binary_prints_its_base_url_and_serves() {
    use std::io::BufRead;
    /// Kills the child even when an assertion fails.
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_labelmux-emulator"))
        .args([
            "sama",
            "--api-key",
            "k-123",
            "--project",
            "55",
            "--project",
            "56",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let _guard = Guard(child);
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let result = async {
        let rest = line
            .trim()
            .strip_prefix("base_url=")
            .expect("base_url= prefix");
        let (base, key) = rest.split_once(" api_key=").expect("api_key= part");
        assert!(
            base.starts_with("http://127.0.0.1:") && base.ends_with("/v2"),
            "{line}"
        );
        assert_eq!(key, "k-123");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let r = http
            .get(format!("{base}/projects/56.json"))
            .query(&[("access_key", key)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let r = http
            .get(format!("{base}/projects/1001.json"))
            .query(&[("access_key", key)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            404,
            "--project replaces the default fixture ids"
        );
    };
    tokio::time::timeout(Duration::from_secs(30), result)
        .await
        .expect("binary answered in time");
}
