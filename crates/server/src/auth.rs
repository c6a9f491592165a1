//! Authentication: static tokens (`Authorization: Bearer` or `X-Chroma-Token`) or HTTP basic
//! auth against a user list / htpasswd file (plain or bcrypt passwords), configured with the
//! settings Chroma users already know.

use axum::http::HeaderMap;
use base64::Engine as _;
use chroma_types::{Error, Result};

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

fn password_ok(secret: &str, given: &str) -> bool {
    if secret.starts_with("$2a$")
        || secret.starts_with("$2b$")
        || secret.starts_with("$2y$")
        || secret.starts_with("$2x$")
    {
        bcrypt::verify(given, secret).unwrap_or(false)
    } else {
        eq_ct(secret.as_bytes(), given.as_bytes())
    }
}

impl Auth {
    /// Whether any check is made.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, Auth::None)
    }

    /// Checks the request headers; returns the caller's user id ("" for tokens) or `None`.
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
                let v = headers.get("authorization")?.to_str().ok()?.trim();
                let (scheme, b64) = v.split_once(' ')?;
                if !scheme.eq_ignore_ascii_case("basic") {
                    return None;
                }
                let decoded = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
                let decoded = String::from_utf8(decoded).ok()?;
                let (user, pass) = decoded.split_once(':')?;
                let u = users.iter().find(|u| u.user == user)?;
                password_ok(&u.secret, pass).then(|| user.to_string())
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
    fn yaml_tokens() {
        let t = tokens_from_file(
            "users:\n  - id: a\n    tokens:\n      - \"t1\"\n      - t2\n  - id: b\n    tokens: [t3, 't4']\n",
        );
        assert_eq!(t, vec!["t1", "t2", "t3", "t4"]);
        assert_eq!(tokens_from_file("a\n\n# c\nb\n"), vec!["a", "b"]);
    }
}
