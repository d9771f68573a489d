//! Drives the Segments.ai emulator with plain HTTP (reqwest), as a vendor client would.

use flate2::write::GzEncoder;
use labelmux_emulator::{start, EmulatorConfig, FaultConfig, RunningEmulator, Vendor};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

const DS: &str = "labelmux/demo";

struct Seg {
    emu: RunningEmulator,
    http: reqwest::Client,
}

impl Seg {
    async fn start() -> Self {
        let emu = start(EmulatorConfig::new(Vendor::Segments))
            .await
            .expect("emulator starts");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Seg { emu, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("Authorization", format!("APIKey {}", self.emu.api_key()))
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self.req(method, path);
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        decode(rb.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// A request with a gzip-compressed JSON body, as the SDK sends sample and label writes.
    async fn gzip(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(body.to_string().as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let r = self
            .req(method, path)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gz)
            .send()
            .await
            .unwrap();
        decode(r).await
    }

    async fn control(&self, op: &str, query: &[(&str, &str)]) -> Value {
        let r = self
            .http
            .post(format!("{}/_emulator/{op}", self.emu.root_url()))
            .query(query)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.unwrap()
    }

    /// `n` image samples named `img-000.jpg`… via `samples_bulk`; returns them.
    async fn bulk(&self, ds: &str, names: impl Iterator<Item = String>) -> Vec<Value> {
        let items: Vec<Value> = names
            .map(|n| {
                json!({"name": n, "attributes": {"image": {"url": format!("https://img.example/{n}")}},
                       "metadata": {"camera": if n.ends_with("0.jpg") { "front" } else { "rear" }}})
            })
            .collect();
        let (s, v) = self
            .gzip(
                Method::POST,
                &format!("/datasets/{ds}/samples_bulk/"),
                &Value::from(items),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v.as_array().unwrap().clone()
    }

    async fn samples(&self, query: &str) -> Vec<Value> {
        let (s, v) = self.get(&format!("/datasets/{DS}/samples/?{query}")).await;
        assert_eq!(s, 200, "{v}");
        v.as_array().unwrap().clone()
    }
}

async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)))
    };
    (status, v)
}

/// A `multipart/form-data` POST as the SDK's storage upload sends it (fields, then `file`).
async fn multipart_post(
    http: &reqwest::Client,
    url: &str,
    parts: &[(String, Vec<u8>)],
) -> reqwest::Response {
    let boundary = "emulator-test-boundary";
    let mut body = Vec::new();
    for (name, data) in parts {
        let filename = if name == "file" {
            "; filename=\"violet.png\""
        } else {
            ""
        };
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    http.post(url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

fn names(v: &[Value]) -> Vec<&str> {
    v.iter().map(|s| s["name"].as_str().unwrap()).collect()
}

fn bbox_label(status: &str) -> Value {
    json!({"label_status": status, "attributes": {"format_version": "0.1", "annotations": [
        {"id": 1, "category_id": 1, "type": "bbox", "points": [[1.0, 2.0], [30.0, 40.0]]}]}})
}

#[tokio::test]
async fn authentication_version_check_and_unroutable_paths() {
    let seg = Seg::start().await;
    assert!(seg.emu.base_url().starts_with("http://127.0.0.1:"));
    assert!(!seg.emu.base_url().ends_with('/'));
    let r = seg.http.get(seg.url("/user")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "Authentication credentials were not provided."})
    );
    let r = seg
        .http
        .get(seg.url("/user"))
        .header("Authorization", "APIKey wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid token."})
    );
    // Bearer is not Segments' scheme: as good as no credentials.
    let r = seg
        .http
        .get(seg.url("/user"))
        .bearer_auth(seg.emu.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let (s, v) = seg.get("/api_status/?lib_version=1.33.0").await;
    assert_eq!((s, v), (200, json!({})));
    let (s, _) = seg.get("/api_status/?lib_version=0.58.2").await;
    assert_eq!(s, 426);

    for path in ["/user", "/user/"] {
        let (s, v) = seg.get(path).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(v["username"], "labelmux");
        assert_eq!(v["organizations"][0]["username"], "labelmux-org");
    }
    let (s, v) = seg.get("/users/other-user").await;
    assert_eq!((s, v["is_organization"].clone()), (200, json!(false)));

    // Unroutable paths answer DRF's 404 body, with or without a key.
    for path in [
        "/datasets/abcde/",
        "/samples/12345/",
        "/samples/12345/issues/",
        "/issues/12345/",
        "/users/nobody-here",
        "/nothing/at/all",
    ] {
        let (s, v) = seg.get(path).await;
        assert_eq!((s, v), (404, json!({"detail": "Not found."})), "{path}");
    }
    let r = seg
        .http
        .get(seg.url("/datasets/abcde/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // `/datasets/abcde/clone/` is the detail route of dataset "abcde/clone": POST not allowed.
    let (s, v) = seg.post("/datasets/abcde/clone/", json!({})).await;
    assert_eq!(s, 405, "{v}");
    assert_eq!(v["detail"], "Method \"POST\" not allowed.");
}

#[tokio::test]
async fn datasets_by_owner_and_name_with_visibility_and_roles() {
    let seg = Seg::start().await;
    // Both slash forms, and a percent-encoded name segment.
    for path in [
        "/datasets/labelmux/demo",
        "/datasets/labelmux/demo/",
        "/datasets/labelmux/de%6Do/",
    ] {
        let (s, v) = seg.get(path).await;
        assert_eq!(s, 200, "{path}: {v}");
        assert_eq!(v["full_name"], DS);
    }
    let (_, d) = seg.get("/datasets/labelmux/demo/").await;
    assert_eq!(d["role"], "admin");
    assert_eq!(d["task_type"], "vector");
    assert_eq!(d["labelsets"][0]["is_groundtruth"], true);
    assert_eq!(d["samples_count"], 0);
    assert_eq!(d["label_stats"]["TOTAL"], 0);
    assert_eq!(d["enable_extrapolation"], false);
    // `%2F` stays inside its segment: one segment, no route.
    let (s, _) = seg.get("/datasets/labelmux%2Fdemo/").await;
    assert_eq!(s, 404);

    let body = json!({"name": "flowers", "task_type": "bboxes", "description": "d",
        "task_attributes": {"format_version": "0.1", "categories": [{"name": "rose", "id": 3}], "custom": 1},
        "category": "garden", "public": false, "enable_confirm_on_submit": true, "data_type": "IMAGE"});
    let (s, v) = seg.post("/user/datasets/", body.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["full_name"], "labelmux/flowers");
    assert_eq!(v["task_attributes"]["custom"], 1);
    assert_eq!(v["enable_confirm_on_submit"], true);
    let (s, v) = seg.post("/user/datasets/", body).await;
    assert_eq!(s, 400);
    assert!(
        v.to_string().to_lowercase().contains("already exists"),
        "{v}"
    );
    let (s, v) = seg
        .post("/user/datasets/", json!({"name": "x", "task_type": "nope"}))
        .await;
    assert_eq!(s, 400);
    assert!(v["task_type"].is_array(), "{v}");

    let (s, v) = seg
        .call(
            Method::PATCH,
            "/datasets/labelmux/flowers/",
            Some(json!({"description": "new", "metadata": {"k": 1}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (v["description"].clone(), v["category"].clone()),
        (json!("new"), json!("garden"))
    );
    assert_eq!(v["metadata"], json!({"k": 1}));

    let (s, v) = seg
        .post(
            "/organizations/labelmux-org/datasets/",
            json!({"name": "team", "task_type": "vector"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["owner"]["username"], "labelmux-org");
    let (s, _) = seg
        .post(
            "/organizations/no-such-org/datasets/",
            json!({"name": "t", "task_type": "vector"}),
        )
        .await;
    assert_eq!(s, 404);

    // Visible datasets only; pages of one.
    let (s, all) = seg.get("/user/datasets/?per_page=1000&page=1").await;
    assert_eq!(s, 200);
    let full: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["full_name"].as_str().unwrap())
        .collect();
    assert!(full.contains(&"labelmux/flowers") && full.contains(&"other-user/shared-dataset"));
    assert!(!full.contains(&"other-user/private-dataset"));
    let (_, p2) = seg.get("/user/datasets/?per_page=1&page=2").await;
    assert_eq!(p2[0]["full_name"], all[1]["full_name"]);
    let (s, v) = seg.get("/user/datasets/?per_page=1&page=99").await;
    assert_eq!((s, v), (404, json!({"detail": "Invalid page."})));
    let (_, theirs) = seg
        .get("/users/other-user/datasets/?per_page=10&page=1")
        .await;
    assert_eq!(theirs.as_array().unwrap().len(), 1);

    // Invisible: 404 on every route; visible but only a labeler: 403 for managing.
    let (s, v) = seg.get("/datasets/other-user/private-dataset/").await;
    assert_eq!((s, v), (404, json!({"detail": "Not found."})));
    let (s, _) = seg
        .get("/datasets/other-user/private-dataset/samples/")
        .await;
    assert_eq!(s, 404);
    let (s, v) = seg.get("/datasets/other-user/shared-dataset/").await;
    assert_eq!((s, v["role"].clone()), (200, json!("labeler")));
    let (s, v) = seg
        .call(Method::DELETE, "/datasets/other-user/shared-dataset/", None)
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        v,
        json!({"detail": "You do not have permission to perform this action."})
    );
    let (s, _) = seg
        .post(
            "/datasets/other-user/shared-dataset/releases/",
            json!({"name": "r"}),
        )
        .await;
    assert_eq!(s, 403);

    // Collaborators.
    let coll = "/datasets/labelmux/flowers/collaborators";
    let (s, v) = seg
        .post(&format!("{coll}/"), json!({"user": "other-user"}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["user"]["username"].clone(), v["role"].clone()),
        (json!("other-user"), json!("labeler"))
    );
    let (s, v) = seg
        .post(&format!("{coll}/"), json!({"user": "other-user"}))
        .await;
    assert_eq!(s, 400);
    assert!(v["detail"]
        .as_str()
        .unwrap()
        .contains("is already a collaborator"));
    let (s, _) = seg
        .post(&format!("{coll}/"), json!({"user": "ghost"}))
        .await;
    assert_eq!(s, 404);
    let (s, v) = seg
        .call(
            Method::PATCH,
            &format!("{coll}/other-user"),
            Some(json!({"role": "reviewer"})),
        )
        .await;
    assert_eq!((s, v["role"].clone()), (200, json!("reviewer")));
    let (s, _) = seg
        .call(Method::DELETE, &format!("{coll}/other-user"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = seg.get(&format!("{coll}/other-user")).await;
    assert_eq!(s, 404);

    // Clone with samples, then delete.
    seg.bulk("labelmux/flowers", ["a.jpg".to_owned()].into_iter())
        .await;
    let (s, v) = seg
        .post(
            "/datasets/labelmux/flowers/clone/",
            json!({"clone_labels": false}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (
            v["name"].clone(),
            v["cloned_from"].clone(),
            v["samples_count"].clone()
        ),
        (json!("flowers-clone"), json!("labelmux/flowers"), json!(1))
    );
    let (s, _) = seg
        .post(
            "/datasets/labelmux/flowers/clone/",
            json!({"clone_labels": false}),
        )
        .await;
    assert_eq!(s, 400);
    let r = seg
        .req(Method::DELETE, "/datasets/labelmux/flowers-clone/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    let (s, _) = seg.get("/datasets/labelmux/flowers-clone/").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn samples_bulk_create_list_filters_sorting_and_paging() {
    let seg = Seg::start().await;
    let (s, v) = seg
        .get(&format!("/datasets/{DS}/samples/?per_page=10&page=1"))
        .await;
    assert_eq!((s, v), (200, json!([])));

    let first = seg
        .bulk(DS, (0..30).map(|i| format!("img-{i:03}.jpg")))
        .await;
    assert_eq!(first.len(), 30);
    assert_eq!(first[0]["dataset_full_name"], DS);
    assert_eq!(first[0]["created_by"], "labelmux");
    assert_eq!(first[0]["priority"], 0);
    // A repeated name comes back unchanged (same UUID, old attributes), in input order.
    let items = json!([
        {"name": "img-005.jpg", "attributes": {"image": {"url": "https://changed.example/x.jpg"}}},
        {"name": "new.jpg", "attributes": {"image": {"url": "https://img.example/new.jpg"}}, "priority": 7},
    ]);
    let (s, v) = seg
        .gzip(
            Method::POST,
            &format!("/datasets/{DS}/samples_bulk/"),
            &items,
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v[0]["uuid"], first[5]["uuid"]);
    assert_eq!(
        v[0]["attributes"]["image"]["url"],
        "https://img.example/img-005.jpg"
    );
    assert_eq!(v[1]["name"], "new.jpg");
    // One bad element: nothing is created, per-element errors.
    let (s, v) = seg
        .post(
            &format!("/datasets/{DS}/samples_bulk/"),
            json!([{"name": "ok.jpg", "attributes": {"image": {"url": "u"}}}, {"attributes": {}}]),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v[0], json!({}));
    assert!(v[1]["name"].is_array());
    // Single create: 201, duplicate is "already exists", attributes must fit the task type.
    let (s, v) = seg
        .gzip(
            Method::POST,
            &format!("/datasets/{DS}/samples/"),
            &json!({"name": "single.jpg", "attributes": {"image": {"url": "https://x/s.jpg"}},
                    "priority": 0, "readme": "", "metadata": {"weather": "sunny", "n": 3}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let single = v["uuid"].as_str().unwrap().to_owned();
    let (s, v) = seg
        .post(
            &format!("/datasets/{DS}/samples/"),
            json!({"name": "single.jpg", "attributes": {"image": {"url": "u"}}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v.to_string().contains("already exists"), "{v}");
    let (s, v) = seg
        .post(
            &format!("/datasets/{DS}/samples/"),
            json!({"name": "pc.jpg", "attributes": {"pcd": {"url": "u", "type": "pcd"}}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v["attributes"].is_array(), "{v}");

    // 32 samples: paging, sorting, filters.
    let all = seg.samples("per_page=1000&page=1&sort=name").await;
    assert_eq!(all.len(), 32);
    let mut sorted = names(&all);
    sorted.sort();
    assert_eq!(names(&all), sorted);
    let p4 = seg.samples("per_page=10&page=4&sort=name").await;
    assert_eq!(p4.len(), 2);
    let (s, v) = seg
        .get(&format!("/datasets/{DS}/samples/?per_page=10&page=5"))
        .await;
    assert_eq!((s, v), (404, json!({"detail": "Invalid page."})));
    let desc = seg.samples("per_page=3&page=1&sort=-name").await;
    assert_eq!(names(&desc), ["single.jpg", "new.jpg", "img-029.jpg"]);
    let by_created = seg.samples("per_page=1&page=1&sort=-created_at").await;
    assert_eq!(by_created[0]["name"], "single.jpg");
    let by_priority = seg.samples("per_page=1&page=1&sort=-priority").await;
    assert_eq!(by_priority[0]["name"], "new.jpg");
    let unknown_sort = seg.samples("per_page=1&page=1&sort=-created").await;
    assert_eq!(unknown_sort[0]["name"], "single.jpg");
    let named = seg.samples("name__contains=img-01&sort=name").await;
    assert_eq!(named.len(), 10);
    let named = seg.samples("name__contains=IMG-01").await;
    assert!(named.is_empty(), "name__contains is case-sensitive");
    let front = seg.samples("filters=camera:front").await;
    assert_eq!(front.len(), 3);
    let both = seg.samples("filters=weather:sunny,n:3").await;
    assert_eq!(names(&both), ["single.jpg"]);
    let none = seg.samples("filters=weather:sunny,n:4").await;
    assert!(none.is_empty());

    // label_status: OR within the list, unlabeled samples are UNLABELED.
    let (s, _) = seg
        .gzip(
            Method::PUT,
            &format!("/labels/{single}/ground-truth/"),
            &bbox_label("LABELED"),
        )
        .await;
    assert_eq!(s, 201);
    let labeled = seg.samples("label_status=LABELED").await;
    assert_eq!(names(&labeled), ["single.jpg"]);
    let either = seg.samples("label_status=LABELED,UNLABELED").await;
    assert_eq!(either.len(), 32);
    let unlabeled = seg.samples("label_status=UNLABELED").await;
    assert_eq!(unlabeled.len(), 31);
    let (s, _) = seg
        .get(&format!("/datasets/{DS}/samples/?label_status=DONE"))
        .await;
    assert_eq!(s, 400);
    // Label summaries or full labels with `labelset`.
    let with = seg
        .samples("labelset=ground-truth&name__contains=single")
        .await;
    assert_eq!(with[0]["label"]["label_status"], "LABELED");
    assert!(with[0]["label"].get("attributes").is_none());
    let full = seg
        .samples("labelset=ground-truth&include_full_label=1&name__contains=single")
        .await;
    assert_eq!(
        full[0]["label"]["attributes"]["annotations"][0]["type"],
        "bbox"
    );
    let other = seg
        .samples("labelset=ground-truth&name__contains=img-000")
        .await;
    assert_eq!(other[0]["label"], Value::Null);
    let by_label = seg
        .samples("per_page=1&page=1&sort=gt_label__updated_at")
        .await;
    assert_eq!(by_label[0]["name"], "single.jpg");

    // Single sample: signed URLs, the SDK's double-`?` query, PATCH, DELETE.
    let (s, v) = seg
        .get(&format!(
            "/samples/{single}/?labelset=ground-truth?include_signed_urls=1"
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["label"]["labelset"], "ground-truth");
    assert!(v["attributes"]["image"]["signed_url"].is_string());
    let (s, v) = seg
        .gzip(
            Method::PATCH,
            &format!("/samples/{single}/"),
            &json!({"metadata": {"weather": "rainy"}, "assigned_labeler": "other-user"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["metadata"].clone(), v["assigned_labeler"].clone()),
        (json!({"weather": "rainy"}), json!("other-user"))
    );
    let (_, v) = seg
        .call(
            Method::PATCH,
            &format!("/samples/{single}/"),
            Some(json!({"assigned_labeler": null})),
        )
        .await;
    assert_eq!(v["assigned_labeler"], Value::Null);
    let (s, _) = seg
        .call(
            Method::PATCH,
            &format!("/samples/{single}/"),
            Some(json!({"name": "img-000.jpg"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = seg
        .call(Method::DELETE, &format!("/samples/{single}/"), None)
        .await;
    assert_eq!(s, 204);
    let (s, v) = seg.get(&format!("/samples/{single}/")).await;
    assert_eq!((s, v), (404, json!({"detail": "Not found."})));

    // Bulk delete: limits, unknown UUIDs skipped, count answered.
    let bulk = format!("/datasets/{DS}/samples_bulk/");
    let (s, _) = seg
        .call(Method::DELETE, &bulk, Some(json!({"uuids": []})))
        .await;
    assert_eq!(s, 400);
    let many: Vec<String> = (0..1001).map(|i| format!("{i}")).collect();
    let (s, _) = seg
        .call(Method::DELETE, &bulk, Some(json!({"uuids": many})))
        .await;
    assert_eq!(s, 400);
    let ids = vec![
        first[0]["uuid"].clone(),
        first[1]["uuid"].clone(),
        json!("602a3eec-a61c-4a77-9fcc-3037ce5e9606"),
    ];
    let (s, v) = seg
        .call(Method::DELETE, &bulk, Some(json!({"uuids": ids})))
        .await;
    assert_eq!((s, v), (200, json!({"deleted_count": 2})));
    let (s, _) = seg
        .call(
            Method::DELETE,
            "/datasets/labelmux/nope/samples_bulk/",
            Some(json!({"uuids": ["x"]})),
        )
        .await;
    assert_eq!(s, 404);
    let (_, d) = seg.get(&format!("/datasets/{DS}/")).await;
    assert_eq!(d["samples_count"], 29);
}

#[tokio::test]
async fn labels_upsert_stats_labelsets_and_issues() {
    let seg = Seg::start().await;
    let s = seg
        .bulk(DS, ["a.jpg".to_owned(), "b.jpg".to_owned()].into_iter())
        .await;
    let a = s[0]["uuid"].as_str().unwrap().to_owned();
    let label = format!("/labels/{a}/ground-truth/");
    let (st, v) = seg.get(&label).await;
    assert_eq!((st, v), (404, json!({"detail": "Not found."})));
    let (st, v) = seg
        .gzip(Method::PUT, &label, &bbox_label("PRELABELED"))
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["label_type"], "vector");
    assert_eq!(v["labelset"], "ground-truth");
    assert_eq!(v["created_by"], "labelmux");
    let created_at = v["created_at"].clone();
    let mut replace = bbox_label("LABELED");
    replace["score"] = json!(0.5);
    let (st, v) = seg.gzip(Method::PUT, &label, &replace).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["label_status"].clone(), v["score"].clone()),
        (json!("LABELED"), json!(0.5))
    );
    assert_eq!(v["created_at"], created_at);
    // PUT replaces: the score not sent again is cleared.
    let (_, v) = seg.gzip(Method::PUT, &label, &bbox_label("LABELED")).await;
    assert_eq!(v["score"], Value::Null);
    let (st, v) = seg
        .gzip(Method::PATCH, &label, &json!({"label_status": "REVIEWED"}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["label_status"], "REVIEWED");
    assert_eq!(
        v["attributes"]["annotations"][0]["points"][1],
        json!([30.0, 40.0])
    );
    let (_, d) = seg.get(&format!("/datasets/{DS}/")).await;
    assert_eq!(d["label_stats"]["REVIEWED"], 1);
    assert_eq!(d["label_stats"]["UNLABELED"], 1);
    assert_eq!(d["label_stats"]["TOTAL"], 2);
    // Validation: statuses and attributes shaped for the task type.
    let (st, v) = seg
        .call(
            Method::PUT,
            &label,
            Some(json!({"label_status": "DONE", "attributes": {"annotations": []}})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(v["label_status"].is_array());
    let (st, v) = seg
        .call(
            Method::PUT,
            &label,
            Some(json!({"label_status": "LABELED", "attributes": {"annotations": [{"id": 1}]}})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(v["attributes"].is_array());
    let (st, _) = seg
        .call(
            Method::PUT,
            &format!("/labels/{a}/nope/"),
            Some(bbox_label("LABELED")),
        )
        .await;
    assert_eq!(st, 404);
    let b = s[1]["uuid"].as_str().unwrap();
    let (st, _) = seg
        .call(
            Method::PATCH,
            &format!("/labels/{b}/ground-truth/"),
            Some(json!({"score": 1})),
        )
        .await;
    assert_eq!(st, 404);

    // Labelsets: unique names, ground-truth stays, deleting drops its labels.
    let sets = format!("/datasets/{DS}/labelsets/");
    let (st, v) = seg
        .post(
            &sets,
            json!({"name": "predictions", "description": "", "attributes": "{}"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["is_groundtruth"], false);
    let (st, v) = seg.post(&sets, json!({"name": "predictions"})).await;
    assert_eq!(st, 400);
    assert!(v.to_string().contains("already exists"));
    let (st, _) = seg
        .call(
            Method::PUT,
            &format!("/labels/{a}/predictions/"),
            Some(bbox_label("PRELABELED")),
        )
        .await;
    assert_eq!(st, 201);
    let (_, v) = seg.get(&sets).await;
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (st, _) = seg
        .call(Method::DELETE, &format!("{sets}ground-truth/"), None)
        .await;
    assert_eq!(st, 400);
    let (st, _) = seg
        .call(Method::DELETE, &format!("{sets}predictions/"), None)
        .await;
    assert_eq!(st, 204);
    let (st, _) = seg.get(&format!("{sets}predictions/")).await;
    assert_eq!(st, 404);

    // Label DELETE: the sample is unlabeled again.
    let (st, _) = seg.call(Method::DELETE, &label, None).await;
    assert_eq!(st, 204);
    let (st, _) = seg.get(&label).await;
    assert_eq!(st, 404);

    // Issues.
    let (st, v) = seg
        .post(
            &format!("/samples/{a}/issues/"),
            json!({"description": "fix the car", "status": "OPEN"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        (
            v["sample_name"].clone(),
            v["updated_by"].clone(),
            v["comments"].clone()
        ),
        (json!("a.jpg"), json!("labelmux"), json!([]))
    );
    let issue = v["uuid"].as_str().unwrap().to_owned();
    let (st, v) = seg
        .call(
            Method::PATCH,
            &format!("/issues/{issue}/"),
            Some(json!({"status": "CLOSED"})),
        )
        .await;
    assert_eq!((st, v["status"].clone()), (200, json!("CLOSED")));
    let (_, v) = seg.get(&format!("/datasets/{DS}/issues/")).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (st, _) = seg
        .post(
            "/samples/602a3eec-a61c-4a77-9fcc-3037ce5e9606/issues/",
            json!({"description": "x"}),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = seg
        .call(Method::DELETE, &format!("/issues/{issue}/"), None)
        .await;
    assert_eq!(st, 204);
    let (_, v) = seg.get(&format!("/datasets/{DS}/issues/")).await;
    assert_eq!(v, json!([]));
}

#[tokio::test]
async fn lifecycle_labels_reviews_and_relabels_rejections_with_workunits() {
    let seg = Seg::start().await;
    let s = seg.bulk(DS, (0..4).map(|i| format!("s{i}.jpg"))).await;
    let p = [("project", DS)];
    assert_eq!(seg.control("advance", &p).await["moved"], 4);
    let (_, v) = seg
        .get(&format!(
            "/labels/{}/ground-truth/",
            s[0]["uuid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(v["label_status"], "LABELED");
    assert_eq!(v["created_by"], "emulator-labeler");
    let anns = v["attributes"]["annotations"].as_array().unwrap();
    // The seeded `vector` dataset has categories cat (1), road (2) and eye (3): a bbox, a
    // polygon and a point.
    assert_eq!(anns.len(), 3);
    assert_eq!(
        (anns[0]["category_id"].clone(), anns[0]["type"].clone()),
        (json!(1), json!("bbox"))
    );
    assert_eq!(
        (anns[1]["category_id"].clone(), anns[1]["type"].clone()),
        (json!(2), json!("polygon"))
    );
    assert_eq!(
        (anns[2]["category_id"].clone(), anns[2]["type"].clone()),
        (json!(3), json!("point"))
    );
    assert_eq!(seg.control("advance", &p).await["moved"], 4);
    let (_, d) = seg.get(&format!("/datasets/{DS}/")).await;
    assert_eq!(d["label_stats"]["REVIEWED"], 4);
    assert_eq!(seg.control("advance", &p).await["moved"], 0);

    let one = s[1]["uuid"].as_str().unwrap();
    let r = seg
        .http
        .post(format!("{}/_emulator/reject", seg.emu.root_url()))
        .query(&[("project", DS), ("task", one)])
        .json(&json!({"reasons": ["box too loose"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, v) = seg.get(&format!("/labels/{one}/ground-truth/")).await;
    assert_eq!(
        (v["label_status"].clone(), v["reviewed_by"].clone()),
        (json!("REJECTED"), json!("emulator-reviewer"))
    );
    let (_, issues) = seg.get(&format!("/datasets/{DS}/issues/")).await;
    assert_eq!(issues[0]["description"], "box too loose");
    assert_eq!(issues[0]["sample_uuid"], one);
    let rejected = seg.samples("label_status=REJECTED").await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(seg.control("advance", &p).await["moved"], 1);
    let (_, v) = seg.get(&format!("/labels/{one}/ground-truth/")).await;
    assert_eq!(v["label_status"], "LABELED");

    let (s2, w) = seg
        .get(&format!(
            "/datasets/{DS}/workunits/?per_page=1000&page=1&sort=-created_at&include_session_time_metrics=true"
        ))
        .await;
    assert_eq!(s2, 200);
    let w = w.as_array().unwrap();
    assert_eq!(w.len(), 9);
    assert_eq!(w[0]["work_type"], "label");
    assert_eq!(w[0]["sample_uuid"], one);
    assert!(w[0]["time"].is_u64() && w[0]["session_time_metrics"].is_object());
    let (_, old) = seg
        .get(&format!(
            "/datasets/{DS}/workunits/?end=2000-01-01T00:00:00"
        ))
        .await;
    assert_eq!(old, json!([]));

    let state: Value = seg
        .http
        .get(format!("{}/_emulator/state", seg.emu.root_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["vendor"], "segments");
    assert_eq!(state["projects"][DS]["tasks"], 4);
    assert_eq!(state["projects"][DS]["states"]["REVIEWED"], 3);
    assert_eq!(state["projects"][DS]["states"]["LABELED"], 1);
    assert_eq!(seg.control("finish", &p).await["moved"], 1);
    seg.control("reset", &[]).await;
    assert_eq!(seg.emu.control().task_count(DS), 0);
}

#[tokio::test]
async fn seed_control_fills_a_dataset_that_the_lifecycle_then_labels() {
    let seg = Seg::start().await;
    let seed = |q: &str, body: &'static str| {
        seg.http
            .post(format!("{}/_emulator/seed{q}", seg.emu.root_url()))
            .body(body)
            .send()
    };
    let (s, v) = decode(
        seed(&format!("?project={DS}"), r#"{"count": 2500}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["moved"].clone()), (200, json!(2500)), "{v}");
    let page3 =
        format!("/datasets/{DS}/samples/?per_page=1000&page=3&sort=name&labelset=ground-truth");
    let (_, page) = seg.get(&page3).await;
    assert_eq!(page.as_array().map(Vec::len), Some(500));
    let (s, v) = decode(
        seed(
            &format!("?project={DS}"),
            r#"{"count": 2600, "prefix": "seed-"}"#,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["moved"].clone()),
        (200, json!(100)),
        "taken names are skipped: {v}"
    );
    for (q, body, status) in [
        (format!("?project={DS}"), r#"{"count": "many"}"#, 400),
        (format!("?project={DS}"), r#"{"count": 1, "extra": 1}"#, 400),
        ("?project=labelmux/nope".to_owned(), r#"{"count": 1}"#, 404),
        (format!("?project={DS}"), r#"{"count": 10000001}"#, 409),
    ] {
        let (s, v) = decode(seed(&q, body).await.unwrap()).await;
        assert_eq!(s, status, "{q} {body}: {v}");
    }
    // The same listing after a write: the emulator's cached order of the first is stale.
    let (_, page) = seg.get(&page3).await;
    let page = page.as_array().cloned().unwrap_or_default();
    assert_eq!(page.len(), 600);
    assert_eq!(page[0]["name"], "seed-00002000");
    assert_eq!(
        page[0]["attributes"]["image"]["url"],
        "https://images.example.com/seed/seed-00002000.jpg"
    );
    assert_eq!(
        page[0]["label"],
        Value::Null,
        "seeded samples are unlabeled"
    );
    assert_eq!(
        seg.control("finish", &[("project", DS)]).await["moved"],
        2600
    );
    let (_, reviewed) = seg
        .get(&format!(
            "/datasets/{DS}/samples/?per_page=10&label_status=REVIEWED&labelset=ground-truth&include_full_label=1"
        ))
        .await;
    assert_eq!(reviewed.as_array().map(Vec::len), Some(10));
    assert!(reviewed[0]["label"]["attributes"]["annotations"].is_array());
}

#[tokio::test]
async fn releases_build_asynchronously_into_an_unauthenticated_file() {
    let seg = Seg::start().await;
    seg.bulk(DS, (0..3).map(|i| format!("r{i}.jpg"))).await;
    seg.control("advance", &[("project", DS)]).await;
    seg.post(
        &format!("/datasets/{DS}/labelsets/"),
        json!({"name": "model"}),
    )
    .await;
    let (s, v) = seg
        .post(
            &format!("/datasets/{DS}/releases/"),
            json!({"name": "v1", "description": "first"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (
            v["status"].clone(),
            v["attributes"].clone(),
            v["samples_count"].clone()
        ),
        (json!("PENDING"), json!({}), json!(3))
    );
    let (s, _) = seg
        .post(&format!("/datasets/{DS}/releases/"), json!({"name": "v1"}))
        .await;
    assert_eq!(s, 400);
    let deadline = Instant::now() + Duration::from_secs(10);
    let release = loop {
        let (s, v) = seg.get(&format!("/datasets/{DS}/releases/v1/")).await;
        assert_eq!(s, 200);
        if v["status"] == "SUCCEEDED" {
            break v;
        }
        assert_eq!(v["status"], "PENDING");
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let url = release["attributes"]["url"].as_str().unwrap();
    let file: Value = seg
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(file["name"], "v1");
    assert_eq!(
        (
            file["dataset"]["owner"].clone(),
            file["dataset"]["name"].clone()
        ),
        (json!("labelmux"), json!("demo"))
    );
    assert_eq!(file["dataset"]["task_type"], "vector");
    let sets: Vec<&str> = file["dataset"]["labelsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(sets, ["ground-truth", "model"]);
    let samples = file["dataset"]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3);
    for s in samples {
        assert!(s["uuid"].is_string() && s["name"].is_string() && s["metadata"].is_object());
        assert_eq!(s["labels"]["ground-truth"]["label_status"], "LABELED");
        assert!(s["labels"]["ground-truth"]["attributes"]["annotations"].is_array());
        // Every labelset is a key, null where unlabeled.
        assert_eq!(s["labels"].get("model"), Some(&Value::Null));
    }
    let (_, list) = seg.get(&format!("/datasets/{DS}/releases/")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, _) = seg
        .call(
            Method::DELETE,
            &format!("/datasets/{DS}/releases/v1/"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        seg.http.get(url).send().await.unwrap().status().as_u16(),
        404
    );
}

#[tokio::test]
async fn assets_upload_through_the_presigned_post_without_a_key() {
    let seg = Seg::start().await;
    let (s, f) = seg
        .post("/assets/", json!({"filename": "violet.png"}))
        .await;
    assert_eq!(s, 201, "{f}");
    let fields = f["presignedPostFields"]["fields"].as_object().unwrap();
    for k in [
        "acl",
        "Content-Type",
        "key",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "policy",
        "x-amz-signature",
    ] {
        assert!(fields[k].is_string(), "{k}");
    }
    let upload_url = f["presignedPostFields"]["url"].as_str().unwrap();
    let mut parts: Vec<(String, Vec<u8>)> = fields
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().as_bytes().to_vec()))
        .collect();
    parts.push(("file".into(), b"\x89PNG-bytes".to_vec()));
    let r = multipart_post(&seg.http, upload_url, &parts).await;
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    let got = seg
        .http
        .get(f["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(&got.bytes().await.unwrap()[..], b"\x89PNG-bytes");
    // A key that was never granted is refused.
    let forged = [
        ("key".to_owned(), b"assets/labelmux/forged.png".to_vec()),
        ("file".to_owned(), b"x".to_vec()),
    ];
    let r = multipart_post(&seg.http, upload_url, &forged).await;
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn throttling_as_429_with_retry_after_and_as_a_2xx_notice() {
    let seg = Seg::start().await;
    seg.emu.control().set_faults(FaultConfig {
        burst_429: 1,
        retry_after_secs: 3.0,
        ..FaultConfig::default()
    });
    let r = seg.req(Method::GET, "/user").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "Request was throttled. Expected available in 3 seconds."})
    );
    seg.emu.control().set_faults(FaultConfig {
        soft_throttle_rate: 1.0,
        retry_after_secs: 1.0,
        ..FaultConfig::default()
    });
    let (s, v) = seg.get("/user").await;
    assert_eq!(s, 200);
    assert!(v["detail"].as_str().unwrap().contains("throttled"), "{v}");
    seg.emu.control().set_faults(FaultConfig::default());
    let (s, v) = seg.get("/user").await;
    assert_eq!((s, v["username"].clone()), (200, json!("labelmux")));
}

#[tokio::test]
async fn enforced_rate_limit_answers_drf_429_with_retry_after() {
    let mut config = EmulatorConfig::new(Vendor::Segments);
    config.enforce_rate_limits = true;
    let emu = start(config).await.unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = || {
        http.get(format!("{}/user", emu.base_url()))
            .header("Authorization", format!("APIKey {}", emu.api_key()))
            .send()
    };
    // Concurrent, so that all of them fall into one window even on a slow machine.
    let answers = futures::future::join_all((0..30).map(|_| get())).await;
    let mut ok = 0;
    let mut throttled = None;
    for r in answers {
        let r = r.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                let retry: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                throttled = Some((retry, r.json::<Value>().await.unwrap()));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((20..30).contains(&ok), "{ok} requests passed");
    let (retry, body) = throttled.unwrap();
    assert_eq!(retry, 1);
    assert_eq!(
        body,
        json!({"detail": "Request was throttled. Expected available in 1 second."})
    );
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(get().await.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn the_shared_lifecycle_clock_labels_and_reviews_new_samples() {
    let mut config = EmulatorConfig::new(Vendor::Segments);
    config.lifecycle = labelmux_emulator::Lifecycle::Auto {
        step: Duration::from_millis(20),
    };
    let emu = start(config).await.unwrap();
    let seg = Seg {
        emu,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    };
    seg.bulk(DS, (0..5).map(|i| format!("auto-{i}.jpg"))).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, d) = seg.get(&format!("/datasets/{DS}/")).await;
        if d["label_stats"]["REVIEWED"] == 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never reviewed: {}",
            d["label_stats"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, w) = seg.get(&format!("/datasets/{DS}/workunits/")).await;
    assert_eq!(w.as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn malformed_bodies_are_drf_400s() {
    let seg = Seg::start().await;
    let r = seg
        .req(Method::POST, &format!("/datasets/{DS}/samples/"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body("not gzip at all")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (s, v) = seg
        .call(
            Method::POST,
            &format!("/datasets/{DS}/samples/"),
            Some(json!("{")),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let r = seg
        .req(Method::POST, "/user/datasets/")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error"),
        "{v}"
    );
    let (s, v) = seg
        .post(
            &format!("/datasets/{DS}/samples_bulk/"),
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v["non_field_errors"].is_array(), "{v}");
}
