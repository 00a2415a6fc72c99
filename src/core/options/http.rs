//! The outbox's HTTP settings among a client's options (`outbox.transport`, `outbox.url`,
//! `outbox.method`, `outbox.headers`, `outbox.batchUrl`, `outbox.batchSize`), checked into
//! the core's [`HttpConfig`].

use std::collections::BTreeMap;

use super::{OptionsError, whole};
use crate::core::rest::{HttpConfig, URL_PLACEHOLDERS};
use crate::protocol::url::is_insecure_remote;

/// The HTTP settings among `outbox`.
pub(super) struct HttpOptions<'a> {
    pub(super) transport: Option<&'a str>,
    pub(super) url: Option<&'a str>,
    pub(super) method: Option<&'a str>,
    pub(super) headers: Option<&'a BTreeMap<String, String>>,
    pub(super) batch_url: Option<&'a str>,
    pub(super) batch_size: Option<f64>,
    pub(super) allow_insecure: bool,
}

/// Entries per batch request unless `outbox.batchSize` says.
const BATCH_SIZE: usize = 500;

/// The outbox's HTTP transport, or `None` for the socket; the HTTP settings are refused
/// with the socket transport.
pub(super) fn http_settings(o: HttpOptions<'_>) -> Result<Option<HttpConfig>, OptionsError> {
    match o.transport {
        None | Some("socket") => {
            let given = [
                ("options.outbox.url", o.url.is_some()),
                ("options.outbox.method", o.method.is_some()),
                ("options.outbox.headers", o.headers.is_some()),
                ("options.outbox.batchUrl", o.batch_url.is_some()),
                ("options.outbox.batchSize", o.batch_size.is_some()),
            ];
            return match given.into_iter().find(|(_, set)| *set) {
                Some((name, _)) => Err(OptionsError::HttpOnly(name)),
                None => Ok(None),
            };
        }
        Some("http") => {}
        Some(_) => {
            return Err(OptionsError::OneOf(
                "options.outbox.transport",
                "\"socket\", \"http\"",
            ));
        }
    }
    let url = o.url.unwrap_or_default();
    if url.is_empty() && o.batch_url.is_none() {
        return Err(OptionsError::Empty("options.outbox.url"));
    }
    check_url("options.outbox.url", url, o.allow_insecure)?;
    let placeholders = url.match_indices('{').filter(|(i, _)| {
        let rest = url.get(*i..).unwrap_or("");
        !URL_PLACEHOLDERS.iter().any(|p| rest.starts_with(p))
    });
    if placeholders.count() > 0 {
        return Err(OptionsError::Placeholder(
            "options.outbox.url",
            "{channel}, {event}, {id}",
        ));
    }
    if let Some(batch) = o.batch_url {
        if batch.is_empty() {
            return Err(OptionsError::Empty("options.outbox.batchUrl"));
        }
        check_url("options.outbox.batchUrl", batch, o.allow_insecure)?;
    }
    let method = o.method.unwrap_or("POST").to_ascii_uppercase();
    if !matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
        return Err(OptionsError::OneOf(
            "options.outbox.method",
            "\"POST\", \"PUT\", \"PATCH\", \"DELETE\"",
        ));
    }
    let headers = o.headers.map_or_else(Vec::new, |h| {
        h.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    });
    let batch_size = whole("options.outbox.batchSize", o.batch_size)?
        .map_or(BATCH_SIZE, |n| n.clamp(1, 10_000) as usize);
    Ok(Some(HttpConfig {
        url: url.to_owned(),
        method,
        headers,
        batch_url: o.batch_url.map(str::to_owned),
        batch_size,
    }))
}

fn check_url(name: &'static str, url: &str, allow_insecure: bool) -> Result<(), OptionsError> {
    if is_insecure_remote(url) && !allow_insecure {
        return Err(OptionsError::InsecureField(name));
    }
    Ok(())
}
