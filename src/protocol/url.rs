//! Checks on server URLs.

/// True when `url` would carry traffic unencrypted to another machine: a `ws://` (or
/// `http://`) URL whose host is not this machine (`localhost`, `*.localhost`, `127.x.x.x`,
/// `[::1]`). Such URLs are refused unless the app sets `allowInsecure`.
pub fn is_insecure_remote(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "ws" | "http") {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    let loopback_v4 = host.strip_prefix("127.").is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.parse::<u8>().is_ok())
    });
    let local = host == "localhost" || host.ends_with(".localhost") || loopback_v4 || host == "::1";
    !local
}

#[cfg(test)]
mod tests {
    use super::is_insecure_remote;

    #[test]
    fn only_plain_text_to_other_machines_is_insecure() {
        for url in [
            "ws://example.com/ws",
            "http://example.com",
            "WS://Example.com:80/x",
            "ws://127.0.0.1.evil.com/",
            "ws://localhost.evil.com/",
            "ws://user@example.com/",
            "ws://10.0.0.1/",
            "ws://[2001:db8::1]:80/",
            "ws://127.0.0.256/",
        ] {
            assert!(is_insecure_remote(url), "{url}");
        }
        for url in [
            "wss://example.com/ws",
            "https://example.com",
            "ws://localhost:8080/ws",
            "ws://LOCALHOST/",
            "ws://app.localhost/",
            "ws://127.0.0.1:9301/ws",
            "ws://127.1.2.3/",
            "ws://[::1]:80/",
            "ws://localhost./",
        ] {
            assert!(!is_insecure_remote(url), "{url}");
        }
    }
}
