//! Secret counters from the audit events of `once-core`.

use once_store::BurnReason;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::REQUEST_METRICS;

/// The target of `once_core::audit` events.
pub const AUDIT_TARGET: &str = "once::audit";

/// A tracing layer that counts the audit events of `once-core` (target [`AUDIT_TARGET`]) into the
/// metrics of the application serving the request.
///
/// Why a layer rather than counters in the handlers: the core decides, and tells only its audit
/// log, whether a refused reveal was a wrong passphrase and whether that burned the secret (the
/// HTTP answer is the same "unknown secret" on purpose). Counting the events the core already
/// emits keeps `once-core` free of a metrics dependency and gives one source for the audit log
/// and the counters.
///
/// [`crate::telemetry::init`] installs it, with its own filter, so that the log level does not
/// hide audit events from it. The application an event belongs to is found through a
/// task-local that [`super::track`] sets around each request; an event outside such a request
/// (a CLI command, an application with metrics disabled) counts nowhere.
///
/// Only the `event` and `outcome` fields are read, and only compared with fixed names; `record`
/// and `actor` are never looked at.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuditMetricsLayer;

impl<S: Subscriber> Layer<S> for AuditMetricsLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != AUDIT_TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(what) = fields.counted() else { return };
        // An error only means that no application's request is being served here.
        let _ = REQUEST_METRICS.try_with(|inner| inner.count(what));
    }
}

/// What one audit event counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Counted {
    Created,
    Revealed,
    BurnedBySender,
    /// Also one passphrase failure: the one that reached the cap.
    BurnedByPassphraseFailures,
    PassphraseFailure,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    Created,
    Revealed,
    /// A refused reveal; the outcome says why.
    Reveal,
    Burned,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Outcome {
    #[default]
    Other,
    WrongPassphrase,
    Burned(BurnReason),
}

#[derive(Default)]
struct Fields {
    name: Option<Name>,
    outcome: Outcome,
}

impl Fields {
    fn counted(&self) -> Option<Counted> {
        Some(match (self.name?, self.outcome) {
            (Name::Created, _) => Counted::Created,
            (Name::Revealed, _) => Counted::Revealed,
            (Name::Burned, Outcome::Burned(BurnReason::Sender)) => Counted::BurnedBySender,
            (Name::Burned, Outcome::Burned(BurnReason::PassphraseFailures)) => {
                Counted::BurnedByPassphraseFailures
            }
            (Name::Reveal, Outcome::WrongPassphrase) => Counted::PassphraseFailure,
            _ => return None,
        })
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "event" => {
                self.name = match value {
                    "secret.created" => Some(Name::Created),
                    "secret.revealed" => Some(Name::Revealed),
                    "secret.reveal" => Some(Name::Reveal),
                    "secret.burned" => Some(Name::Burned),
                    _ => None,
                }
            }
            "outcome" => {
                self.outcome = match (value, BurnReason::parse(value)) {
                    ("denied:wrong_passphrase" | "denied:wrong_key_proof", _) => Outcome::WrongPassphrase,
                    (_, Some(reason)) => Outcome::Burned(reason),
                    _ => Outcome::Other,
                }
            }
            _ => {}
        }
    }

    // Every other field (`record`, `actor`, …) is ignored, whatever its type.
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use once_store::RecordId;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::metrics::Metrics;

    /// Emits events through the core's own auditor inside a request scope and reads the counters
    /// back.
    #[test]
    fn core_audit_events_become_counters() {
        let metrics = Metrics::prometheus().expect("recorder");
        let inner = Arc::clone(metrics.inner.as_ref().expect("enabled"));
        let subscriber = tracing_subscriber::registry().with(AuditMetricsLayer);
        let id = RecordId([7; 32]);
        let auditor = once_core::audit::Auditor::new(
            Arc::new(once_core::audit::LogOnly),
            Arc::new(once_core::SystemClock),
        );
        let event = |e, o, r, a| auditor.event(e, o, r, a);
        tracing::subscriber::with_default(subscriber, || {
            REQUEST_METRICS.sync_scope(inner, || {
                event("secret.created", "ok", Some(&id), "anon");
                event("secret.created", "ok", Some(&id), "someone@example.com");
                event("secret.revealed", "ok", Some(&id), "anon");
                event("secret.reveal", "denied:wrong_passphrase", Some(&id), "anon");
                event("secret.reveal", "denied:unknown", Some(&id), "anon");
                event("secret.burned", "passphrase_failures", Some(&id), "anon");
                event("secret.burned", "sender", Some(&id), "anon");
                event("secret.burn", "denied:unknown", Some(&id), "anon");
                event("receipt.view", "denied:unknown", Some(&id), "anon");
            });
            // Outside a request: counted nowhere, and no panic.
            event("secret.created", "ok", None, "anon");
        });
        let text = metrics.render().expect("enabled");
        for line in [
            "once_secrets_created_total 2",
            "once_secrets_revealed_total 1",
            "once_passphrase_failures_total 2",
            r#"once_secrets_burned_total{reason="sender"} 1"#,
            r#"once_secrets_burned_total{reason="passphrase_failures"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("example.com") && !text.contains("0707"), "{text}");
    }

    #[test]
    fn other_targets_and_unknown_names_count_nothing() {
        let mut f = Fields::default();
        assert_eq!(f.counted(), None);
        f.outcome = Outcome::WrongPassphrase;
        f.name = Some(Name::Burned);
        assert_eq!(f.counted(), None);
        f.name = Some(Name::Reveal);
        assert_eq!(f.counted(), Some(Counted::PassphraseFailure));
    }
}
