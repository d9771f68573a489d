//! Webhooks (spec §13). Topics and status travel as enum literals (their GraphQL type names
//! are unknown, spec §16 Q3), so create/update documents are built here from validated
//! literals; URL, secret and ids travel as variables (never spliced into the text).

use super::{op_err, required, Endpoint, LabelboxClient};
use crate::ops;
use crate::wire::{decode, decode_list, Webhook, WebhookStatus, WebhookTopic};
use futures::stream::BoxStream;
use labelmux_core::paginate::key_of;
use labelmux_core::transport::RetryMode;
use labelmux_core::{Error, Result};
use serde_json::{json, Map, Value};

const WEBHOOK_FIELDS: &str = "createdAt status topics id updatedAt url";

/// Whose events a webhook receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookScope {
    /// One project's.
    Project(String),
    /// The whole organization's.
    Organization,
}

/// Changes to a webhook; unset fields keep their value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookUpdate {
    /// New target URL.
    pub url: Option<String>,
    /// New topics.
    pub topics: Option<Vec<WebhookTopic>>,
    /// New status (`INACTIVE` deletes).
    pub status: Option<WebhookStatus>,
}

/// An enum literal: upper-case letters, digits and `_` only, so nothing can be injected.
fn literal(text: &str, what: &str) -> Result<String> {
    let ok = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !text.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(Error::validation(format!(
            "{what} {text:?} is not a GraphQL enum value"
        )))
    }
}

fn topics_literal(topics: &[WebhookTopic]) -> Result<String> {
    if topics.is_empty() {
        return Err(Error::validation("a webhook needs at least one topic"));
    }
    let list = topics
        .iter()
        .map(|t| literal(t.as_str(), "webhook topic"))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!("[{}]", list.join(" ")))
}

/// The create document and its variables.
pub(crate) fn create_document(
    scope: &WebhookScope,
    topics: &[WebhookTopic],
    url: &str,
    secret: &str,
) -> Result<(String, Value)> {
    let topics = topics_literal(topics)?;
    let mut vars = Map::new();
    vars.insert("url".into(), json!(url));
    vars.insert("secret".into(), json!(secret));
    let (decl, project) = match scope {
        WebhookScope::Project(id) => {
            vars.insert("projectId".into(), json!(id));
            (", $projectId: ID!", "project: {id: $projectId}, ")
        }
        WebhookScope::Organization => ("", ""),
    };
    let doc = format!(
        "mutation CreateWebhook($url: String!, $secret: String!{decl}) {{ createWebhook(data: {{{project}topics: {{set: {topics}}}, url: $url, secret: $secret}}) {{ {WEBHOOK_FIELDS} }} }}"
    );
    Ok((doc, Value::Object(vars)))
}

/// The update document and its variables.
pub(crate) fn update_document(id: &str, update: &WebhookUpdate) -> Result<(String, Value)> {
    let mut decls = vec!["$id: ID!".to_owned()];
    let mut data = Vec::new();
    let mut vars = Map::new();
    vars.insert("id".into(), json!(id));
    if let Some(url) = &update.url {
        decls.push("$url: String!".into());
        data.push("url: $url".to_owned());
        vars.insert("url".into(), json!(url));
    }
    if let Some(topics) = &update.topics {
        data.push(format!("topics: {{set: {}}}", topics_literal(topics)?));
    }
    if let Some(status) = &update.status {
        data.push(format!(
            "status: {}",
            literal(status.as_str(), "webhook status")?
        ));
    }
    if data.is_empty() {
        return Err(Error::validation("a webhook update must change something"));
    }
    let doc = format!(
        "mutation UpdateWebhook({}) {{ updateWebhook(where: {{id: $id}} data: {{{}}}) {{ {WEBHOOK_FIELDS} }} }}",
        decls.join(", "),
        data.join(", ")
    );
    Ok((doc, Value::Object(vars)))
}

impl LabelboxClient {
    /// Create a webhook; Labelbox signs each delivery with HMAC of `secret`.
    pub async fn create_webhook(
        &self,
        scope: &WebhookScope,
        topics: &[WebhookTopic],
        url: &str,
        secret: &str,
    ) -> Result<Webhook> {
        const OP: &str = "create_webhook";
        let (doc, vars) = create_document(scope, topics, url, secret).map_err(|e| op_err(e, OP))?;
        let data = self
            .run_text(
                Endpoint::Main,
                OP,
                &doc,
                vars,
                RetryMode::OnlyIfNotProcessed,
            )
            .await?;
        decode(required(data, &["createWebhook"], OP)?, "webhook").map_err(|e| op_err(e, OP))
    }

    /// Change a webhook's URL, topics or status.
    pub async fn update_webhook(
        &self,
        webhook_id: &str,
        update: &WebhookUpdate,
    ) -> Result<Webhook> {
        const OP: &str = "update_webhook";
        let (doc, vars) = update_document(webhook_id, update).map_err(|e| op_err(e, OP))?;
        let data = self
            .run_text(Endpoint::Main, OP, &doc, vars, RetryMode::Idempotent)
            .await?;
        decode(required(data, &["updateWebhook"], OP)?, "webhook").map_err(|e| op_err(e, OP))
    }

    /// Delete a webhook (Labelbox's way: set it `INACTIVE`).
    pub async fn delete_webhook(&self, webhook_id: &str) -> Result<Webhook> {
        self.update_webhook(
            webhook_id,
            &WebhookUpdate {
                status: Some(WebhookStatus::Inactive),
                ..WebhookUpdate::default()
            },
        )
        .await
    }

    /// A project's or the organization's webhooks, 100 per request.
    pub fn list_webhooks(&self, scope: &WebhookScope) -> BoxStream<'static, Result<Webhook>> {
        match scope {
            WebhookScope::Project(id) => self.orm_stream::<ops::GetProjectWebhooks, _>(
                "list_webhooks",
                ops::get_project_webhooks::Variables {
                    project_id: id.clone(),
                },
                |data| {
                    decode_list(
                        data.pointer("/project/webhooks")
                            .cloned()
                            .unwrap_or(Value::Null),
                        "webhook",
                    )
                },
                |w: &Webhook| key_of(&w.id),
            ),
            WebhookScope::Organization => self.orm_stream::<ops::GetOrganizationWebhooks, _>(
                "list_webhooks",
                ops::get_organization_webhooks::Variables,
                |data| {
                    decode_list(
                        data.pointer("/organization/webhooks")
                            .cloned()
                            .unwrap_or(Value::Null),
                        "webhook",
                    )
                },
                |w: &Webhook| key_of(&w.id),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_documents_put_topics_as_literals_and_the_rest_in_variables() {
        let (doc, vars) = create_document(
            &WebhookScope::Project("clp".into()),
            &[WebhookTopic::LabelCreated, WebhookTopic::WorkflowAction],
            "https://h/\"x",
            "s\"}",
        )
        .unwrap();
        assert!(
            doc.contains("topics: {set: [LABEL_CREATED WORKFLOW_ACTION]}"),
            "{doc}"
        );
        assert!(doc.contains("project: {id: $projectId}"), "{doc}");
        assert!(!doc.contains("https://h"), "{doc}");
        assert_eq!(vars["secret"], "s\"}");
        let (org, vars) = create_document(
            &WebhookScope::Organization,
            &[WebhookTopic::LabelUpdated],
            "u",
            "s",
        )
        .unwrap();
        assert!(!org.contains("project"), "{org}");
        assert!(vars.get("projectId").is_none());
        assert!(create_document(&WebhookScope::Organization, &[], "u", "s").is_err());
        let evil = WebhookTopic::Other("X]) { id } }".into());
        assert!(create_document(&WebhookScope::Organization, &[evil], "u", "s").is_err());
    }

    #[test]
    fn update_documents_hold_only_the_changes() {
        let (doc, vars) = update_document(
            "clh",
            &WebhookUpdate {
                status: Some(WebhookStatus::Inactive),
                ..WebhookUpdate::default()
            },
        )
        .unwrap();
        assert!(doc.contains("data: {status: INACTIVE}"), "{doc}");
        assert_eq!(vars, json!({"id": "clh"}));
        let (doc, _) = update_document(
            "clh",
            &WebhookUpdate {
                url: Some("https://n".into()),
                topics: Some(vec![WebhookTopic::LabelCreated]),
                status: None,
            },
        )
        .unwrap();
        assert!(
            doc.contains("url: $url, topics: {set: [LABEL_CREATED]}"),
            "{doc}"
        );
        assert!(update_document("clh", &WebhookUpdate::default()).is_err());
    }
}
