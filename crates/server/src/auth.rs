//! Authentication: static tokens (`Authorization: Bearer` or `X-Chroma-Token`) or HTTP basic
//! auth against a user list / htpasswd file (plain or bcrypt passwords), configured with the
//! settings Chroma users already know.
//!
//! [`Auth`] is the setting; [`Authenticator`] checks requests against it. Basic auth with bcrypt
//! hashes is made safe to expose: a check costs one bcrypt of the same cost whether or not the
//! user exists (unknown users are verified against a dummy hash), bcrypt runs on the blocking
//! pool with at most [`Authenticator::bcrypt_slots`] at a time (at most [`MAX_WAITING_CHECKS`]
//! more wait; beyond that a check is refused as busy), and credentials that verified are
//! remembered for [`CACHE_TTL`] (at most [`CACHE_ENTRIES`], keyed by a keyed SHA-256 of user and
//! password), so a correct client pays bcrypt once.

use axum::http::HeaderMap;
use base64::Engine as _;
use chroma_types::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Which header carries a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenHeader {
    /// `Authorization: Bearer <token>` (Chroma's default).
    #[default]
    Authorization,
    /// `X-Chroma-Token: <token>`.
    XChromaToken,
}

impl TokenHeader {
    /// Parses Chroma's `AUTHORIZATION` / `X_CHROMA_TOKEN` (or `X-Chroma-Token`).
    pub fn parse(s: &str) -> Result<TokenHeader> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "" | "authorization" => Ok(TokenHeader::Authorization),
            "x_chroma_token" => Ok(TokenHeader::XChromaToken),
            _ => Err(Error::invalid(format!(
                "Unknown token transport header {s:?}: expected AUTHORIZATION or X_CHROMA_TOKEN"
            ))),
        }
    }
}

/// One basic-auth user: the password is stored plain or as a bcrypt hash (`$2a$`/`$2b$`/`$2y$`).
#[derive(Clone, PartialEq, Eq)]
pub struct BasicUser {
    /// The user name.
    pub user: String,
    /// The password, plain or bcrypt-hashed.
    pub secret: String,
}

impl std::fmt::Debug for BasicUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BasicUser({}, <secret>)", self.user)
    }
}

/// How the server checks who is calling.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// Everyone may call everything.
    #[default]
    None,
    /// Any of these tokens, in `header`.
    Token {
        /// The accepted tokens.
        tokens: Vec<String>,
        /// The header that carries them.
        header: TokenHeader,
    },
    /// HTTP basic auth against these users.
    Basic {
        /// The accepted users.
        users: Vec<BasicUser>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => write!(f, "Auth::None"),
            Auth::Token { tokens, header } => write!(f, "Auth::Token({} tokens, {header:?})", tokens.len()),
            Auth::Basic { users } => write!(f, "Auth::Basic({users:?})"),
        }
    }
}

fn eq_ct(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_bcrypt(secret: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$2x$"].iter().any(|p| secret.starts_with(p))
}

/// The cost of a bcrypt hash (`$2b$12$...` -> 12).
fn bcrypt_cost(secret: &str) -> Option<u32> {
    secret.get(4..6).and_then(|c| c.parse().ok())
}

fn password_ok(secret: &str, given: &str) -> bool {
    if is_bcrypt(secret) {
        bcrypt::verify(given, secret).unwrap_or(false)
    } else {
        eq_ct(secret.as_bytes(), given.as_bytes())
    }
}

/// The user and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

impl Auth {
    /// Whether any check is made.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, Auth::None)
    }

    /// Checks the request headers; returns the caller's user id ("" for tokens) or `None`.
    /// Runs bcrypt on the calling thread and reveals by its timing whether a user exists: the
    /// server uses [`Authenticator::check`] instead.
    pub fn check(&self, headers: &HeaderMap) -> Option<String> {
        match self {
            Auth::None => Some(String::new()),
            Auth::Token { tokens, header } => {
                let given = match header {
                    TokenHeader::Authorization => {
                        let v = headers.get("authorization")?.to_str().ok()?.trim();
                        let (scheme, tok) = v.split_once(' ')?;
                        if !scheme.eq_ignore_ascii_case("bearer") {
                            return None;
                        }
                        tok.trim().to_string()
                    }
                    TokenHeader::XChromaToken => headers.get("x-chroma-token")?.to_str().ok()?.trim().to_string(),
                };
                if given.is_empty() {
                    return None;
                }
                // Check every token so timing does not tell which one matched.
                let ok = tokens.iter().fold(false, |acc, t| eq_ct(t.as_bytes(), given.as_bytes()) | acc);
                ok.then(String::new)
            }
            Auth::Basic { users } => {
                let (user, pass) = basic_credentials(headers)?;
                let u = users.iter().find(|u| u.user == user)?;
                password_ok(&u.secret, &pass).then_some(user)
            }
        }
    }

    /// Builds the auth setting from Chroma-style provider / credentials / file / header values.
    pub fn from_settings(
        provider: Option<&str>,
        credentials: Option<&str>,
        credentials_file: Option<&str>,
        token_header: Option<&str>,
    ) -> Result<Auth> {
        let Some(provider) = provider.map(str::trim).filter(|p| !p.is_empty()) else {
            return Ok(Auth::None);
        };
        let p = provider.to_ascii_lowercase();
        let file_text = match credentials_file.map(str::trim).filter(|f| !f.is_empty()) {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                Error::invalid(format!("Cannot read auth credentials file {path}: {e}")).with_source(e)
            })?),
            None => None,
        };
        if p.contains("token") {
            let mut tokens: Vec<String> = Vec::new();
            if let Some(c) = credentials {
                tokens.extend(c.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string));
            }
            if let Some(text) = &file_text {
                tokens.extend(tokens_from_file(text));
            }
            if tokens.is_empty() {
                return Err(Error::invalid(
                    "Token authentication is enabled but no token is configured: set CHROMA_SERVER_AUTHN_CREDENTIALS or CHROMA_SERVER_AUTHN_CREDENTIALS_FILE",
                ));
            }
            let header = TokenHeader::parse(token_header.unwrap_or(""))?;
            Ok(Auth::Token { tokens, header })
        } else if p.contains("basic") {
            let mut users = Vec::new();
            if let Some(c) = credentials {
                for entry in c.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    users.push(basic_user(entry)?);
                }
            }
            if let Some(text) = &file_text {
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                    users.push(basic_user(line)?);
                }
            }
            if users.is_empty() {
                return Err(Error::invalid(
                    "Basic authentication is enabled but no user is configured: set CHROMA_SERVER_AUTHN_CREDENTIALS (user:password) or CHROMA_SERVER_AUTHN_CREDENTIALS_FILE (htpasswd)",
                ));
            }
            Ok(Auth::Basic { users })
        } else {
            Err(Error::invalid(format!(
                "Unknown auth provider {provider:?}: expected a token provider (chromadb.auth.token_authn.TokenAuthenticationServerProvider) or a basic one (chromadb.auth.basic_authn.BasicAuthenticationServerProvider)"
            )))
        }
    }
}

/// How long credentials that verified are remembered: a correct client pays bcrypt once per
/// this period, not once per request.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

/// Most credentials remembered at once (the oldest go first when full).
pub const CACHE_ENTRIES: usize = 1024;

/// Most password checks that wait for a bcrypt slot; a check beyond them is refused as busy
/// (429 `RateLimitError`) instead of queueing without bound.
pub const MAX_WAITING_CHECKS: usize = 64;

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Missing or wrong credentials (401).
    Unauthorized,
    /// Too many password checks are running and waiting (429): try again later.
    Busy,
}

/// Checks requests against an [`Auth`] setting (see the module docs for how basic auth with
/// bcrypt is kept from leaking user names or starving other requests).
pub struct Authenticator {
    auth: Auth,
    basic: Option<BasicState>,
}

/// What basic auth with bcrypt hashes needs at run time.
struct BasicState {
    /// Verified when the user is unknown, so that a miss costs what a wrong password costs.
    /// A bcrypt hash of the highest cost among the users', or (no bcrypt user) a plain secret.
    dummy: String,
    /// Whether any user has a bcrypt hash: then every uncached check runs one bcrypt.
    any_bcrypt: bool,
    /// Bounds the bcrypt work running at once.
    slots: Arc<Semaphore>,
    /// Checks waiting for a slot.
    waiting: AtomicUsize,
    /// Per-process random key of the cache's hash: the keys reveal nothing about passwords.
    key: [u8; 32],
    cache: Mutex<CredentialCache>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Authenticator({:?})", self.auth)
    }
}

impl Authenticator {
    /// Prepares the checks of `auth`. With bcrypt users this computes the dummy hash: one bcrypt
    /// at the highest cost among them.
    pub fn new(auth: Auth) -> Authenticator {
        let basic = match &auth {
            Auth::Basic { users } => {
                let cost = users.iter().filter(|u| is_bcrypt(&u.secret)).filter_map(|u| bcrypt_cost(&u.secret)).max();
                let random: [u8; 16] = rand::random();
                let secret = base64::engine::general_purpose::STANDARD.encode(random);
                // A random password nobody knows; a hashing failure (cost out of range, which
                // the users' own hashes would not verify with either) falls back to it plain.
                let dummy = cost.and_then(|c| bcrypt::hash(&secret, c).ok()).unwrap_or(secret);
                Some(BasicState {
                    any_bcrypt: users.iter().any(|u| is_bcrypt(&u.secret)),
                    dummy,
                    slots: Arc::new(Semaphore::new(Self::bcrypt_slots())),
                    waiting: AtomicUsize::new(0),
                    key: rand::random(),
                    cache: Mutex::new(CredentialCache::new(CACHE_ENTRIES, CACHE_TTL)),
                })
            }
            _ => None,
        };
        Authenticator { auth, basic }
    }

    /// How many bcrypt checks run at once: half the cores (at least one), so that password
    /// guessing cannot take every core from the requests that are let in.
    pub fn bcrypt_slots() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
    }

    /// The setting.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Whether any check is made.
    pub fn is_enabled(&self) -> bool {
        self.auth.is_enabled()
    }

    /// Checks the request headers; returns the caller's user id ("" for tokens).
    pub async fn check(&self, headers: &HeaderMap) -> std::result::Result<String, Denied> {
        let Some(st) = &self.basic else {
            return self.auth.check(headers).ok_or(Denied::Unauthorized);
        };
        let Auth::Basic { users } = &self.auth else {
            return Err(Denied::Unauthorized);
        };
        let (user, pass) = basic_credentials(headers).ok_or(Denied::Unauthorized)?;
        let key = st.cache_key(&user, &pass);
        if let Some(u) = st.cache.lock().ok().and_then(|mut c| c.get(&key, Instant::now())) {
            return Ok(u);
        }
        let secret = users.iter().find(|u| u.user == user).map(|u| u.secret.clone());
        let ok = if st.any_bcrypt {
            let _permit = st.slot().await?;
            let dummy = st.dummy.clone();
            // bcrypt takes tens of milliseconds of CPU: off the async workers, which keep
            // serving other requests meanwhile.
            tokio::task::spawn_blocking(move || match secret {
                Some(s) if is_bcrypt(&s) => password_ok(&s, &pass),
                // A plain user also pays one bcrypt, so that no user can be told apart.
                Some(s) => {
                    std::hint::black_box(password_ok(&dummy, &pass));
                    password_ok(&s, &pass)
                }
                None => {
                    std::hint::black_box(password_ok(&dummy, &pass));
                    false
                }
            })
            .await
            .unwrap_or(false)
        } else {
            // No bcrypt anywhere: an unknown user costs the plain comparison a known one does.
            let known = secret.is_some();
            let ok = password_ok(secret.as_deref().unwrap_or(&st.dummy), &pass);
            known && ok
        };
        if !ok {
            return Err(Denied::Unauthorized);
        }
        if let Ok(mut c) = st.cache.lock() {
            c.insert(key, user.clone(), Instant::now());
        }
        Ok(user)
    }
}

impl BasicState {
    fn cache_key(&self, user: &str, pass: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        // The user's length first, so that ("ab", "c") and ("a", "bc") differ.
        h.update((user.len() as u64).to_le_bytes());
        h.update(user.as_bytes());
        h.update(pass.as_bytes());
        h.finalize().into()
    }

    /// A bcrypt slot, waiting behind at most [`MAX_WAITING_CHECKS`] other checks.
    async fn slot(&self) -> std::result::Result<tokio::sync::OwnedSemaphorePermit, Denied> {
        /// Counts a waiting check until dropped (also when the request is cancelled).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_CHECKS {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Denied::Busy);
        }
        let _waiting = Waiting(&self.waiting);
        // The semaphore is never closed.
        self.slots.clone().acquire_owned().await.map_err(|_| Denied::Busy)
    }
}

/// Credentials that verified recently: keyed hash -> (user, expiry).
struct CredentialCache {
    entries: HashMap<[u8; 32], (String, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl CredentialCache {
    fn new(capacity: usize, ttl: Duration) -> CredentialCache {
        CredentialCache { entries: HashMap::new(), capacity, ttl }
    }

    fn get(&mut self, key: &[u8; 32], now: Instant) -> Option<String> {
        match self.entries.get(key) {
            Some((user, expires)) if *expires > now => Some(user.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: [u8; 32], user: String, now: Instant) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, expires)| *expires > now);
            if self.entries.len() >= self.capacity {
                // Full of live entries: drop the one that expires first (the oldest).
                if let Some(oldest) = self.entries.iter().min_by_key(|(_, (_, e))| *e).map(|(k, _)| *k) {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(key, (user, now + self.ttl));
    }
}

fn basic_user(entry: &str) -> Result<BasicUser> {
    let (user, secret) = entry
        .split_once(':')
        .ok_or_else(|| Error::invalid("Basic auth credentials must be user:password (or user:bcrypt-hash)"))?;
    if user.is_empty() {
        return Err(Error::invalid("Basic auth credentials must be user:password with a non-empty user"));
    }
    Ok(BasicUser { user: user.to_string(), secret: secret.to_string() })
}

/// Tokens from a file: one per line, or the `tokens:` lists of a Chroma users YAML file.
fn tokens_from_file(text: &str) -> Vec<String> {
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
    if !text.contains("tokens:") {
        return text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
    }
    let mut out = Vec::new();
    // Column of the `tokens:` key whose list we are reading.
    let mut key_col: Option<usize> = None;
    for line in text.lines() {
        let t = line.trim();
        let indent = line.len() - line.trim_start().len();
        if let Some(pos) = line.find("tokens:") {
            let rest = line[pos + "tokens:".len()..].trim();
            if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                out.extend(inner.split(',').map(unquote).filter(|s| !s.is_empty()));
                key_col = None;
            } else {
                key_col = rest.is_empty().then_some(pos);
            }
        } else if let Some(col) = key_col {
            match t.strip_prefix("- ") {
                Some(item) if indent >= col && !item.contains(": ") => out.push(unquote(item)),
                _ if t.is_empty() => {}
                _ => key_col = None,
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn token_auth() {
        let a = Auth::from_settings(
            Some("chromadb.auth.token_authn.TokenAuthenticationServerProvider"),
            Some("s3cret"),
            None,
            None,
        )
        .unwrap();
        assert!(a.check(&headers(&[("authorization", "Bearer s3cret")])).is_some());
        assert!(a.check(&headers(&[("authorization", "Bearer nope")])).is_none());
        assert!(a.check(&headers(&[("x-chroma-token", "s3cret")])).is_none());
        assert!(a.check(&HeaderMap::new()).is_none());
        let a = Auth::from_settings(Some("token"), Some("s3cret"), None, Some("X_CHROMA_TOKEN")).unwrap();
        assert!(a.check(&headers(&[("x-chroma-token", "s3cret")])).is_some());
        assert!(Auth::from_settings(Some("token"), None, None, None).is_err());
        assert!(Auth::from_settings(Some("token"), Some("x"), None, Some("bogus")).is_err());
    }

    #[test]
    fn basic_auth() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let a = Auth::Basic {
            users: vec![basic_user("admin:admin").unwrap(), basic_user(&format!("bob:{hash}")).unwrap()],
        };
        let b = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        assert_eq!(a.check(&headers(&[("authorization", &b("admin:admin"))])).as_deref(), Some("admin"));
        assert_eq!(a.check(&headers(&[("authorization", &b("bob:pw"))])).as_deref(), Some("bob"));
        assert!(a.check(&headers(&[("authorization", &b("bob:nope"))])).is_none());
        assert!(a.check(&headers(&[("authorization", "Basic !!!")])).is_none());
    }

    #[test]
    fn the_cache_expires_and_stays_bounded() {
        let t0 = Instant::now();
        let mut c = CredentialCache::new(3, Duration::from_secs(60));
        let k = |i: u8| [i; 32];
        c.insert(k(1), "a".into(), t0);
        assert_eq!(c.get(&k(1), t0 + Duration::from_secs(59)).as_deref(), Some("a"));
        assert_eq!(c.get(&k(1), t0 + Duration::from_secs(60)), None);
        assert!(c.entries.is_empty(), "an expired entry is dropped when met");
        for i in 0..10u8 {
            c.insert(k(i), format!("u{i}"), t0 + Duration::from_secs(u64::from(i)));
        }
        assert_eq!(c.entries.len(), 3);
        // The oldest went first: the last three are kept.
        let now = t0 + Duration::from_secs(10);
        assert_eq!(c.get(&k(9), now).as_deref(), Some("u9"));
        assert_eq!(c.get(&k(7), now).as_deref(), Some("u7"));
        assert_eq!(c.get(&k(6), now), None);
    }

    #[test]
    fn cache_keys_separate_user_and_password() {
        let a = Authenticator::new(Auth::Basic { users: vec![basic_user("ab:c").unwrap()] });
        let st = a.basic.as_ref().unwrap();
        assert_ne!(st.cache_key("ab", "c"), st.cache_key("a", "bc"));
        assert_eq!(st.cache_key("ab", "c"), st.cache_key("ab", "c"));
        // Another process (another key) hashes the same credentials differently.
        let b = Authenticator::new(Auth::Basic { users: vec![basic_user("ab:c").unwrap()] });
        assert_ne!(st.cache_key("ab", "c"), b.basic.as_ref().unwrap().cache_key("ab", "c"));
        // No bcrypt user: the dummy is a plain secret, not a hash.
        assert!(!is_bcrypt(&st.dummy));
        let hash = bcrypt::hash("pw", 5).unwrap();
        let c = Authenticator::new(Auth::Basic { users: vec![basic_user(&format!("bob:{hash}")).unwrap()] });
        let dummy = &c.basic.as_ref().unwrap().dummy;
        assert_eq!(bcrypt_cost(dummy), Some(5), "{dummy}");
    }

    #[test]
    fn authenticator_with_plain_and_bcrypt_users() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let b = |s: &str| {
            headers(&[("authorization", &format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s)))])
        };
        let plain = Authenticator::new(Auth::Basic { users: vec![basic_user("admin:admin").unwrap()] });
        let hash = bcrypt::hash("pw", 4).unwrap();
        let mixed = Authenticator::new(Auth::Basic {
            users: vec![basic_user("admin:admin").unwrap(), basic_user(&format!("bob:{hash}")).unwrap()],
        });
        for a in [&plain, &mixed] {
            rt.block_on(async {
                assert_eq!(a.check(&b("admin:admin")).await.as_deref(), Ok("admin"));
                // Twice: the second answer comes from the cache.
                assert_eq!(a.check(&b("admin:admin")).await.as_deref(), Ok("admin"));
                assert_eq!(a.check(&b("admin:nope")).await, Err(Denied::Unauthorized));
                assert_eq!(a.check(&b("nobody:admin")).await, Err(Denied::Unauthorized));
                assert_eq!(a.check(&HeaderMap::new()).await, Err(Denied::Unauthorized));
            });
        }
        rt.block_on(async {
            assert_eq!(mixed.check(&b("bob:pw")).await.as_deref(), Ok("bob"));
            assert_eq!(mixed.check(&b("bob:admin")).await, Err(Denied::Unauthorized));
        });
    }

    #[test]
    fn yaml_tokens() {
        let t = tokens_from_file(
            "users:\n  - id: a\n    tokens:\n      - \"t1\"\n      - t2\n  - id: b\n    tokens: [t3, 't4']\n",
        );
        assert_eq!(t, vec!["t1", "t2", "t3", "t4"]);
        assert_eq!(tokens_from_file("a\n\n# c\nb\n"), vec!["a", "b"]);
    }
}
