//! Authentication shared by every endpoint: Basic credentials checked against
//! the configured users, and bearer tokens issued by the Flight SQL handshake.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use contango_common::error::{ContangoError, Result};
use parking_lot::Mutex;

/// User used when authentication is disabled.
pub const ANONYMOUS: &str = "anonymous";

/// Checks credentials and tracks issued tokens. Its `Debug` shows the user
/// names and the number of live tokens, never a password or a token.
pub struct Authenticator {
    enabled: bool,
    users: BTreeMap<String, String>,
    ttl: Duration,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("enabled", &self.enabled)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("ttl", &self.ttl)
            .field("tokens", &self.tokens.lock().len())
            .finish()
    }
}

impl Authenticator {
    /// `users` maps user names to passwords.
    pub fn new(enabled: bool, users: BTreeMap<String, String>, ttl: Duration) -> Self {
        Self {
            enabled,
            users,
            ttl,
            tokens: Mutex::default(),
        }
    }

    /// Whether credentials are required.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Verifies a user and password (constant time in the password).
    pub fn check_password(&self, user: &str, password: &str) -> Result<()> {
        match self.users.get(user) {
            Some(expected) if constant_time_eq(expected.as_bytes(), password.as_bytes()) => Ok(()),
            _ => Err(ContangoError::unauthenticated(format!(
                "invalid credentials for user '{user}'"
            ))),
        }
    }

    /// Decodes `Basic <base64(user:password)>` (padded or not) and verifies it.
    pub fn check_basic(&self, header: &str) -> Result<String> {
        let encoded = strip_scheme(header, "basic")
            .ok_or_else(|| ContangoError::unauthenticated("expected Basic credentials"))?;
        let raw = STANDARD
            .decode(encoded)
            .or_else(|_| STANDARD_NO_PAD.decode(encoded.trim_end_matches('=')))
            .map_err(|_| ContangoError::unauthenticated("malformed Basic credentials"))?;
        let text = String::from_utf8(raw)
            .map_err(|_| ContangoError::unauthenticated("malformed Basic credentials"))?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| ContangoError::unauthenticated("malformed Basic credentials"))?;
        self.check_password(user, password)?;
        Ok(user.to_string())
    }

    /// Issues a bearer token for `user`.
    pub fn issue_token(&self, user: &str) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut tokens = self.tokens.lock();
        let now = Instant::now();
        tokens.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
        tokens.insert(token.clone(), (user.to_string(), now));
        token
    }

    /// The user a live bearer token belongs to.
    pub fn check_bearer(&self, header: &str) -> Result<String> {
        let token = strip_scheme(header, "bearer")
            .ok_or_else(|| ContangoError::unauthenticated("expected Bearer token"))?;
        let tokens = self.tokens.lock();
        match tokens.get(token) {
            Some((user, at)) if at.elapsed() < self.ttl => Ok(user.clone()),
            Some(_) => Err(ContangoError::unauthenticated(
                "bearer token expired: authenticate again",
            )),
            None => Err(ContangoError::unauthenticated("unknown bearer token")),
        }
    }

    /// Resolves an `authorization` header value (Basic or Bearer) to a user.
    /// With auth disabled every request is [`ANONYMOUS`] unless Basic names a user.
    pub fn authorize(&self, header: Option<&str>) -> Result<String> {
        if !self.enabled {
            return Ok(header
                .and_then(basic_user)
                .unwrap_or_else(|| ANONYMOUS.to_string()));
        }
        let header = header.ok_or_else(|| {
            ContangoError::unauthenticated(
                "authentication required: send Basic credentials or a Bearer token",
            )
        })?;
        if strip_scheme(header, "bearer").is_some() {
            self.check_bearer(header)
        } else {
            self.check_basic(header)
        }
    }
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let header = header.trim();
    let (s, rest) = header.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// The user name in a Basic header, without checking the password.
fn basic_user(header: &str) -> Option<String> {
    let encoded = strip_scheme(header, "basic")?;
    let raw = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded.trim_end_matches('=')))
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    Some(
        text.split_once(':')
            .map(|(u, _)| u)
            .unwrap_or(&text)
            .to_string(),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff)) as usize;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(
            true,
            BTreeMap::from([("alice".to_string(), "pw:1".to_string())]),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn basic_padded_and_unpadded() {
        let a = auth();
        let padded = format!("Basic {}", STANDARD.encode("alice:pw:1"));
        assert_eq!(a.check_basic(&padded).unwrap(), "alice");
        let unpadded = format!("Basic {}", STANDARD_NO_PAD.encode("alice:pw:1"));
        assert_eq!(a.check_basic(&unpadded).unwrap(), "alice");
        let wrong = format!("Basic {}", STANDARD.encode("alice:nope"));
        assert!(a.check_basic(&wrong).is_err());
        assert!(a.check_basic("Basic !!!").is_err());
    }

    #[test]
    fn tokens() {
        let a = auth();
        let t = a.issue_token("alice");
        assert_eq!(a.authorize(Some(&format!("Bearer {t}"))).unwrap(), "alice");
        assert!(a.authorize(Some("Bearer nope")).is_err());
        assert!(a.authorize(None).is_err());
        let off = Authenticator::new(false, BTreeMap::new(), Duration::from_secs(1));
        assert_eq!(off.authorize(None).unwrap(), ANONYMOUS);
    }

    #[test]
    fn debug_shows_no_secret() {
        let a = auth();
        let token = a.issue_token("alice");
        let shown = format!("{a:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(
            !shown.contains("pw:1") && !shown.contains(&token),
            "{shown}"
        );
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
