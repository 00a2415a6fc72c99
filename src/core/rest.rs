//! The outbox over HTTP (`outbox: { transport: "http" }`): durable publishes become `fetch`
//! requests instead of socket frames, one per entry (with an `Idempotency-Key`) or in batches,
//! and each response's status decides the entry's fate. Pure: the requests are values the
//! driver carries out, and the outcomes come back through [`Rest::outcome`].

use std::collections::HashMap;

use crate::protocol::raw::write_str;
use crate::protocol::{Outbound, RawJson};

/// Where and how the outbox sends over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The URL of one entry; `{channel}`, `{event}` and `{id}` are filled in, URL-encoded.
    pub url: String,
    /// The method of one entry's request (default POST).
    pub method: String,
    /// Headers every request carries.
    pub headers: Vec<(String, String)>,
    /// Entries go in batches to this URL (POST) instead.
    pub batch_url: Option<String>,
    /// Entries per batch request.
    pub batch_size: usize,
}

/// A request for the driver to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Names the request's outcome in [`Rest::outcome`].
    pub request: u64,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Abort the request after this long.
    pub timeout_ms: u64,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    /// The server answered.
    Status {
        status: u16,
        /// The `Retry-After` header, as sent.
        retry_after: Option<String>,
        body: String,
    },
    /// No answer: the network failed, the connection dropped, or the request timed out.
    Failed(String),
}

/// What an outcome means for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The server has it.
    Confirmed(String),
    /// Send it again, not before `after_ms` from now (0: the outbox's backoff alone).
    Retry {
        id: String,
        reason: String,
        after_ms: u64,
    },
    /// The server will never take it.
    Refused { id: String, reason: String },
}

/// The HTTP side of the outbox: the requests in flight and the entries each carries.
#[derive(Debug)]
pub struct Rest {
    config: HttpConfig,
    next: u64,
    open: HashMap<u64, Vec<String>>,
}

/// Longest part of a response body kept in a dead letter's reason.
const BODY_IN_REASON: usize = 200;

impl Rest {
    pub fn new(config: HttpConfig) -> Self {
        Self {
            config,
            next: 0,
            open: HashMap::new(),
        }
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.open.len()
    }

    /// True when entries go in batches.
    pub fn batches(&self) -> bool {
        self.config.batch_url.is_some()
    }

    /// The requests carrying these publishes (other messages are not the outbox's and are
    /// left out), each to be aborted after `timeout_ms`.
    pub fn requests(&mut self, messages: Vec<Outbound>, timeout_ms: u64) -> Vec<HttpRequest> {
        let entries: Vec<Entry> = messages.into_iter().filter_map(Entry::from).collect();
        let mut requests = Vec::new();
        match self.config.batch_url.clone() {
            Some(url) => {
                for chunk in entries.chunks(self.config.batch_size.max(1)) {
                    let body = batch_body(chunk);
                    let ids = chunk.iter().map(|e| e.id.clone()).collect();
                    let headers = self.headers(None, None);
                    requests.push(self.request(
                        "POST",
                        url.clone(),
                        headers,
                        body,
                        ids,
                        timeout_ms,
                    ));
                }
            }
            None => {
                for entry in entries {
                    let url = fill_url(&self.config.url, &entry);
                    let headers = self.headers(Some(&entry.id), Some(&entry));
                    let method = self.config.method.clone();
                    let ids = vec![entry.id];
                    let body = entry.data.as_str().to_owned();
                    requests.push(self.request(&method, url, headers, body, ids, timeout_ms));
                }
            }
        }
        requests
    }

    fn request(
        &mut self,
        method: &str,
        url: String,
        headers: Vec<(String, String)>,
        body: String,
        ids: Vec<String>,
        timeout_ms: u64,
    ) -> HttpRequest {
        self.next += 1;
        self.open.insert(self.next, ids);
        HttpRequest {
            request: self.next,
            method: method.to_owned(),
            url,
            headers,
            body,
            timeout_ms,
        }
    }

    fn headers(&self, key: Option<&str>, entry: Option<&Entry>) -> Vec<(String, String)> {
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if let Some(key) = key {
            headers.push(("Idempotency-Key".to_owned(), key.to_owned()));
        }
        if let Some(entry) = entry {
            headers.push(("X-Syncline-Channel".to_owned(), entry.channel.clone()));
            headers.push(("X-Syncline-Event".to_owned(), entry.event.clone()));
        }
        headers.extend(self.config.headers.iter().cloned());
        headers
    }

    /// What request `request`'s outcome means for each of its entries (none for a request
    /// this outbox does not know: answered already). `wall` is Unix ms, for a dated
    /// `Retry-After`.
    pub fn outcome(&mut self, request: u64, outcome: &HttpOutcome, wall: u64) -> Vec<Verdict> {
        let Some(ids) = self.open.remove(&request) else {
            return Vec::new();
        };
        let (status, retry_after, body) = match outcome {
            HttpOutcome::Failed(why) => {
                let reason = ["http: ", why].concat();
                return ids.into_iter().map(|id| retry(id, &reason, 0)).collect();
            }
            HttpOutcome::Status {
                status,
                retry_after,
                body,
            } => (*status, retry_after.as_deref(), body.as_str()),
        };
        let after_ms = retry_after
            .and_then(|v| retry_after_ms(v, wall))
            .unwrap_or(0);
        if (200..300).contains(&status) {
            if (ids.len() > 1 || self.config.batch_url.is_some())
                && let Some(results) = batch_results(body)
            {
                return ids
                    .into_iter()
                    .map(|id| match results.get(&id) {
                        Some(status) => by_status(id, *status, "", after_ms),
                        None => retry(id, "http: missing from the batch's results", after_ms),
                    })
                    .collect();
            }
            return ids.into_iter().map(Verdict::Confirmed).collect();
        }
        ids.into_iter()
            .map(|id| by_status(id, status, body, after_ms))
            .collect()
    }

    /// Forgets every request in flight (their outcomes will be ignored).
    pub fn forget(&mut self) {
        self.open.clear();
    }
}

/// One entry as the HTTP side sees it.
struct Entry {
    id: String,
    channel: String,
    event: String,
    data: RawJson,
}

impl Entry {
    fn from(message: Outbound) -> Option<Self> {
        match message {
            Outbound::Publish {
                id,
                channel,
                event,
                data,
                ..
            } => Some(Self {
                id,
                channel,
                event,
                data,
            }),
            _ => None,
        }
    }
}

fn retry(id: String, reason: &str, after_ms: u64) -> Verdict {
    Verdict::Retry {
        id,
        reason: reason.to_owned(),
        after_ms,
    }
}

/// The verdict of one status: 2xx confirms; 401 (credentials are asked for again on the next
/// request), 408, 409, 425, 429 and 5xx retry; any other 4xx refuses for good.
fn by_status(id: String, status: u16, body: &str, after_ms: u64) -> Verdict {
    let mut reason = String::from("http ");
    crate::protocol::raw::write_u64(&mut reason, u64::from(status));
    match status {
        200..=299 => Verdict::Confirmed(id),
        401 | 408 | 409 | 425 | 429 => retry(id, &reason, after_ms),
        400..=499 => {
            let body = body.trim();
            if !body.is_empty() {
                reason.push_str(": ");
                let cut = body
                    .char_indices()
                    .nth(BODY_IN_REASON)
                    .map_or(body.len(), |(i, _)| i);
                reason.push_str(body.get(..cut).unwrap_or(body));
            }
            Verdict::Refused { id, reason }
        }
        _ => retry(id, &reason, after_ms),
    }
}

/// `{"entries":[{"id","channel","event","data"}, …]}`, the data as it was published.
fn batch_body(entries: &[Entry]) -> String {
    let mut body = String::from("{\"entries\":[");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"id\":");
        write_str(&mut body, &entry.id);
        body.push_str(",\"channel\":");
        write_str(&mut body, &entry.channel);
        body.push_str(",\"event\":");
        write_str(&mut body, &entry.event);
        body.push_str(",\"data\":");
        body.push_str(entry.data.as_str());
        body.push('}');
    }
    body.push_str("]}");
    body
}

/// A batch response's per-entry statuses, when it gives them:
/// `{"results":[{"id","status"}, …]}`.
fn batch_results(body: &str) -> Option<HashMap<String, u16>> {
    #[derive(serde::Deserialize)]
    struct Results {
        results: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        id: String,
        status: u16,
    }
    let parsed: Results = serde_json::from_str(body).ok()?;
    Some(
        parsed
            .results
            .into_iter()
            .map(|item| (item.id, item.status))
            .collect(),
    )
}

/// `{channel}`, `{event}` and `{id}` in `template`, each URL-encoded.
fn fill_url(template: &str, entry: &Entry) -> String {
    let mut url = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        url.push_str(rest.get(..open).unwrap_or(""));
        let after = rest.get(open..).unwrap_or("");
        let value = [
            ("{channel}", &entry.channel),
            ("{event}", &entry.event),
            ("{id}", &entry.id),
        ]
        .into_iter()
        .find(|(name, _)| after.starts_with(name));
        match value {
            Some((name, value)) => {
                encode_component(&mut url, value);
                rest = after.get(name.len()..).unwrap_or("");
            }
            None => {
                url.push('{');
                rest = after.get(1..).unwrap_or("");
            }
        }
    }
    url.push_str(rest);
    url
}

/// The placeholders a URL template may use.
pub const URL_PLACEHOLDERS: [&str; 3] = ["{channel}", "{event}", "{id}"];

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode_component(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
    }
}

/// `Retry-After` as milliseconds from `wall` (Unix ms): delay-seconds, or an HTTP date.
pub fn retry_after_ms(value: &str, wall: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1_000));
    }
    let at = http_date_ms(value)?;
    Some(at.saturating_sub(wall))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as Unix ms.
fn http_date_ms(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: u64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let (h, m, s): (u64, u64, u64) = (
        clock.next()?.parse().ok()?,
        clock.next()?.parse().ok()?,
        clock.next()?.parse().ok()?,
    );
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    if !(1970..=9999).contains(&year) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant's method.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(((days * 86_400) + h * 3_600 + m * 60 + s) * 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(batch: bool) -> HttpConfig {
        HttpConfig {
            url: "/api/widgets/{channel}?e={event}".into(),
            method: "PUT".into(),
            headers: vec![("X-App".into(), "dash".into())],
            batch_url: batch.then(|| "/api/batch".to_owned()),
            batch_size: 2,
        }
    }

    fn publish(id: &str, channel: &str) -> Outbound {
        Outbound::Publish {
            id: id.into(),
            channel: channel.into(),
            event: "set value".into(),
            data: RawJson::parse(r#"{"value":42}"#).unwrap(),
            durable: false,
            memory: false,
            priority: 0,
        }
    }

    fn status(status: u16, retry_after: Option<&str>, body: &str) -> HttpOutcome {
        HttpOutcome::Status {
            status,
            retry_after: retry_after.map(str::to_owned),
            body: body.into(),
        }
    }

    #[test]
    fn one_request_per_entry_with_its_idempotency_key() {
        let mut rest = Rest::new(config(false));
        let requests = rest.requests(vec![publish("a", "w/7")], 9_000);
        let [r] = requests.as_slice() else {
            panic!("one request: {requests:?}")
        };
        assert_eq!(r.method, "PUT");
        assert_eq!(r.url, "/api/widgets/w%2F7?e=set%20value");
        assert_eq!(r.body, r#"{"value":42}"#);
        assert_eq!(r.timeout_ms, 9_000);
        assert!(r.headers.contains(&("Idempotency-Key".into(), "a".into())));
        assert!(r.headers.contains(&("X-App".into(), "dash".into())));
        assert_eq!(
            rest.outcome(r.request, &status(204, None, ""), 0),
            vec![Verdict::Confirmed("a".into())]
        );
        assert!(
            rest.outcome(r.request, &status(204, None, ""), 0)
                .is_empty(),
            "a request is answered once"
        );
    }

    #[test]
    fn statuses_decide_retry_or_refusal() {
        let mut rest = Rest::new(config(false));
        let cases = [
            (500, "retry"),
            (503, "retry"),
            (401, "retry"),
            (408, "retry"),
            (409, "retry"),
            (425, "retry"),
            (429, "retry"),
            (400, "refused"),
            (404, "refused"),
            (422, "refused"),
        ];
        for (code, expected) in cases {
            let r = rest.requests(vec![publish("a", "c")], 1).remove(0);
            let verdict = rest.outcome(r.request, &status(code, None, " bad value "), 0);
            let got = match verdict.as_slice() {
                [Verdict::Retry { .. }] => "retry",
                [Verdict::Refused { reason, .. }] => {
                    assert!(reason.starts_with(&format!("http {code}: bad value")));
                    "refused"
                }
                other => panic!("{code}: {other:?}"),
            };
            assert_eq!(got, expected, "status {code}");
        }
        let r = rest.requests(vec![publish("a", "c")], 1).remove(0);
        assert!(matches!(
            rest.outcome(r.request, &HttpOutcome::Failed("network".into()), 0)
                .as_slice(),
            [Verdict::Retry { after_ms: 0, .. }]
        ));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut rest = Rest::new(config(false));
        let r = rest.requests(vec![publish("a", "c")], 1).remove(0);
        assert!(matches!(
            rest.outcome(r.request, &status(429, Some("2"), ""), 0)
                .as_slice(),
            [Verdict::Retry {
                after_ms: 2_000,
                ..
            }]
        ));
        // 784111777 s after the epoch.
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(retry_after_ms(date, 784_111_770_000), Some(7_000));
        assert_eq!(retry_after_ms(date, 784_111_790_000), Some(0));
        assert_eq!(retry_after_ms("soon", 0), None);
        assert_eq!(retry_after_ms("Sun, 06 Foo 1994 08:49:37 GMT", 0), None);
    }

    #[test]
    fn batches_carry_ids_and_may_answer_each() {
        let mut rest = Rest::new(config(true));
        let requests = rest.requests(
            vec![publish("a", "c"), publish("b", "c"), publish("c", "d")],
            1,
        );
        assert_eq!(requests.len(), 2, "two per batch");
        let first = &requests[0];
        assert_eq!(
            (first.method.as_str(), first.url.as_str()),
            ("POST", "/api/batch")
        );
        let body: serde_json::Value = serde_json::from_str(&first.body).unwrap();
        assert_eq!(body["entries"][1]["id"], "b");
        assert_eq!(body["entries"][0]["data"]["value"], 42);
        assert!(!first.headers.iter().any(|(k, _)| k == "Idempotency-Key"));
        let results = r#"{"results":[{"id":"a","status":200},{"id":"b","status":400}]}"#;
        let verdicts = rest.outcome(first.request, &status(200, None, results), 0);
        assert!(matches!(verdicts.as_slice(),
            [Verdict::Confirmed(a), Verdict::Refused { id, .. }] if a == "a" && id == "b"));
        let verdicts = rest.outcome(requests[1].request, &status(200, None, "ok"), 0);
        assert_eq!(verdicts, vec![Verdict::Confirmed("c".into())]);
    }

    #[test]
    fn a_long_or_odd_body_is_cut_without_panicking() {
        let body = "é".repeat(500);
        let Verdict::Refused { reason, .. } = by_status("a".into(), 400, &body, 0) else {
            panic!("refused")
        };
        assert_eq!(reason.chars().count(), "http 400: ".len() + BODY_IN_REASON);
        assert_eq!(
            fill_url(
                "/x/{nope}/{id",
                &Entry {
                    id: "i".into(),
                    channel: "c".into(),
                    event: "e".into(),
                    data: RawJson::null(),
                }
            ),
            "/x/{nope}/{id"
        );
    }
}
