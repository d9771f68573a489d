//! The GraphQL helpers against a local server: typed queries and mutations built by
//! `graphql_client`'s derive over a small schema, the untyped form, retries per kind of
//! document, `errors[]` in a 200 through a success check, and answers without data.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use graphql_client::GraphQLQuery;
use labelmux_core::transport::graphql::{execute_raw, mutate, query};
use labelmux_core::transport::{
    default_classifier, Auth, RetryMode, SecretString, Transport, TransportConfig, VendorError,
};
use labelmux_core::{ErrorKind, Vendor};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

type DateTime = String;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "tests/data/schema.graphql",
    query_path = "tests/data/operations.graphql",
    response_derives = "Debug, PartialEq"
)]
struct GetProject;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "tests/data/schema.graphql",
    query_path = "tests/data/operations.graphql",
    response_derives = "Debug, PartialEq"
)]
struct CreateProject;

/// Scripted answers (status, body) in order, the last repeated; records each request body.
#[derive(Clone)]
struct Server {
    answers: Arc<Vec<(u16, Value)>>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn graphql(State(s): State<Server>, Json(body): Json<Value>) -> impl IntoResponse {
    let mut bodies = s.bodies.lock().unwrap();
    let n = bodies.len();
    bodies.push(body);
    let (status, answer) = s.answers[n.min(s.answers.len() - 1)].clone();
    (StatusCode::from_u16(status).unwrap(), Json(answer))
}

async fn serve(answers: Vec<(u16, Value)>) -> (Transport, Server) {
    let s = Server {
        answers: Arc::new(answers),
        bodies: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .route("/graphql", post(graphql))
        .route("/_gql", post(graphql))
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let cfg = TransportConfig {
        initial_backoff_ms: 5,
        max_backoff_ms: 10,
        ..TransportConfig::fast_for_tests()
    };
    let t = Transport::new(
        Vendor::Labelbox,
        &format!("http://{addr}/"),
        Auth::Bearer(SecretString::from("lb-key")),
        cfg,
        default_classifier,
    )
    .unwrap()
    .with_success_check(graphql_errors);
    (t, s)
}

/// `errors[]` in a 200: INTERNAL_SERVER_ERROR is temporary, anything else permanent.
fn graphql_errors(_status: u16, body: &[u8]) -> Option<VendorError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let first = v.get("errors")?.as_array()?.first()?;
    let code = first["extensions"]["code"].as_str().unwrap_or("");
    Some(VendorError {
        kind: Some(if code == "INTERNAL_SERVER_ERROR" {
            ErrorKind::Internal
        } else {
            ErrorKind::InvalidRequest
        }),
        message: first["message"].as_str().unwrap_or("").to_owned(),
        code: Some(code.to_owned()),
        retry_after: None,
    })
}

fn project() -> Value {
    json!({"project": {"id": "clp1", "name": "Cats", "createdAt": "2024-05-06T07:08:09.123Z",
                       "labelCount": 3, "unknownExtra": true}})
}

#[tokio::test]
async fn a_typed_query_sends_document_variables_and_name_and_decodes_data() {
    let (t, s) = serve(vec![(200, json!({"data": project()}))]).await;
    let data = query::<GetProject>(
        &t,
        "graphql",
        "get_project",
        get_project::Variables { id: "clp1".into() },
    )
    .await
    .unwrap();
    let p = data.project.unwrap();
    assert_eq!((p.id.as_str(), p.name.as_str()), ("clp1", "Cats"));
    assert_eq!(p.label_count, Some(3));
    let sent = s.bodies.lock().unwrap()[0].clone();
    assert_eq!(sent["variables"], json!({"id": "clp1"}));
    assert_eq!(sent["operationName"], "GetProject");
    assert!(sent["query"]
        .as_str()
        .unwrap()
        .contains("query GetProject($id: ID!)"));
}

#[tokio::test]
async fn queries_are_resent_on_temporary_failures_mutations_only_when_allowed() {
    let internal = json!({"data": null, "errors": [{"message": "boom",
        "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]});
    let created = json!({"data": {"createProject": {"id": "clp2", "name": "Dogs",
        "createdAt": "2024-05-06T07:08:09.123Z"}}});
    // A query: a 502, then errors[] in a 200, then data.
    let (t, s) = serve(vec![
        (502, json!({})),
        (200, internal.clone()),
        (200, json!({"data": project()})),
    ])
    .await;
    let data = query::<GetProject>(
        &t,
        "graphql",
        "get_project",
        get_project::Variables { id: "clp1".into() },
    )
    .await
    .unwrap();
    assert!(data.project.is_some());
    assert_eq!(s.bodies.lock().unwrap().len(), 3);

    // A mutation that may have run is not resent by default…
    let (t, s) = serve(vec![(200, internal.clone()), (200, created.clone())]).await;
    let vars = || create_project::Variables {
        name: "Dogs".into(),
        description: None,
    };
    let err = mutate::<CreateProject>(
        &t,
        "_gql",
        "create_project",
        vars(),
        RetryMode::OnlyIfNotProcessed,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(err.vendor_code(), Some("INTERNAL_SERVER_ERROR"));
    assert_eq!(err.operation(), Some("create_project"));
    assert_eq!(s.bodies.lock().unwrap().len(), 1);
    // …but is when the caller knows it to be idempotent.
    let (t, s) = serve(vec![(200, internal), (200, created)]).await;
    let data = mutate::<CreateProject>(&t, "_gql", "create_project", vars(), RetryMode::Idempotent)
        .await
        .unwrap();
    assert_eq!(data.create_project.id, "clp2");
    assert_eq!(s.bodies.lock().unwrap().len(), 2);
    assert_eq!(
        s.bodies.lock().unwrap()[0]["variables"]["description"],
        Value::Null
    );
}

#[tokio::test]
async fn a_permanent_graphql_error_is_not_resent() {
    let (t, s) = serve(vec![(
        200,
        json!({"errors": [{"message": "Cannot query field \"bbb\"",
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}),
    )])
    .await;
    let err = query::<GetProject>(
        &t,
        "graphql",
        "get_project",
        get_project::Variables { id: "x".into() },
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.message().contains("Cannot query field"), "{err}");
    assert_eq!(s.bodies.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn missing_or_null_data_and_mistyped_data_are_decode_errors() {
    for answer in [
        json!({}),
        json!({"data": null}),
        json!({"data": {"project": {"id": 5}}}),
    ] {
        let (t, _s) = serve(vec![(200, answer.clone())]).await;
        let err = query::<GetProject>(
            &t,
            "graphql",
            "get_project",
            get_project::Variables { id: "x".into() },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{answer}: {err}");
        assert_eq!(err.vendor(), Some(Vendor::Labelbox));
        assert_eq!(err.operation(), Some("get_project"));
    }
    // A null entity inside data is data (Labelbox's "not found"), not an error.
    let (t, _s) = serve(vec![(200, json!({"data": {"project": null}}))]).await;
    let data = query::<GetProject>(
        &t,
        "graphql",
        "get_project",
        get_project::Variables { id: "x".into() },
    )
    .await
    .unwrap();
    assert_eq!(data.project, None);
}

#[tokio::test]
async fn untyped_documents_return_data() {
    let (t, s) = serve(vec![(
        200,
        json!({"data": {"projects": [{"id": "a"}, {"id": "b"}]}}),
    )])
    .await;
    let data = execute_raw(
        &t,
        "graphql",
        "list_projects",
        "query ListProjects { projects(skip: 0 first: 100) { id } }",
        Value::Null,
        RetryMode::Idempotent,
    )
    .await
    .unwrap();
    assert_eq!(data["projects"][1]["id"], "b");
    let sent = s.bodies.lock().unwrap()[0].clone();
    assert_eq!(
        sent,
        json!({"query": "query ListProjects { projects(skip: 0 first: 100) { id } }", "variables": null})
    );
}
