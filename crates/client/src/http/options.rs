//! [`HttpOptions`]: how to reach a server (URL, headers, credentials, timeout).

use std::time::Duration;

/// Which header carries a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenTransport {
    /// `Authorization: Bearer <token>` (Chroma's default).
    #[default]
    Bearer,
    /// `X-Chroma-Token: <token>` (Chroma Cloud and `X_CHROMA_TOKEN` servers).
    XChromaToken,
}

/// How to reach a server.
#[derive(Clone, Default)]
pub struct HttpOptions {
    /// Base URL, e.g. `http://localhost:8000` (a path such as `/api/v2` is optional).
    pub url: String,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// Token for token authentication.
    pub token: Option<String>,
    /// Header that carries `token`.
    pub token_transport: TokenTransport,
    /// User and password for basic authentication.
    pub basic_auth: Option<(String, String)>,
    /// Timeout of one whole request (default 120 s).
    pub timeout: Option<Duration>,
}

// Secrets are not printed: header values, the token and the password are left out.
#[allow(clippy::missing_fields_in_debug)]
impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("url", &self.url)
            .field("headers", &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("token_transport", &self.token_transport)
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl HttpOptions {
    /// The server at `url`, no credentials, default timeout.
    pub fn new(url: impl Into<String>) -> Self {
        HttpOptions { url: url.into(), ..Default::default() }
    }

    /// Adds a header sent with every request.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Token authentication (in the header [`HttpOptions::token_transport`] says).
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Which header carries the token.
    #[must_use]
    pub fn token_transport(mut self, t: TokenTransport) -> Self {
        self.token_transport = t;
        self
    }

    /// Basic authentication.
    #[must_use]
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Timeout of one whole request.
    #[must_use]
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}
