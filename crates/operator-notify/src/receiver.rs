//! [`ReceiverKind`]: the kinds of receivers notifications go to.

/// The kind of a receiver, as the metrics and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReceiverKind {
    /// Alertmanager's API v2.
    Alertmanager,
    /// A webhook.
    Webhook,
}

impl ReceiverKind {
    /// `alertmanager` or `webhook`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverKind::Alertmanager => "alertmanager",
            ReceiverKind::Webhook => "webhook",
        }
    }
}
