//! Authentication shared by every endpoint: Basic credentials checked against
//! the configured users, and bearer tokens issued by the Flight SQL handshake.
//!
//! Two rules protect the passwords themselves: Basic credentials are refused
//! on a connection without TLS unless [`InsecureBasic::Loopback`] allows them
//! from a loopback peer (Trino's `allow-insecure-over-http`), and failed
//! logins are throttled per user and peer address (after
//! [`FREE_FAILURES`] failures, each further attempt waits out a lockout that
//! doubles up to [`MAX_LOCKOUT`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use contango_common::error::{ContangoError, Result};
use parking_lot::Mutex;

/// User used when authentication is disabled.
pub const ANONYMOUS: &str = "anonymous";

/// Failed logins of one user from one address before lockouts start.
pub const FREE_FAILURES: u32 = 5;
/// Longest lockout after repeated failures.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(300);
/// Failure records kept at most (the oldest are forgotten first).
const MAX_FAILURE_RECORDS: usize = 100_000;

/// Where a request came from and how: what the password rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Peer address, when the transport knows it.
    pub addr: Option<IpAddr>,
    /// Whether the connection is encrypted (TLS).
    pub secure: bool,
}

impl Caller {
    /// A caller over TLS from `addr`.
    pub fn tls(addr: Option<IpAddr>) -> Self {
        Self { addr, secure: true }
    }

    /// A caller over a plain connection from `addr`.
    pub fn plain(addr: Option<IpAddr>) -> Self {
        Self {
            addr,
            secure: false,
        }
    }

    fn loopback(&self) -> bool {
        self.addr.is_some_and(|a| match a {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        })
    }
}

/// Whether Basic credentials are accepted on connections without TLS
/// (`[auth] insecure_basic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsecureBasic {
    /// Never: passwords travel only over TLS (the default).
    Refuse,
    /// From loopback peers only (a client on the same machine).
    Loopback,
}

impl InsecureBasic {
    /// Parses the configuration value (`refuse` or `loopback`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "" | "refuse" | "never" => Some(Self::Refuse),
            "loopback" => Some(Self::Loopback),
            _ => None,
        }
    }
}

/// Failed logins of one (user, address).
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// Until when further attempts are refused without checking.
    fn locked_until(&self) -> Option<Instant> {
        let over = self.count.checked_sub(FREE_FAILURES)?;
        let lockout = Duration::from_secs(1u64 << over.min(16)).min(MAX_LOCKOUT);
        Some(self.last + lockout)
    }
}

/// Checks credentials and tracks issued tokens. Its `Debug` shows the user
/// names and the number of live tokens, never a password or a token.
pub struct Authenticator {
    enabled: bool,
    users: BTreeMap<String, String>,
    admins: BTreeSet<String>,
    insecure_basic: InsecureBasic,
    ttl: Duration,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    failures: Mutex<HashMap<(String, Option<IpAddr>), Failures>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("enabled", &self.enabled)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("admins", &self.admins)
            .field("insecure_basic", &self.insecure_basic)
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
            admins: BTreeSet::new(),
            insecure_basic: InsecureBasic::Refuse,
            ttl,
            tokens: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// The users in the administrator role (they see every user's queries
    /// in `system.runtime.queries` and may kill them).
    pub fn with_admins(mut self, admins: impl IntoIterator<Item = String>) -> Self {
        self.admins = admins.into_iter().collect();
        self
    }

    /// Where Basic credentials are accepted without TLS.
    pub fn with_insecure_basic(mut self, policy: InsecureBasic) -> Self {
        self.insecure_basic = policy;
        self
    }

    /// Whether credentials are required.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `user` has the administrator role. With auth off everybody
    /// does: there is no identity to protect.
    pub fn is_admin(&self, user: &str) -> bool {
        !self.enabled || self.admins.contains(user)
    }

    /// Verifies a user and password (constant time in the password),
    /// throttled per user and address.
    pub fn check_password(&self, user: &str, password: &str, caller: &Caller) -> Result<()> {
        let key = (user.to_string(), caller.addr);
        let now = Instant::now();
        if let Some(until) = self
            .failures
            .lock()
            .get(&key)
            .and_then(Failures::locked_until)
            && until > now
        {
            let wait = (until - now).as_secs().max(1);
            return Err(ContangoError::unauthenticated(format!(
                "too many failed logins for user '{user}': retry in {wait} s"
            )));
        }
        match self.users.get(user) {
            Some(expected) if constant_time_eq(expected.as_bytes(), password.as_bytes()) => {
                self.failures.lock().remove(&key);
                Ok(())
            }
            _ => {
                let mut failures = self.failures.lock();
                if failures.len() >= MAX_FAILURE_RECORDS {
                    failures.retain(|_, f| now.duration_since(f.last) < MAX_LOCKOUT);
                    if failures.len() >= MAX_FAILURE_RECORDS {
                        failures.clear();
                    }
                }
                let f = failures.entry(key).or_insert(Failures {
                    count: 0,
                    last: now,
                });
                if now.duration_since(f.last) >= MAX_LOCKOUT * 2 {
                    f.count = 0;
                }
                f.count = f.count.saturating_add(1);
                f.last = now;
                tracing::warn!(user, addr = ?caller.addr, failures = f.count, "failed login");
                Err(ContangoError::unauthenticated(format!(
                    "invalid credentials for user '{user}'"
                )))
            }
        }
    }

    /// Decodes `Basic <base64(user:password)>` (padded or not) and verifies
    /// it, if the connection may carry a password at all.
    pub fn check_basic(&self, header: &str, caller: &Caller) -> Result<String> {
        let allowed =
            caller.secure || (self.insecure_basic == InsecureBasic::Loopback && caller.loopback());
        if !allowed {
            return Err(ContangoError::unauthenticated(
                "Basic credentials are refused on a connection without TLS: configure \
                 [server] tls_cert and tls_key, or set [auth] insecure_basic = \"loopback\" \
                 to allow clients on this machine",
            ));
        }
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
        self.check_password(user, password, caller)?;
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
    pub fn authorize(&self, header: Option<&str>, caller: &Caller) -> Result<String> {
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
            self.check_basic(header, caller)
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

    fn tls() -> Caller {
        Caller::tls(Some("10.0.0.1".parse().unwrap()))
    }

    #[test]
    fn basic_padded_and_unpadded() {
        let a = auth();
        let padded = format!("Basic {}", STANDARD.encode("alice:pw:1"));
        assert_eq!(a.check_basic(&padded, &tls()).unwrap(), "alice");
        let unpadded = format!("Basic {}", STANDARD_NO_PAD.encode("alice:pw:1"));
        assert_eq!(a.check_basic(&unpadded, &tls()).unwrap(), "alice");
        let wrong = format!("Basic {}", STANDARD.encode("alice:nope"));
        assert!(a.check_basic(&wrong, &tls()).is_err());
        assert!(a.check_basic("Basic !!!", &tls()).is_err());
    }

    #[test]
    fn basic_without_tls_only_from_loopback_when_allowed() {
        let header = format!("Basic {}", STANDARD.encode("alice:pw:1"));
        let local = Caller::plain(Some("127.0.0.1".parse().unwrap()));
        let mapped = Caller::plain(Some("::ffff:127.0.0.1".parse().unwrap()));
        let remote = Caller::plain(Some("192.168.1.9".parse().unwrap()));
        let refuse = auth();
        let e = refuse.check_basic(&header, &local).unwrap_err();
        assert!(e.message().contains("without TLS"), "{}", e.message());
        let loopback = auth().with_insecure_basic(InsecureBasic::Loopback);
        assert_eq!(loopback.check_basic(&header, &local).unwrap(), "alice");
        assert_eq!(loopback.check_basic(&header, &mapped).unwrap(), "alice");
        assert!(loopback.check_basic(&header, &remote).is_err());
        assert!(loopback.check_basic(&header, &Caller::plain(None)).is_err());
        assert_eq!(
            InsecureBasic::parse("LOOPBACK"),
            Some(InsecureBasic::Loopback)
        );
        assert_eq!(InsecureBasic::parse("always"), None);
    }

    #[test]
    fn failed_logins_lock_out_one_user_at_one_address() {
        let a = auth();
        let wrong = format!("Basic {}", STANDARD.encode("alice:nope"));
        let right = format!("Basic {}", STANDARD.encode("alice:pw:1"));
        for _ in 0..FREE_FAILURES {
            let e = a.check_basic(&wrong, &tls()).unwrap_err();
            assert!(
                e.message().contains("invalid credentials"),
                "{}",
                e.message()
            );
        }
        // Locked now: even the right password waits.
        let e = a.check_basic(&right, &tls()).unwrap_err();
        assert!(
            e.message().contains("too many failed logins"),
            "{}",
            e.message()
        );
        // Another address is not locked out.
        let other = Caller::tls(Some("10.0.0.2".parse().unwrap()));
        assert_eq!(a.check_basic(&right, &other).unwrap(), "alice");
        // After the lockout the right password works and clears the record.
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(a.check_basic(&right, &tls()).unwrap(), "alice");
        assert!(a.check_basic(&wrong, &tls()).is_err());
        assert_eq!(a.check_basic(&right, &tls()).unwrap(), "alice");
    }

    #[test]
    fn admins() {
        let a = auth().with_admins(["root".to_string()]);
        assert!(a.is_admin("root") && !a.is_admin("alice"));
        let off = Authenticator::new(false, BTreeMap::new(), Duration::from_secs(1));
        assert!(off.is_admin("anyone"));
    }

    #[test]
    fn tokens() {
        let a = auth();
        let t = a.issue_token("alice");
        assert_eq!(
            a.authorize(Some(&format!("Bearer {t}")), &tls()).unwrap(),
            "alice"
        );
        assert!(a.authorize(Some("Bearer nope"), &tls()).is_err());
        assert!(a.authorize(None, &tls()).is_err());
        let off = Authenticator::new(false, BTreeMap::new(), Duration::from_secs(1));
        assert_eq!(off.authorize(None, &tls()).unwrap(), ANONYMOUS);
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
