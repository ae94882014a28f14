//! A webhook endpoint as a sink: a `POST` of the event per Standard
//! Webhooks (`webhook-id`, `webhook-timestamp` of this attempt,
//! `webhook-signature` by every configured secret). A 2xx within the time
//! limit is delivered; anything else is an error for the relay to retry.

use std::sync::Arc;
use std::time::Duration;

use super::signature::{signature_header, WebhookSecret};

/// How long an endpoint may take to answer (the contract: 15 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

pub struct WebhookSink {
    url: String,
    secrets: Arc<[WebhookSecret]>,
    client: reqwest::Client,
}

impl WebhookSink {
    pub fn new(url: String, secrets: Arc<[WebhookSecret]>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(ANSWER_WITHIN)
            .connect_timeout(Duration::from_secs(5))
            // A webhook that redirects could send the signed body anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("user-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        Ok(Self {
            url,
            secrets,
            client,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts one event; `Err` says why it was not delivered (for the log
    /// and the parked row, never shown to a client).
    pub async fn deliver(&self, event_id: &str, body: String) -> Result<(), String> {
        let timestamp = crate::store::now();
        let signature = signature_header(&self.secrets, event_id, timestamp, body.as_bytes());
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "no answer within 15 s".to_owned()
                } else if e.is_connect() {
                    "cannot connect".to_owned()
                } else {
                    format!("request failed: {e}")
                }
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered HTTP {}", status.as_u16()))
        }
    }
}
