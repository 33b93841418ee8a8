//! What the outcome of a create means for its row: the dispatcher's policy, as one pure function
//! of the outcome and what the row has been through, so that every case is a line in a table test.
//!
//! The rules (DESIGN.md): only Partner Center's refusal fails a row; a request that may have been
//! processed is never sent again before it is reconciled; a "domain taken" answer is looked up
//! among the partner's customers before anything is decided — after an earlier ambiguous attempt
//! it may be our own create, otherwise it may be a customer that already existed (adopted, not
//! failed: CONTRACTS.md "Customers that already exist"); a request that was not
//! processed (429, 401, never sent) goes again — after a 429 with a new request id, since the
//! server answered; when nothing reached the server, with the same one.

use std::time::Duration;

use crate::partner_center::{CreateOutcome, Rejection};

/// What the row has been through, as far as the verdict cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// An earlier attempt's outcome was unknown.
    pub ambiguous: bool,
    /// The previous attempt got a 401 and the token was refreshed since.
    pub after_refresh: bool,
}

/// Where the row goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Created,
    Failed,
    /// Unknown: reconcile before anything else.
    InDoubt,
    /// The domain is taken: look it up among the partner's customers.
    LookUp,
    Retry {
        wait: Wait,
        request_id: RequestId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Now,
    /// The row's exponential backoff.
    Backoff,
    /// What the server asked for.
    For(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestId {
    /// Nothing reached the server: the id is still unused.
    Same,
    /// The server answered: the next call needs a new id.
    New,
}

/// What the run as a whole must do about it, besides the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Everyone pauses for this long, then slows down.
    Throttle(Duration),
    /// Forget the access token; get a fresh one.
    RefreshToken,
    /// Stop the run: signing in or permissions are wrong for every row, not this one.
    StopRun(String),
    /// One more refusal for lack of permission (the run stops after a few with no success); what
    /// Partner Center said.
    PermissionRefused(String),
}

/// The verdict on one create, and its effect on the run.
pub fn judge<T>(outcome: &CreateOutcome<T>, history: History) -> (Verdict, Effect) {
    let retry = |wait, request_id| Verdict::Retry { wait, request_id };
    match outcome {
        CreateOutcome::Created(_) => (Verdict::Created, Effect::None),
        CreateOutcome::Throttled { retry_after } => (
            retry(Wait::For(*retry_after), RequestId::New),
            Effect::Throttle(*retry_after),
        ),
        CreateOutcome::NotSent(_) => (retry(Wait::Backoff, RequestId::Same), Effect::None),
        CreateOutcome::Ambiguous { .. } => (Verdict::InDoubt, Effect::None),
        CreateOutcome::Unauthorized if history.after_refresh => (
            retry(Wait::Now, RequestId::New),
            Effect::StopRun("Partner Center refused a freshly refreshed token (401)".into()),
        ),
        CreateOutcome::Unauthorized => (retry(Wait::Now, RequestId::New), Effect::RefreshToken),
        CreateOutcome::Rejected {
            kind,
            status,
            code,
            message,
        } => match kind {
            Rejection::AppUserRequired => (
                retry(Wait::Now, RequestId::New),
                Effect::StopRun(format!(
                    "Partner Center wants an App+User token (403 / 900329): {message}"
                )),
            ),
            Rejection::Permission => (
                Verdict::Failed,
                Effect::PermissionRefused(format!(
                    "{status} / {}: {message}",
                    code.as_deref().unwrap_or("no code")
                )),
            ),
            // Perhaps our own earlier attempt took it: look before concluding. (A refusal in
            // another language may be a taken domain too: the same look decides.)
            Rejection::DomainTaken | Rejection::TakenOrInvalid if history.ambiguous => {
                (Verdict::InDoubt, Effect::None)
            }
            // Perhaps it is one of ours already: look before concluding.
            Rejection::DomainTaken | Rejection::TakenOrInvalid => (Verdict::LookUp, Effect::None),
            Rejection::Reseller | Rejection::Data => (Verdict::Failed, Effect::None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Customer;

    fn rejected(status: u16, code: &str, message: &str) -> CreateOutcome {
        CreateOutcome::Rejected {
            status,
            code: Some(code.into()),
            message: message.into(),
            kind: Rejection::of(status, Some(code), message, true),
        }
    }

    fn created() -> CreateOutcome {
        CreateOutcome::Created(serde_json::from_str::<Customer>(r#"{"id": "c-1"}"#).unwrap())
    }

    #[test]
    fn every_outcome_has_its_verdict() {
        let fresh = History::default();
        let ambiguous = History {
            ambiguous: true,
            ..History::default()
        };
        let after_refresh = History {
            after_refresh: true,
            ..History::default()
        };
        let ten_s = Duration::from_secs(10);
        let again = |wait, request_id| Verdict::Retry { wait, request_id };
        let stop = |why: &str| Effect::StopRun(why.into());
        let table: Vec<(&str, CreateOutcome, History, Verdict, Effect)> = vec![
            ("201", created(), fresh, Verdict::Created, Effect::None),
            (
                "201 after doubt",
                created(),
                ambiguous,
                Verdict::Created,
                Effect::None,
            ),
            (
                "429",
                CreateOutcome::Throttled { retry_after: ten_s },
                fresh,
                again(Wait::For(ten_s), RequestId::New),
                Effect::Throttle(ten_s),
            ),
            (
                "connection refused",
                CreateOutcome::NotSent("refused".into()),
                fresh,
                again(Wait::Backoff, RequestId::Same),
                Effect::None,
            ),
            (
                "timeout, reset, 5xx, redirect",
                CreateOutcome::Ambiguous {
                    status: Some(503),
                    code: None,
                    message: "HTTP 503".into(),
                },
                fresh,
                Verdict::InDoubt,
                Effect::None,
            ),
            (
                "401",
                CreateOutcome::Unauthorized,
                fresh,
                again(Wait::Now, RequestId::New),
                Effect::RefreshToken,
            ),
            (
                "401 again with a fresh token",
                CreateOutcome::Unauthorized,
                after_refresh,
                again(Wait::Now, RequestId::New),
                stop("Partner Center refused a freshly refreshed token (401)"),
            ),
            (
                "app-only token",
                rejected(403, "900329", "needs App+User"),
                fresh,
                again(Wait::Now, RequestId::New),
                stop("Partner Center wants an App+User token (403 / 900329): needs App+User"),
            ),
            (
                "no permission",
                rejected(403, "600006", "not allowed"),
                fresh,
                Verdict::Failed,
                Effect::PermissionRefused("403 / 600006: not allowed".into()),
            ),
            (
                "reseller without MPA",
                rejected(403, "900123", "MPA"),
                fresh,
                Verdict::Failed,
                Effect::None,
            ),
            (
                "data error",
                rejected(400, "600050", "bad registration number"),
                fresh,
                Verdict::Failed,
                Effect::None,
            ),
            (
                "domain taken, first attempt: one of ours already?",
                rejected(400, "3000", "hostname: x is not valid"),
                fresh,
                Verdict::LookUp,
                Effect::None,
            ),
            (
                "domain taken after an unknown outcome: maybe ours",
                rejected(400, "3000", "hostname: x is not valid"),
                ambiguous,
                Verdict::InDoubt,
                Effect::None,
            ),
            (
                "invalid property after an unknown outcome",
                rejected(400, "3000", "invalid property"),
                ambiguous,
                Verdict::Failed,
                Effect::None,
            ),
        ];
        for (case, outcome, history, verdict, effect) in table {
            assert_eq!(judge(&outcome, history), (verdict, effect), "{case}");
        }
    }
}
