//! An OpenAI-compatible HTTP embedding function (feature `openai`): `POST {base}/embeddings`
//! with `{"model", "input": [...]}`, the key from an environment variable, stored in a
//! collection's configuration as Chroma 1.x stores its `OpenAIEmbeddingFunction`.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::{EmbedError, EmbeddingFunction};

/// The function's name in Chroma 1.x's registry of known functions.
pub const OPENAI_NAME: &str = "openai";

/// Where the key is read from when no other variable is named (as in Chroma 1.x).
pub const OPENAI_DEFAULT_KEY_ENV: &str = "CHROMA_OPENAI_API_KEY";

/// The API's base URL when none is given.
pub const OPENAI_DEFAULT_BASE: &str = "https://api.openai.com/v1";

/// Texts per request: the `OpenAI` API's limit on `input` items is 2048.
const DEFAULT_BATCH: usize = 2048;

/// Embeddings from an OpenAI-compatible `/embeddings` endpoint.
///
/// The key is read from its environment variable at each call (never stored in the
/// collection's configuration, as in Chroma 1.x): a missing variable is an error naming it.
/// Texts go in batches of at most 2048 (`batch_size`); every vector of a call must have the
/// same length, `dimensions` when that is set, or the call is an error.
#[derive(Debug, Clone)]
pub struct OpenAiEmbeddingFunction {
    model_name: String,
    api_base: Option<String>,
    api_key_env_var: String,
    organization_id: Option<String>,
    default_headers: Option<Map<String, Value>>,
    dimensions: Option<usize>,
    batch_size: usize,
    timeout: Duration,
}

impl OpenAiEmbeddingFunction {
    /// The model `model_name` (e.g. `text-embedding-3-small`) at `OpenAI`, key from
    /// `CHROMA_OPENAI_API_KEY`.
    pub fn new(model_name: impl Into<String>) -> Self {
        Self {
            model_name: model_name.into(),
            api_base: None,
            api_key_env_var: OPENAI_DEFAULT_KEY_ENV.to_string(),
            organization_id: None,
            default_headers: None,
            dimensions: None,
            batch_size: DEFAULT_BATCH,
            timeout: Duration::from_secs(120),
        }
    }

    /// Another OpenAI-compatible server, e.g. `http://127.0.0.1:8080/v1` (the path before
    /// `/embeddings`).
    #[must_use]
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = Some(url.into());
        self
    }

    /// The environment variable holding the key.
    #[must_use]
    pub fn api_key_env_var(mut self, name: impl Into<String>) -> Self {
        self.api_key_env_var = name.into();
        self
    }

    /// Sent as `OpenAI-Organization`.
    #[must_use]
    pub fn organization_id(mut self, id: impl Into<String>) -> Self {
        self.organization_id = Some(id.into());
        self
    }

    /// Requested output dimension (sent as `dimensions`; every vector must have it).
    #[must_use]
    pub fn dimensions(mut self, n: usize) -> Self {
        self.dimensions = Some(n);
        self
    }

    /// Texts per request (at least 1).
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Time allowed for one request, connection to last byte (default 120 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the function from the `config` Chroma 1.x stores for it (`api_key_env_var` and
    /// `model_name` required, as there; `api_base`, `organization_id`, `default_headers`,
    /// `dimensions` optional). Azure (`api_type: "azure"`) is not supported: an error.
    pub fn from_config(config: &Value) -> Result<Self, EmbedError> {
        let bad = |m: String| EmbedError::Config(format!("openai embedding function: {m}"));
        let obj = config.as_object().ok_or_else(|| bad(format!("config must be an object, got {config}")))?;
        let string = |key: &str| -> Result<Option<String>, EmbedError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(bad(format!("{key} must be a string, got {v}"))),
            }
        };
        let (Some(key_env), Some(model)) = (string("api_key_env_var")?, string("model_name")?) else {
            return Err(bad("api_key_env_var and model_name are required".into()));
        };
        if let Some(t) = string("api_type")?.filter(|t| t != "openai") {
            return Err(bad(format!("api_type {t:?} is not supported (only OpenAI-compatible servers)")));
        }
        let mut ef = Self::new(model).api_key_env_var(key_env);
        ef.api_base = string("api_base")?;
        ef.organization_id = string("organization_id")?;
        ef.default_headers = match obj.get("default_headers") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) if m.values().all(Value::is_string) => Some(m.clone()),
            Some(v) => return Err(bad(format!("default_headers must map names to strings, got {v}"))),
        };
        ef.dimensions = match obj.get("dimensions") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad(format!("dimensions must be a positive integer, got {v}")))?
                    as usize,
            ),
        };
        Ok(ef)
    }

    fn url(&self) -> String {
        format!("{}/embeddings", self.api_base.as_deref().unwrap_or(OPENAI_DEFAULT_BASE).trim_end_matches('/'))
    }

    fn request(&self, agent: &ureq::Agent, key: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let url = self.url();
        let fail = |message: String| EmbedError::Remote { url: url.clone(), message };
        let mut body = json!({"model": self.model_name, "input": texts, "encoding_format": "float"});
        if let Some(d) = self.dimensions {
            body["dimensions"] = json!(d);
        }
        let mut req = agent.post(&url).header("Authorization", &format!("Bearer {key}"));
        if let Some(org) = &self.organization_id {
            req = req.header("OpenAI-Organization", org);
        }
        for (name, value) in self.default_headers.iter().flatten() {
            req = req.header(name.as_str(), value.as_str().unwrap_or_default());
        }
        let mut resp = req
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| fail(format!("request failed: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| fail(format!("reading the response: {e}")))?;
        let reply: Result<Value, _> = serde_json::from_slice(&bytes);
        if !(200..300).contains(&status) {
            // OpenAI's error shape is {"error": {"message": ...}}; else show the start of the body.
            let detail = reply
                .ok()
                .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned());
            return Err(fail(format!("HTTP {status}: {detail}")));
        }
        let reply = reply.map_err(|e| fail(format!("the reply is not JSON: {e}")))?;
        let data =
            reply.get("data").and_then(Value::as_array).ok_or_else(|| fail("the reply has no data list".into()))?;
        if data.len() != texts.len() {
            return Err(fail(format!("{} embeddings for {} texts", data.len(), texts.len())));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (pos, item) in data.iter().enumerate() {
            // Items carry their input's index; a reply without it is in input order.
            let index = item.get("index").and_then(Value::as_u64).map_or(pos, |i| i as usize);
            let vector = item
                .get("embedding")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(|x| x.as_f64().map(|f| f as f32)).collect::<Option<Vec<f32>>>())
                .ok_or_else(|| fail(format!("data[{pos}] has no list of numbers as embedding")))?;
            match out.get_mut(index) {
                Some(slot @ None) => *slot = Some(vector),
                _ => return Err(fail(format!("data[{pos}] has a wrong or repeated index {index}"))),
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

impl EmbeddingFunction for OpenAiEmbeddingFunction {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let key = std::env::var(&self.api_key_env_var).ok().filter(|k| !k.is_empty()).ok_or_else(|| {
            EmbedError::Config(format!("the {} environment variable is not set", self.api_key_env_var))
        })?;
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(self.timeout)).build(),
        );
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            out.extend(self.request(&agent, &key, batch)?);
        }
        let want = self.dimensions.or_else(|| out.first().map(Vec::len)).unwrap_or(0);
        if let Some((i, v)) = out.iter().enumerate().find(|(_, v)| v.len() != want || v.is_empty()) {
            return Err(EmbedError::Remote {
                url: self.url(),
                message: format!("embedding {i} has {} dimensions, expected {want}", v.len()),
            });
        }
        Ok(out)
    }

    fn name(&self) -> &str {
        OPENAI_NAME
    }

    fn config(&self) -> Value {
        json!({
            "api_key_env_var": self.api_key_env_var,
            "model_name": self.model_name,
            "organization_id": self.organization_id,
            "api_base": self.api_base,
            "api_type": null,
            "api_version": null,
            "deployment_id": null,
            "default_headers": self.default_headers,
            "dimensions": self.dimensions,
        })
    }
}
