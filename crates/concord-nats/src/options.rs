//! How a [`NatsTransport`](crate::NatsTransport) uses the server: which stream, which
//! subjects, which timeouts.

use std::time::Duration;

use crate::names::{check_stream_name, check_subject_prefix};

/// The stream every Concord service of a deployment shares unless told otherwise.
pub const DEFAULT_STREAM: &str = "CONCORD";
/// Subjects are `<prefix>.<source>.<type>`.
pub const DEFAULT_SUBJECT_PREFIX: &str = "concord";

/// Settings of one service's NATS transport. The server itself comes from each link's `url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsOptions {
    /// The service whose links this transport carries: it names the durable consumers, so two
    /// services never share one.
    pub service: String,
    /// The JetStream stream, created (file storage) on first use if missing.
    pub stream: String,
    /// The stream's subjects are `<subject_prefix>.>`. Two streams may not overlap, so a
    /// second stream on the same server needs its own prefix.
    pub subject_prefix: String,
    /// How long the server remembers a `Nats-Msg-Id` to drop a re-published event. Beyond it a
    /// re-published event is stored again and dropped by the receiving store instead.
    pub duplicate_window: Duration,
    /// How long the server waits for a pull consumer's acknowledgement before delivering a
    /// message again.
    pub ack_wait: Duration,
    /// Longest wait for a page (the server answers at once; this bounds a lost answer).
    pub fetch_timeout: Duration,
    /// Longest wait to connect to a server.
    pub connect_timeout: Duration,
    /// Longest wait for a JetStream API answer or a publish acknowledgement.
    pub request_timeout: Duration,
}

impl NatsOptions {
    /// The defaults: stream `CONCORD` on `concord.>`, a two-minute duplicate window.
    pub fn new(service: &str) -> Self {
        NatsOptions {
            service: service.to_owned(),
            stream: DEFAULT_STREAM.to_owned(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
            duplicate_window: Duration::from_secs(120),
            ack_wait: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        }
    }

    /// Another stream with its own subjects (e.g. to keep deployments or tests apart).
    pub fn with_stream(mut self, stream: &str, subject_prefix: &str) -> Self {
        self.stream = stream.to_owned();
        self.subject_prefix = subject_prefix.to_owned();
        self
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.service.trim().is_empty() {
            return Err("the NATS transport needs the service's name".into());
        }
        check_stream_name(&self.stream)?;
        check_subject_prefix(&self.subject_prefix)
    }
}
