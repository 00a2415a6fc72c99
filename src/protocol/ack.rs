//! How a server's answer to a publish is read, for protocols whose acks carry whatever the
//! server's handler passed (`ack(answer)` in Socket.IO): the default rule, and the verdict an
//! app's own rule (`ackResult`) returns.

use serde::Deserialize;

use super::raw::RawJson;

/// What an answer means for the publish it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Confirmed; `seq` when the answer names one.
    Ok { seq: u64 },
    /// Not taken now; send it again later.
    Retry { reason: String },
    /// Refused for good: a dead letter with this reason.
    Refuse { reason: String },
}

/// The fields of an answer the default rule looks at.
#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    error: Option<RawJson>,
    #[serde(default)]
    message: Option<RawJson>,
    #[serde(default)]
    reason: Option<RawJson>,
    #[serde(default)]
    retryable: Option<bool>,
    #[serde(default)]
    seq: Option<u64>,
}

/// The default rule: any answer confirms (no argument, `true`, `{ ok: true }`, a string…),
/// except an object with `ok: false` or a non-null `error`, which refuses; with
/// `retryable: true` it is tried again.
pub fn default_verdict(answer: &RawJson) -> Verdict {
    let Ok(fields) = answer.read::<Answer>() else {
        return Verdict::Ok { seq: 0 };
    };
    let error = fields.error.filter(|e| e.as_str() != "null");
    if error.is_none() && fields.ok != Some(false) {
        return Verdict::Ok {
            seq: fields.seq.unwrap_or(0),
        };
    }
    let reason = refusal_reason(answer);
    if fields.retryable == Some(true) {
        Verdict::Retry { reason }
    } else {
        Verdict::Refuse { reason }
    }
}

/// The words of a refusal: its `error`, else `message`, else `reason`, else the answer itself.
pub fn refusal_reason(answer: &RawJson) -> String {
    let fields = answer.read::<Answer>().unwrap_or_default();
    [fields.error, fields.message, fields.reason]
        .into_iter()
        .flatten()
        .find(|text| text.as_str() != "null")
        .map_or_else(|| answer.as_str().to_owned(), |text| text.as_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(text: &str) -> Verdict {
        default_verdict(&RawJson::parse(text).unwrap())
    }

    #[test]
    fn anything_but_a_refusal_confirms() {
        for text in [
            "null",
            "true",
            r#""ok""#,
            "{}",
            r#"{"ok":true}"#,
            r#"{"error":null}"#,
            "[1]",
        ] {
            assert_eq!(verdict(text), Verdict::Ok { seq: 0 }, "{text}");
        }
        assert_eq!(verdict(r#"{"seq":9}"#), Verdict::Ok { seq: 9 });
    }

    #[test]
    fn ok_false_or_an_error_refuses_and_retryable_retries() {
        assert_eq!(
            verdict(r#"{"ok":false,"error":"bad event"}"#),
            Verdict::Refuse {
                reason: "bad event".into()
            }
        );
        assert_eq!(
            verdict(r#"{"error":{"code":7}}"#),
            Verdict::Refuse {
                reason: r#"{"code":7}"#.into()
            }
        );
        assert_eq!(
            verdict(r#"{"ok":false,"message":"busy","retryable":true}"#),
            Verdict::Retry {
                reason: "busy".into()
            }
        );
        assert_eq!(
            verdict(r#"{"ok":false}"#),
            Verdict::Refuse {
                reason: r#"{"ok":false}"#.into()
            }
        );
    }
}
