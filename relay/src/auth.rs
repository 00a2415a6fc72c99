//! Who may connect and what a session may do: the token compared in fixed time, and the
//! per-channel authorization hook (a Rust trait for embedders, prefix rules from the CLI).

use std::fmt;
use std::sync::Arc;

/// What a session wants to do on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Subscribe,
    Publish,
}

/// Decides whether a session may subscribe to or publish on a channel. `token` is what the
/// client sent in `hello` (None: nothing). Called for every `sub` and `pub`; keep it fast.
pub trait Authorize: Send + Sync {
    fn authorize(&self, token: Option<&str>, channel: &str, action: Action) -> bool;
}

impl<F> Authorize for F
where
    F: Fn(Option<&str>, &str, Action) -> bool + Send + Sync,
{
    fn authorize(&self, token: Option<&str>, channel: &str, action: Action) -> bool {
        self(token, channel, action)
    }
}

/// A shared [`Authorize`] for [`crate::config::ServeConfig::authorize`].
#[derive(Clone)]
pub struct Authorizer(pub Arc<dyn Authorize>);

impl Authorizer {
    /// Wraps a hook.
    pub fn new(hook: impl Authorize + 'static) -> Self {
        Self(Arc::new(hook))
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorizer(..)")
    }
}

/// `--channel-rule PREFIX=TOKEN`: channels starting with PREFIX need TOKEN in `hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRule {
    pub prefix: String,
    pub token: String,
}

impl ChannelRule {
    /// Parses `PREFIX=TOKEN` (the prefix may be empty: every channel).
    pub fn parse(text: &str) -> Option<Self> {
        let (prefix, token) = text.split_once('=')?;
        if token.is_empty() {
            return None;
        }
        Some(Self {
            prefix: prefix.to_owned(),
            token: token.to_owned(),
        })
    }
}

/// The rules' verdict: a channel no rule's prefix matches is open; otherwise the session's
/// token must equal the token of one of the rules that match it.
pub fn rules_allow(rules: &[ChannelRule], token: Option<&str>, channel: &str) -> bool {
    let mut matched = false;
    let mut allowed = false;
    for rule in rules
        .iter()
        .filter(|r| channel.starts_with(r.prefix.as_str()))
    {
        matched = true;
        // Every matching rule is compared, whatever the outcome of the others.
        allowed |= token.is_some_and(|t| fixed_time_eq(t.as_bytes(), rule.token.as_bytes()));
    }
    !matched || allowed
}

/// Compares a presented secret with the expected one in time that depends only on the
/// expected secret's length: every byte is compared, a mismatch does not stop the loop, and
/// a presented secret of another length compares as unequal after the same work.
pub fn fixed_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(presented.len() != expected.len());
    for (n, e) in expected.iter().enumerate() {
        let p = presented.get(n).copied().unwrap_or(!*e);
        diff |= std::hint::black_box(p ^ e);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_time_eq_is_equality() {
        assert!(fixed_time_eq(b"secret", b"secret"));
        assert!(fixed_time_eq(b"", b""));
        for wrong in [
            &b"secreT"[..],
            b"secre",
            b"secrets",
            b"",
            b"xecret",
            b"secret\0",
        ] {
            assert!(!fixed_time_eq(wrong, b"secret"), "{wrong:?}");
        }
        assert!(!fixed_time_eq(b"a", b""));
    }

    #[test]
    fn rules_guard_only_their_prefixes() {
        let rules = vec![
            ChannelRule::parse("admin.=root").unwrap(),
            ChannelRule::parse("team.=t1").unwrap(),
            ChannelRule::parse("team.=t2").unwrap(),
        ];
        assert!(rules_allow(&rules, None, "public"));
        assert!(!rules_allow(&rules, None, "admin.x"));
        assert!(!rules_allow(&rules, Some("t1"), "admin.x"));
        assert!(rules_allow(&rules, Some("root"), "admin.x"));
        assert!(rules_allow(&rules, Some("t2"), "team.a"));
        assert!(ChannelRule::parse("nope").is_none());
        assert!(ChannelRule::parse("x=").is_none());
    }
}
