//! Drives the Labelbox emulator with plain HTTP (reqwest), sending the operations of the wire
//! specification (labelbox.md) the way the official client does.

use labelmux_emulator::{start, EmulatorConfig, FaultConfig, RunningEmulator, Vendor};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEEDED: &str = "clemudemoproject000000001";

const PROJECT_FIELDS: &str = "autoAuditNumberOfLabels autoAuditPercentage createdAt dataRowCount description editorTaskType isBenchmarkEnabled isConsensusEnabled lastActivityTime allowedMediaType modelSetupComplete name setupComplete id updatedAt uploadType";

struct Lb {
    emu: RunningEmulator,
    http: reqwest::Client,
}

impl Lb {
    async fn start() -> Self {
        Self::with(EmulatorConfig::new(Vendor::Labelbox)).await
    }

    async fn with(config: EmulatorConfig) -> Self {
        let emu = start(config).await.expect("emulator starts");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let lb = Lb { emu, http };
        // Tasks finish at once unless a test asks otherwise.
        lb.settings(json!({"task_delay_ms": 0})).await;
        lb
    }

    async fn settings(&self, body: Value) {
        let r = self
            .http
            .put(format!("{}/_labelbox/settings", self.emu.root_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn raw(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.emu.root_url()))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        decode(r).await
    }

    /// POST a GraphQL document; returns (HTTP status, body).
    async fn gql_at(&self, path: &str, query: &str, vars: Value) -> (u16, Value) {
        self.raw(
            path,
            &self.emu.api_key(),
            json!({"query": query, "variables": vars}),
        )
        .await
    }

    /// `data` of a successful GraphQL call on `/graphql`.
    async fn data(&self, query: &str, vars: Value) -> Value {
        let (status, body) = self.gql_at("/graphql", query, vars).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    /// The first error of a failing call: (HTTP status, code, message).
    async fn error(&self, query: &str, vars: Value) -> (u16, String, String) {
        let (status, body) = self.gql_at("/_gql", query, vars).await;
        let e = &body["errors"][0];
        (
            status,
            e["extensions"]["code"].as_str().unwrap_or("").to_owned(),
            e["message"].as_str().unwrap_or("").to_owned(),
        )
    }

    /// `uploadFile` as the official client sends it (GraphQL multipart request).
    async fn upload(&self, content: &[u8]) -> String {
        let boundary = "emulatortestboundary";
        let ops = json!({"variables": {"file": null, "contentLength": content.len(), "sign": false},
            "query": "mutation UploadFile($file: Upload!, $contentLength: Int!, $sign: Boolean) { uploadFile(file: $file, contentLength: $contentLength, sign: $sign) {url filename} }"});
        let mut body = Vec::new();
        for (name, value) in [
            ("operations", ops.to_string()),
            ("map", r#"{"1": ["variables.file"]}"#.to_owned()),
        ] {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
            );
        }
        // The client's chunk quirk: file name and content type swapped (§2.2).
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"1\"; filename=\"application/json\"\r\nContent-Type: json_import.json\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let r = self
            .http
            .post(format!("{}/graphql", self.emu.root_url()))
            .header("authorization", format!("Bearer {}", self.emu.api_key()))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, v) = decode(r).await;
        assert_eq!(status, 200, "{v}");
        v["data"]["uploadFile"]["url"].as_str().unwrap().to_owned()
    }

    async fn create_dataset(&self) -> String {
        let d = self
            .data(
                "mutation CreateDatasetPyApi($name: String!) { createDataset(data: {name: $name}) { createdAt description name rowCount id updatedAt } }",
                json!({"name": "D"}),
            )
            .await;
        assert_eq!(d["createDataset"]["rowCount"], 0);
        d["createDataset"]["id"].as_str().unwrap().to_owned()
    }

    /// Upload specs (one chunk + manifest), start the upsert and return the Task.
    async fn upsert(&self, specs: &Value) -> Value {
        let chunk = self.upload(specs.to_string().as_bytes()).await;
        let n = specs.as_array().map_or(0, Vec::len);
        let manifest = json!({"source": "SDK", "item_count": n, "chunk_uris": [chunk]});
        let manifest_url = self.upload(manifest.to_string().as_bytes()).await;
        self.data(
            "mutation UpsertDataRowsPyApi($manifestUri: String!) { upsertDataRows(data: { manifestUri: $manifestUri }) { id createdAt updatedAt name status completionPercentage result errors type metadata } }",
            json!({"manifestUri": manifest_url}),
        )
        .await["upsertDataRows"]
            .clone()
    }

    async fn task(&self, id: &str) -> Value {
        let user = self
            .data("query GetUserPyApi { user { id } }", json!(null))
            .await;
        let tasks = self
            .data(
                "query GetUserCreatedTasksPyApi($param_0: ID!, $param_1: ID!) { user(where: {id: $param_1}) { createdTasks(where: {id: $param_0} skip: 0 first: 100) { completionPercentage createdAt errors metadata name result status status type id updatedAt } } }",
                json!({"param_0": id, "param_1": user["user"]["id"]}),
            )
            .await;
        tasks["user"]["createdTasks"][0].clone()
    }

    async fn rows_with_keys(&self, dataset: &str, keys: &[String]) -> Vec<String> {
        let specs: Vec<Value> = keys
            .iter()
            .map(|k| json!({"id": {"type": "AUTO", "value": ""}, "payload": {"row_data": format!("https://example.com/{k}.jpg"), "global_key": k, "dataset_id": dataset}}))
            .collect();
        let task = self.upsert(&json!(specs)).await;
        assert_eq!(
            self.task(task["id"].as_str().unwrap()).await["status"],
            "COMPLETE"
        );
        keys.to_vec()
    }

    async fn create_project(&self, name: &str) -> String {
        let q = format!("mutation CreateProjectPyApi($name: String!, $allowedMediaType: MediaType!, $autoAuditPercentage: Float!, $autoAuditNumberOfLabels: Int!, $isBenchmarkEnabled: Boolean!, $isConsensusEnabled: Boolean!) {{ createProject(data: {{name: $name allowedMediaType: $allowedMediaType autoAuditPercentage: $autoAuditPercentage autoAuditNumberOfLabels: $autoAuditNumberOfLabels isBenchmarkEnabled: $isBenchmarkEnabled isConsensusEnabled: $isConsensusEnabled}}) {{ {PROJECT_FIELDS} }} }}");
        let d = self
            .data(&q, json!({"name": name, "allowedMediaType": "IMAGE", "autoAuditPercentage": 0, "autoAuditNumberOfLabels": 3, "isBenchmarkEnabled": true, "isConsensusEnabled": true}))
            .await;
        d["createProject"]["id"].as_str().unwrap().to_owned()
    }

    async fn batch(&self, project: &str, name: &str, keys: &[String]) -> Value {
        self.data(
            "mutation createBatchV2PyApi($projectId: ID!, $batchInput: CreateBatchInput!) { project(where: {id: $projectId}) { createBatchV2(input: $batchInput) { batch { consensusSettingsJson createdAt name size id updatedAt } failedDataRowIds } } }",
            json!({"projectId": project, "batchInput": {"name": name, "dataRowIds": [], "globalKeys": keys, "priority": 2, "consensusSettings": null}}),
        )
        .await["project"]["createBatchV2"]
            .clone()
    }

    async fn counts(&self, project: &str) -> Value {
        let d = self
            .data(
                "query ProjectGetOverviewPyApi($projectId: ID!, $batchIds: [String!], $countInput: DataRowCountQueryInput, $includeIssues: Boolean!) { project(where: { id: $projectId }) { workstreamStateCounts(batchIds: $batchIds) { state count } taskQueues { queueType name dataRowCount(input: $countInput) } issues @include(if: $includeIssues) { totalCount } completedDataRowCount } }",
                json!({"projectId": project, "batchIds": null, "includeIssues": true, "countInput": null}),
            )
            .await;
        let mut out = serde_json::Map::new();
        for c in d["project"]["workstreamStateCounts"].as_array().unwrap() {
            out.insert(c["state"].as_str().unwrap().to_owned(), c["count"].clone());
        }
        for q in d["project"]["taskQueues"].as_array().unwrap() {
            out.insert(
                q["queueType"].as_str().unwrap().to_owned(),
                q["dataRowCount"].clone(),
            );
        }
        out.insert(
            "issues".into(),
            d["project"]["issues"]["totalCount"].clone(),
        );
        Value::Object(out)
    }

    /// Run a project export and read the RESULT stream the way the streamable reader does.
    async fn export(&self, project: &str, query: Value) -> Vec<Value> {
        let d = self
            .data(
                "mutation exportDataRowsInProjectPyApi($input: ExportDataRowsInProjectInput!) { exportDataRowsInProject(input: $input) { taskId isStreamable } }",
                json!({"input": {"taskName": null, "isStreamableReady": true, "streamable": true,
                    "filters": {"projectId": project, "searchQuery": {"scope": null, "query": query}},
                    "params": {"includeLabelDetails": true, "includeProjectDetails": true, "includePerformanceDetails": true, "includeDataRowDetails": true, "mediaTypeOverride": null}}}),
            )
            .await;
        let task = d["exportDataRowsInProject"]["taskId"]
            .as_str()
            .unwrap()
            .to_owned();
        let t = self.task(&task).await;
        assert_eq!(t["type"], "export-data-rows");
        assert_eq!(t["status"], "COMPLETE");
        assert_eq!(t["errors"], Value::Null);
        let header = |stream: &str| {
            self.data(
                "query GetExportMetadataHeaderPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!) { task(where: $where) { exportMetadataHeader(streamType: $streamType) { totalSize totalLines } } }",
                json!({"where": {"id": task}, "streamType": stream}),
            )
        };
        assert_eq!(
            header("ERRORS").await["task"]["exportMetadataHeader"],
            Value::Null
        );
        let h = header("RESULT").await["task"]["exportMetadataHeader"].clone();
        if h.is_null() {
            return Vec::new();
        }
        let total = h["totalSize"].as_u64().unwrap();
        let mut offset = 0u64;
        let mut bytes = Vec::new();
        while offset < total {
            let c = self
                .data(
                    "query GetExportFileFromOffsetPyApi($where: WhereUniqueIdInput, $streamType: TaskStreamType!, $offset: UInt64!) { task(where: $where) { exportFileFromOffset(streamType: $streamType, offset: $offset) { offsets {start end} lines {start end} file } } }",
                    json!({"where": {"id": task}, "streamType": "RESULT", "offset": offset.to_string()}),
                )
                .await["task"]["exportFileFromOffset"]
                .clone();
            let (start, end) = (
                c["offsets"]["start"].as_u64().unwrap(),
                c["offsets"]["end"].as_u64().unwrap(),
            );
            assert_eq!(start, offset);
            // A pre-signed URL: no Authorization header.
            let body = self
                .http
                .get(c["file"].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(body.len() as u64, end - start + 1);
            bytes.extend_from_slice(&body);
            offset = end + 1;
        }
        let lines: Vec<Value> = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len() as u64, h["totalLines"].as_u64().unwrap());
        lines
    }
}

async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:05}")).collect()
}

#[tokio::test]
async fn identity_on_both_endpoints_and_transport_errors() {
    let lb = Lb::start().await;
    for path in ["/graphql", "/_gql"] {
        let (status, body) = lb
            .gql_at(path, "query GetUserPyApi { user { createdAt email isExternalUser isViewer lastLoginAt nickname name picture id updatedAt } }", json!({}))
            .await;
        assert_eq!(status, 200);
        let id = body["data"]["user"]["id"].as_str().unwrap();
        assert_eq!(id.len(), 25);
        assert!(id.starts_with('c'));
        assert!(body["data"]["user"]["createdAt"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
    }
    let org = lb
        .data(
            "query GetOrganizationPyApi { organization { createdAt name id updatedAt } }",
            json!(null),
        )
        .await;
    assert!(org["organization"]["id"].is_string());
    let tz = lb
        .data("query CurrentUserPyApi { user { timezone } }", json!(null))
        .await;
    assert_eq!(tz["user"]["timezone"], Value::Null);

    let (status, body) = lb
        .raw("/graphql", "wrong", json!({"query": "{ user { id } }"}))
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "AUTHENTICATION_ERROR"
    );

    let (status, code, message) = lb.error("asda", json!(null)).await;
    assert_eq!((status, code.as_str()), (400, "GRAPHQL_PARSE_FAILED"));
    assert_eq!(message, "Syntax Error: Unexpected Name \"asda\".");
    let (status, code, message) = lb.error("query {bbb {id}}", json!(null)).await;
    assert_eq!((status, code.as_str()), (400, "GRAPHQL_VALIDATION_FAILED"));
    assert_eq!(message, "Cannot query field \"bbb\" on type \"Query\".");
    let (_, code, message) = lb
        .error(
            "{projects {datasets {dataRows {labels {id}}}}}",
            json!(null),
        )
        .await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "GRAPHQL_VALIDATION_FAILED",
            "Query complexity limit exceeded"
        )
    );

    // Unknown and malformed project ids: null, not a validation error (§3.2).
    for id in ["clnosuchproject0000000000", "invalid project ID"] {
        let d = lb.data("query GetProjectPyApi($param_0: ID!) { project(where: {id: $param_0}) { id name } }", json!({"param_0": id})).await;
        assert_eq!(d["project"], Value::Null);
    }
    let (_, code, _) = lb
        .error("mutation { project(where: {id: \"nope\"}) { connectOntology(ontologyId: \"x\") { id } } }", json!(null))
        .await;
    assert_eq!(code, "RESOURCE_NOT_FOUND");
    let d = lb.data("query GetMetadataOntologyBetaPyApi { customMetadataOntology { id name kind reserved options { id kind name reserved } } }", json!(null)).await;
    assert_eq!(d["customMetadataOntology"][0]["name"], "tag");
    assert_eq!(
        d["customMetadataOntology"][0]["id"].as_str().unwrap().len(),
        25
    );
}

#[tokio::test]
async fn data_rows_upload_duplicates_paging_and_lookups() {
    let lb = Lb::start().await;
    lb.settings(json!({"task_delay_ms": 300})).await;
    let ds = lb.create_dataset().await;
    let mut specs: Vec<Value> = keys("gk", 1200)
        .iter()
        .map(|k| json!({"id": {"type": "AUTO", "value": ""}, "payload": {"row_data": format!("https://example.com/{k}.jpg"), "global_key": k, "external_id": format!("{k}.jpg"), "dataset_id": ds}}))
        .collect();
    specs.push(json!({"id": {"type": "AUTO", "value": ""}, "payload": {"row_data": "https://example.com/dup.jpg", "global_key": "gk-00003", "external_id": "dup", "dataset_id": ds}}));
    let task = lb.upsert(&json!(specs)).await;
    assert_eq!(task["type"], "adv-upsert-data-rows");
    assert_eq!(task["status"], "IN_PROGRESS");
    let id = task["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let t = lb.task(&id).await;
    assert_eq!(t["status"], "COMPLETE");
    assert_eq!(t["completionPercentage"], 1.0);

    let failed = lb
        .data(
            "query FailedDataRowImportsPyApi($taskId: ID!, $first: Int, $from: String) { failedDataRowImports(data: { taskId: $taskId, first: $first, from: $from }) { after total results { message spec { externalId globalKey rowData metadata { schemaId value name } attachments { type value name } } } } }",
            json!({"taskId": id, "first": 5000, "from": null}),
        )
        .await;
    let f = &failed["failedDataRowImports"];
    assert_eq!(f["total"], 1);
    assert_eq!(
        f["results"][0]["message"],
        "Duplicate global key: 'gk-00003'"
    );
    assert_eq!(f["results"][0]["spec"]["externalId"], "dup");
    let mut seen = 0;
    let mut from = Value::Null;
    loop {
        let ok = lb
            .data(
                "query SuccessesfulDataRowImportsPyApi($taskId: ID!, $first: Int, $from: String) { successesfulDataRowImports(data: { taskId: $taskId, first: $first, from: $from }) { nodes { id externalId globalKey rowData } after total } }",
                json!({"taskId": id, "first": 500, "from": from}),
            )
            .await;
        let s = &ok["successesfulDataRowImports"];
        assert_eq!(s["total"], 1200);
        seen += s["nodes"].as_array().unwrap().len();
        from = s["after"].clone();
        if from.is_null() {
            break;
        }
    }
    assert_eq!(seen, 1200);

    // The first row keeps its key; the dataset lists 1,200 rows newest first with
    // `customMetadata: []`, paged by `startCursor`.
    let mut rows = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let d = lb
            .data(
                "query DatasetDataRowsPyApi($id: ID!, $from: ID, $first: Int, $where: DatasetDataRowWhereInput) { datasetDataRows(id: $id, from: $from, first: $first, where: $where) { nodes { createdAt externalId globalKey mediaAttributes customMetadata { schemaId value } metadataFields { schemaId name value kind } rowData id updatedAt } pageInfo { hasNextPage startCursor } } }",
                json!({"id": ds, "from": cursor, "first": 500, "where": null}),
            )
            .await;
        let page = &d["datasetDataRows"];
        for n in page["nodes"].as_array().unwrap() {
            assert_eq!(n["customMetadata"], json!([]));
            rows.push(n.clone());
        }
        cursor = page["pageInfo"]["startCursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(rows.len(), 1200);
    assert_eq!(rows[0]["globalKey"], "gk-01199", "newest first");
    let kept = rows.iter().find(|r| r["globalKey"] == "gk-00003").unwrap();
    assert_eq!(kept["externalId"], "gk-00003.jpg");

    let job = lb
        .data("query getDataRowsForGlobalKeysPyApi($globalKeys: [ID!]!) { dataRowsForGlobalKeys(where: {ids: $globalKeys}) { jobId } }", json!({"globalKeys": ["gk-00003", "missing"]}))
        .await;
    let res = lb
        .data(
            "query getDataRowsForGlobalKeysResultPyApi($jobId: ID!) { dataRowsForGlobalKeysResult(jobId: {id: $jobId}) { data { fetchedDataRows { id } notFoundGlobalKeys accessDeniedGlobalKeys } jobStatus } }",
            json!({"jobId": job["dataRowsForGlobalKeys"]["jobId"]}),
        )
        .await;
    let r = &res["dataRowsForGlobalKeysResult"];
    assert_eq!(r["jobStatus"], "COMPLETE");
    assert_eq!(
        r["data"]["fetchedDataRows"],
        json!([{"id": kept["id"]}, {"id": ""}])
    );
    assert_eq!(r["data"]["notFoundGlobalKeys"], json!(["missing"]));

    let processed = lb
        .data("query CheckAllDataRowsHaveBeenProcessedPyApi($globalKeys: [ID!]) { queryAllDataRowsHaveBeenProcessed(globalKeys:$globalKeys) { allDataRowsHaveBeenProcessed } }", json!({"globalKeys": ["gk-00001", "unknown"]}))
        .await;
    assert_eq!(
        processed["queryAllDataRowsHaveBeenProcessed"]["allDataRowsHaveBeenProcessed"],
        true
    );
    let d = lb
        .data(
            "query GetDatasetPyApi($param_0: ID!) { dataset(where: {id: $param_0}) { rowCount } }",
            json!({"param_0": ds}),
        )
        .await;
    assert_eq!(d["dataset"]["rowCount"], 1200);

    // A bad manifest fails the job.
    let t = lb
        .data("mutation UpsertDataRowsPyApi($manifestUri: String!) { upsertDataRows(data: { manifestUri: $manifestUri }) { id } }", json!({"manifestUri": "https://nowhere.invalid/m.json"}))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let failed = lb.task(t["upsertDataRows"]["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "FAILED");
    // The client downloads `result` and reads `error` (Task.errors of an upsert).
    let url = failed["result"].as_str().unwrap();
    let error: Value = lb.http.get(url).send().await.unwrap().json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("manifest"),
        "{error}"
    );
}

#[tokio::test]
async fn projects_batches_overview_and_batch_errors() {
    let lb = Lb::start().await;
    let ds = lb.create_dataset().await;
    let all = lb.rows_with_keys(&ds, &keys("b", 1500)).await;
    let p = lb.create_project("P").await;
    let listed = lb
        .data(&format!("query GetProjectsPyApi($param_0: String!, $param_1: Boolean!) {{ projects(where: {{AND: [{{name: $param_0}}, {{deleted: $param_1}}]}} skip: 0 first: 100) {{ {PROJECT_FIELDS} }} }}"), json!({"param_0": "P", "param_1": false}))
        .await;
    assert_eq!(listed["projects"].as_array().unwrap().len(), 1);
    let c = lb.counts(&p).await;
    assert_eq!(c["All"], 0);
    assert_eq!(c["issues"], 0);
    assert_eq!(
        c.as_object().unwrap().len(),
        12,
        "8 states, 3 queues, issues: {c}"
    );

    let small = lb.batch(&p, "small", &all[..500]).await;
    assert_eq!(small["batch"]["size"], 500);
    assert_eq!(small["failedDataRowIds"], json!([]));

    // Above 1,000 rows: empty batch, then the async add Task.
    let e = lb
        .data("mutation createEmptyBatchPyApi($projectId: ID!, $input: CreateEmptyBatchInput!) { project(where: {id: $projectId}) { createEmptyBatch(input: $input) { id } } }", json!({"projectId": p, "input": {"name": "big", "consensusSettings": null}}))
        .await;
    let big = e["project"]["createEmptyBatch"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = lb
        .data("mutation addDataRowsToBatchAsyncPyApi($projectId: ID!, $input: AddDataRowsToBatchInput!) { project(where: {id: $projectId}) { addDataRowsToBatchAsync(input: $input) { taskId } } }", json!({"projectId": p, "input": {"batchId": big, "dataRowIds": null, "globalKeys": &all[500..], "priority": 1}}))
        .await;
    let task = lb
        .task(
            t["project"]["addDataRowsToBatchAsync"]["taskId"]
                .as_str()
                .unwrap(),
        )
        .await;
    assert_eq!(
        (task["type"].as_str(), task["status"].as_str()),
        (Some("add-data-rows-to-batch"), Some("COMPLETE"))
    );
    let one = lb
        .data("query getProjectBatchPyApi($projectId: ID!, $batchId: ID!) { project(where: {id: $projectId}) { batches(where: {id: $batchId}) { nodes { consensusSettingsJson createdAt name size id updatedAt } } } }", json!({"projectId": p, "batchId": big}))
        .await;
    assert_eq!(one["project"]["batches"]["nodes"][0]["size"], 1000);

    // Cursor paging of batches, one per page.
    let mut names = Vec::new();
    let mut from = Value::Null;
    loop {
        let page = lb
            .gql_at("/_gql", "query GetProjectBatchesPyApi($from: String, $first: PageSize, $projectId: ID!) { project(where: {id: $projectId}) { id batches(after: $from, first: $first) { nodes { consensusSettingsJson createdAt name size id updatedAt } pageInfo { endCursor } } } }", json!({"projectId": p, "from": from, "first": 1}))
            .await
            .1;
        let b = &page["data"]["project"]["batches"];
        names.extend(
            b["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["name"].clone()),
        );
        from = b["pageInfo"]["endCursor"].clone();
        if from.is_null() {
            break;
        }
    }
    assert_eq!(names, vec![json!("small"), json!("big")]);

    let c = lb.counts(&p).await;
    assert_eq!(
        (
            c["Unlabeled"].clone(),
            c["All"].clone(),
            c["INITIAL_LABELING_QUEUE"].clone()
        ),
        (json!(1500), json!(1500), json!(1500))
    );

    // Errors of §10.2.
    let create = "mutation createBatchV2PyApi($projectId: ID!, $batchInput: CreateBatchInput!) { project(where: {id: $projectId}) { createBatchV2(input: $batchInput) { batch { id } failedDataRowIds } } }";
    let (_, code, _) = lb.error(create, json!({"projectId": p, "batchInput": {"name": "small", "globalKeys": ["x"], "priority": 5}})).await;
    assert_eq!(code, "RESOURCE_CONFLICT");
    let (_, code, message) = lb.error(create, json!({"projectId": p, "batchInput": {"name": "n1", "globalKeys": ["key1"], "priority": 5}})).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "MALFORMED_REQUEST",
            "Data rows with the following global keys do not exist: key1."
        )
    );
    let (_, code, _) = lb.error(create, json!({"projectId": p, "batchInput": {"name": "n2", "dataRowIds": ["a", "b", "c"], "priority": 5}})).await;
    assert_eq!(code, "MALFORMED_REQUEST");
    let (_, code, message) = lb.error(create, json!({"projectId": p, "batchInput": {"name": "n3", "globalKeys": &all[..3], "priority": 5}})).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("MALFORMED_REQUEST", "No valid data rows to add to project")
    );
    for priority in [json!("abcd"), Value::Null] {
        let (status, code, _) = lb.error(create, json!({"projectId": p, "batchInput": {"name": "n4", "globalKeys": ["x"], "priority": priority}})).await;
        assert_eq!((status, code.as_str()), (400, "GRAPHQL_VALIDATION_FAILED"));
    }

    // Archive removes queued rows; delete works on an unlabeled batch.
    let archive = lb
        .gql_at("/_gql", "mutation RemoveQueuedDataRowsFromBatchPyApi($projectId: ID!, $batchId: ID!) { project(where: {id: $projectId}) { removeQueuedDataRowsFromBatch(batchId: $batchId) { id } } }", json!({"projectId": p, "batchId": small["batch"]["id"]}))
        .await;
    assert_eq!(archive.0, 200, "{}", archive.1);
    assert_eq!(lb.counts(&p).await["Unlabeled"], 1000);
    let del = lb
        .gql_at("/_gql", "mutation DeleteBatchPyApi($projectId: ID!, $batchId: ID!) { project(where: {id: $projectId}) { deleteBatch(batchId: $batchId) { deletedBatchId } } }", json!({"projectId": p, "batchId": big}))
        .await;
    assert_eq!(
        del.1["data"]["project"]["deleteBatch"]["deletedBatchId"],
        json!(big)
    );
    assert_eq!(lb.counts(&p).await["All"], 0);
}

#[tokio::test]
async fn lifecycle_exports_rework_and_label_versions() {
    let lb = Lb::start().await;
    let ds = lb.create_dataset().await;
    let ks = lb.rows_with_keys(&ds, &keys("l", 30)).await;
    let p = SEEDED;
    lb.batch(p, "b1", &ks).await;
    let control = lb.emu.control();
    assert_eq!(control.task_count(p), 30);
    assert_eq!(control.advance(p), 30);
    let c = lb.counts(p).await;
    assert_eq!(
        (
            c["InReview"].clone(),
            c["Labeled"].clone(),
            c["MANUAL_REVIEW_QUEUE"].clone()
        ),
        (json!(30), json!(30), json!(30))
    );
    assert_eq!(control.advance(p), 30);
    let c = lb.counts(p).await;
    assert_eq!(c["Done"], 30);

    let lines = lb.export(p, json!([])).await;
    assert_eq!(lines.len(), 30);
    let entry = &lines[0]["projects"][p];
    assert_eq!(entry["project_details"]["workflow_status"], "DONE");
    assert_eq!(entry["project_details"]["batch_name"], "b1");
    let label = &entry["labels"][0];
    let kinds: Vec<&str> = label["annotations"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["annotation_kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ImageBoundingBox", "ImagePolygon", "ImagePoint"]);
    assert!(label["annotations"]["objects"][0]["bounding_box"]["top"].is_number());
    assert_eq!(
        label["annotations"]["classifications"][0]["radio_answer"]["value"],
        "sunny"
    );
    assert_eq!(
        label["annotations"]["classifications"][1]["text_answer"]["content"],
        "emulated answer"
    );
    let updated = label["label_details"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(updated.ends_with("+00:00"));

    // Send 3 rows to rework through the queue move, by global key.
    let queues = lb
        .gql_at("/_gql", "query GetProjectTaskQueuesPyApi($projectId: ID!) { project(where: {id: $projectId}) { taskQueues { dataRowCount description name queueType id } } }", json!({"projectId": p}))
        .await
        .1;
    let qs = queues["data"]["project"]["taskQueues"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(qs.len(), 3);
    let rework = qs
        .iter()
        .find(|q| q["queueType"] == "MANUAL_REWORK_QUEUE")
        .unwrap()["id"]
        .clone();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let watermark = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+0000")
        .to_string();
    let moved = lb
        .gql_at("/_gql", "mutation AddDataRowsToTaskQueueAsyncPyApi($projectId: ID!, $queueId: ID, $dataRowIdentifiers: AddRowsToTaskQueueViaDataRowIdentifiersInput!) { project(where: { id: $projectId }) { createBulkAddRowsToQueueTask(data: { queueId: $queueId, dataRowIdentifiers: $dataRowIdentifiers }) { taskId } } }", json!({"projectId": p, "queueId": rework, "dataRowIdentifiers": {"ids": &ks[..3], "idType": "GKEY"}}))
        .await
        .1;
    let t = lb
        .task(
            moved["data"]["project"]["createBulkAddRowsToQueueTask"]["taskId"]
                .as_str()
                .unwrap(),
        )
        .await;
    assert_eq!(
        (t["type"].as_str(), t["status"].as_str()),
        (Some("send-to-task-queue"), Some("COMPLETE"))
    );
    assert_eq!(lb.counts(p).await["InRework"], 3);
    let in_rework = lb
        .export(
            p,
            json!([{"type": "task_queue_status", "status": "InRework"}]),
        )
        .await;
    assert_eq!(in_rework.len(), 3);
    assert_eq!(
        in_rework[0]["projects"][p]["project_details"]["workflow_status"],
        "IN_REWORK"
    );

    // The reject control sends one more back; relabeling updates the labels.
    assert_eq!(control.reject(p, Some(&ks[10]), &[]), Ok(1));
    assert!(
        control.reject(p, Some(&ks[10]), &[]).is_err(),
        "already in rework"
    );
    assert_eq!(control.finish_all(p), 4);
    let changed = lb
        .export(p, json!([{"type": "data_row_last_activity_at", "value": {"operator": "GREATER_THAN_OR_EQUAL", "timezone": "UTC", "value": watermark}}]))
        .await;
    let mut got: Vec<&str> = changed
        .iter()
        .map(|l| l["data_row"]["global_key"].as_str().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, vec![ks[0].as_str(), &ks[1], &ks[2], &ks[10]]);
    for l in &changed {
        let label = &l["projects"][p]["labels"][0];
        assert!(label["label_details"]["updated_at"].as_str().unwrap() > updated.as_str());
        assert_eq!(l["projects"][p]["labels"].as_array().unwrap().len(), 1);
    }
    // An export that matches nothing has no RESULT header.
    let none = lb.export(p, json!([{"type": "labeled_at", "value": {"operator": "GREATER_THAN_OR_EQUAL", "timezone": "UTC", "value": "2999-01-01 00:00:00"}}])).await;
    assert!(none.is_empty());

    // Label versions: submitted, approved, sent to rework, rework submitted...
    let v = lb
        .data("query GetLabelVersionsPyApi($where: LabelVersionsWhereInput!, $first: Int, $from: String) { labelVersions(where: $where, first: $first, after: $from) { nodes { id labelId dataRowId projectId action createdAt createdById stage { taskQueueId name type } annotationCount label labelJson } nextCursor } }", json!({"where": {"projectId": p, "createdAfter": "2000-01-01T00:00:00.000Z"}, "first": 100, "from": null}))
        .await;
    let nodes = v["labelVersions"]["nodes"].as_array().unwrap();
    let count = |a: &str| nodes.iter().filter(|n| n["action"] == a).count();
    assert_eq!(
        (
            count("SUBMITTED"),
            count("REWORK_SUBMITTED"),
            count("SENT_TO_REWORK"),
            count("REJECTED")
        ),
        (30, 4, 4, 1)
    );
    assert!(nodes[0]["annotationCount"].as_u64().unwrap() >= 3);
    // Deliveries go through the framework counters too.
    assert_eq!(control.state()["projects"][p]["states"]["DONE"], 30);
}

#[tokio::test]
async fn consensus_control_and_batch_settings_give_several_labels() {
    let lb = Lb::start().await;
    let ds = lb.create_dataset().await;
    let ks = lb.rows_with_keys(&ds, &keys("c", 4)).await;
    let p = lb.create_project("C").await;
    let r = lb
        .http
        .post(format!(
            "{}/_labelbox/consensus?project={p}",
            lb.emu.root_url()
        ))
        .json(&json!({"labels": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    lb.batch(&p, "b", &ks[..2]).await;
    // Batch consensus settings (all rows covered) without the control.
    let b = lb
        .data("mutation createBatchV2PyApi($projectId: ID!, $batchInput: CreateBatchInput!) { project(where: {id: $projectId}) { createBatchV2(input: $batchInput) { batch { consensusSettingsJson } } } }", json!({"projectId": p, "batchInput": {"name": "b2", "globalKeys": &ks[2..], "priority": 1, "consensusSettings": {"numberOfLabels": 2, "coveragePercentage": 1.0}}}))
        .await;
    assert_eq!(
        b["project"]["createBatchV2"]["batch"]["consensusSettingsJson"]["numberOfLabels"],
        2
    );
    lb.emu.control().complete_all(&p);
    let lines = lb.export(&p, json!([])).await;
    let per_row: Vec<usize> = lines
        .iter()
        .map(|l| {
            l["projects"][p.as_str()]["labels"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(
        per_row,
        vec![3, 3, 3, 3],
        "the control overrides batch settings"
    );
    let r = lb
        .http
        .post(format!(
            "{}/_labelbox/consensus?project=nope",
            lb.emu.root_url()
        ))
        .json(&json!({"labels": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The value of a header (name case-insensitive) in the head of a raw HTTP/1.1 request.
fn header_of<'a>(request: &'a str, name: &str) -> Option<&'a str> {
    let head = &request[..request.find("\r\n\r\n").unwrap_or(request.len())];
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn ontology_connect_sequence_webhooks_and_rest() {
    let lb = Lb::start().await;
    // A receiver for webhook deliveries.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(i) = text.find("\r\n\r\n") {
                let len: usize = header_of(&text, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if buf.len() >= i + 4 + len || n == 0 {
                    break;
                }
            }
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8_lossy(&buf).to_string()
    });

    let o = lb
        .data("mutation upsertRootSchemaNodePyApi($data: UpsertOntologyInput!) { upsertOntology(data: $data) { classificationSchemaCount createdAt description mediaType name normalized objectSchemaCount id updatedAt } }", json!({"data": {"name": "O", "normalized": "{\"tools\": [{\"tool\": \"rectangle\", \"name\": \"car\"}], \"classifications\": []}", "mediaType": "IMAGE"}}))
        .await;
    let ont = &o["upsertOntology"];
    assert_eq!(ont["objectSchemaCount"], 1);
    assert_eq!(
        ont["normalized"]["tools"][0]["featureSchemaId"]
            .as_str()
            .unwrap()
            .len(),
        25
    );
    let p = lb.create_project("W").await;
    let fe = lb.data("query GetProjectLabelingFrontendPyApi($param_0: ID!) { project(where: {id: $param_0}) { labelingFrontend { description iframeUrlPath name id } } }", json!({"param_0": p})).await;
    assert_eq!(fe["project"]["labelingFrontend"], Value::Null);
    let editors = lb.data("query GetLabelingFrontendsPyApi($param_0: String!, $param_1: Boolean!) { labelingFrontends(where: {AND: [{name: $param_0}, {deleted: $param_1}]} skip: 0 first: 100) { description iframeUrlPath name id } }", json!({"param_0": "Editor", "param_1": false})).await;
    let editor = editors["labelingFrontends"][0]["id"].clone();
    lb.data("mutation ConnectProjectAndLabelingFrontendPyApi($projectId: ID!, $labelingFrontendId: ID!) { updateProject(where: {id: $projectId} data: {labelingFrontend: {connect: {id: $labelingFrontendId}}}) { id } }", json!({"projectId": p, "labelingFrontendId": editor})).await;
    lb.data("mutation CreateLabelingFrontendOptionsPyApi($project: ID!, $labelingFrontend: ID!, $customizationOptions: String!) { createLabelingFrontendOptions(data: {project: {connect: {id: $project}} labelingFrontend: {connect: {id: $labelingFrontend}} customizationOptions: $customizationOptions}) { customizationOptions id } }", json!({"project": p, "labelingFrontend": editor, "customizationOptions": "{\"tools\": [], \"classifications\": []}"})).await;
    lb.data("mutation ConnectOntologyPyApi($projectId: ID!, $ontologyId: ID!) { project(where: {id: $projectId}) { connectOntology(ontologyId: $ontologyId) { id } } }", json!({"projectId": p, "ontologyId": ont["id"]})).await;
    let back = lb.data("query GetProjectOntologyPyApi($param_0: ID!) { project(where: {id: $param_0}) { ontology { id name } labelingFrontend { name } } }", json!({"param_0": p})).await;
    assert_eq!(back["project"]["ontology"]["id"], ont["id"]);
    assert_eq!(back["project"]["labelingFrontend"]["name"], "Editor");

    // Webhook created with literals (as the official client does), then a label fires it.
    let q = format!("mutation CreateWebhookPyApi {{ createWebhook(data:{{project:{{id:\"{p}\"}}, topics:{{set:[LABEL_CREATED LABEL_UPDATED]}}, url:\"{hook_url}\", secret:\"s3cr3t\" }}) {{ createdAt status topics id updatedAt url }} }}");
    let w = lb.data(&q, json!(null)).await;
    assert_eq!(w["createWebhook"]["status"], "ACTIVE");
    assert_eq!(
        w["createWebhook"]["topics"],
        json!(["LABEL_CREATED", "LABEL_UPDATED"])
    );
    let listed = lb.data("query GetProjectWebhooksPyApi($param_0: ID!) { project(where: {id: $param_0}) { webhooks(skip: 0 first: 100) { id status } } }", json!({"param_0": p})).await;
    assert_eq!(listed["project"]["webhooks"].as_array().unwrap().len(), 1);
    let ds = lb.create_dataset().await;
    let ks = lb.rows_with_keys(&ds, &keys("w", 1)).await;
    lb.batch(&p, "b", &ks).await;
    lb.emu.control().advance(&p);
    let request = tokio::time::timeout(Duration::from_secs(10), received)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        header_of(&request, "x-labelbox-event"),
        Some("LABEL_CREATED"),
        "{request}"
    );
    let sha1 = header_of(&request, "x-hub-signature").unwrap_or_default();
    assert!(sha1.starts_with("sha1="), "{request}");
    let sha256 = header_of(&request, "x-hub-signature-256").unwrap_or_default();
    assert!(sha256.starts_with("sha256="), "{request}");
    let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
    let payload: Value = serde_json::from_str(body).unwrap();
    assert!(payload["label"].is_string());
    assert_eq!(payload["project"]["id"], json!(p));
    let id = w["createWebhook"]["id"].as_str().unwrap();
    let off = lb.data(&format!("mutation UpdateWebhookPyApi {{ updateWebhook(where: {{id: \"{id}\"}} data:{{status: INACTIVE}}) {{ status }} }}"), json!(null)).await;
    assert_eq!(off["updateWebhook"]["status"], "INACTIVE");

    // REST: an ontology in use cannot be deleted; an unused one can.
    let rest = |m: reqwest::Method, path: &str| {
        lb.http
            .request(m, format!("{}/api/v1{path}", lb.emu.root_url()))
            .header("authorization", format!("Bearer {}", lb.emu.api_key()))
    };
    let r = rest(
        reqwest::Method::DELETE,
        &format!("/ontologies/{}", ont["id"].as_str().unwrap()),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 409);
    let unused = lb.data("mutation upsertRootSchemaNodePyApi($data: UpsertOntologyInput!) { upsertOntology(data: $data) { id } }", json!({"data": {"name": "U", "normalized": "{}"}})).await;
    let uid = unused["upsertOntology"]["id"].as_str().unwrap();
    let list: Vec<String> = rest(reqwest::Method::GET, "/ontologies/unused")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.contains(&uid.to_owned()));
    let r = rest(reqwest::Method::DELETE, &format!("/ontologies/{uid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = lb
        .http
        .delete(format!("{}/api/v1/ontologies/{uid}", lb.emu.root_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn injected_faults_rate_limits_and_graphql_errors() {
    let lb = Lb::start().await;
    let control = lb.emu.control();
    control.set_faults(FaultConfig {
        burst_429: 1,
        ..FaultConfig::default()
    });
    let (status, body) = lb.gql_at("/graphql", "{ user { id } }", json!(null)).await;
    assert_eq!(status, 429);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("You have exceeded"),
        "{body}"
    );
    control.set_faults(FaultConfig {
        internal_rate: 1.0,
        ..FaultConfig::default()
    });
    assert_eq!(
        lb.gql_at("/graphql", "{ user { id } }", json!(null))
            .await
            .0,
        500
    );
    control.set_faults(FaultConfig::default());

    let r = lb.http.put(format!("{}/_labelbox/graphql-faults", lb.emu.root_url())).json(&json!({"code": "INTERNAL_SERVER_ERROR", "status": 426, "message": "LBU limit exceeded, upgrade to continue", "count": 1})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = lb.gql_at("/graphql", "{ user { id } }", json!(null)).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["exception"]["status"], 426);
    assert_eq!(
        body["errors"][0]["message"],
        "LBU limit exceeded, upgrade to continue"
    );
    assert_eq!(
        lb.gql_at("/graphql", "{ user { id } }", json!(null))
            .await
            .1["errors"],
        Value::Null,
        "count ran out"
    );

    // Enforced rate limits answer 429 with the message the client maps to ApiLimitError.
    let mut config = EmulatorConfig::new(Vendor::Labelbox);
    config.enforce_rate_limits = true;
    let limited = Lb::with(config).await;
    let mut last = 0;
    for _ in 0..5_001 {
        last = limited
            .raw("/graphql", "k", json!({"query": "{ user { id } }"}))
            .await
            .0;
    }
    assert_eq!(last, 429);
}
