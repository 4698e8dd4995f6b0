//! `http`: one HTTP request with a timeout, mapped to codes: connection
//! refused, DNS and TLS failures, timeouts, dropped connections, 429 with
//! `Retry-After` (seconds or HTTP-date), 5xx, 401/403, 404, 409, 413, and an
//! error hidden in a 2xx JSON body (a JSON pointer, an expectation, or the
//! common `{"error": …}` / `{"ok": false}` shapes).

use std::error::Error as _;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use mend_core::safety::Intent;
use mend_core::tool::{CallContext, Effect, Repair, Tool};
use mend_core::{ErrorCode, Outcome, ToolError};
use serde_json::{Map, Value, json};

use crate::ms_since;

/// Default timeout of a request.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Default cap on a response body kept in the outcome.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;
const MAX_REPAIR_TIMEOUT_MS: u64 = 5 * 60_000;
/// Redirects followed at most, per call.
pub const MAX_REDIRECTS: u32 = 10;

/// The `http` tool.
#[derive(Debug, Clone)]
pub struct HttpTool {
    client: reqwest::Client,
}

impl Default for HttpTool {
    fn default() -> Self {
        // Redirects are followed by the tool itself (see `call`).
        let client = reqwest::Client::builder()
            .user_agent(concat!("mend/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        HttpTool { client }
    }
}

impl HttpTool {
    /// A tool on a given client (a custom resolver, proxy or TLS roots).
    /// The client should not follow redirects itself
    /// (`reqwest::redirect::Policy::none()`): the tool follows them, so that
    /// a failure on a hop is not taken for the request's own (issue 14).
    pub fn with_client(client: reqwest::Client) -> Self {
        HttpTool { client }
    }
}

/// Parses a `Retry-After` value (delta-seconds or an HTTP-date) into
/// milliseconds from `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<u64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some((secs * 1000.0) as u64);
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO).as_millis() as u64)
}

/// Classifies a transport error by walking its source chain.
pub fn classify_transport(e: &reqwest::Error) -> ErrorCode {
    let mut chain = e.to_string().to_lowercase();
    let mut kinds = Vec::new();
    let mut src = e.source();
    while let Some(s) = src {
        chain.push_str(" | ");
        chain.push_str(&s.to_string().to_lowercase());
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            kinds.push(io.kind());
        }
        src = s.source();
    }
    use std::io::ErrorKind as K;
    if e.is_timeout() || kinds.contains(&K::TimedOut) {
        ErrorCode::TIMEOUT
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") || chain.contains("name or service not known") {
        ErrorCode::DNS_FAILURE
    } else if kinds.contains(&K::ConnectionRefused) || chain.contains("connection refused") {
        ErrorCode::CONNECTION_REFUSED
    } else if chain.contains("certificate")
        || chain.contains("tls")
        || chain.contains("handshake")
        || chain.contains("invalid peer")
        || chain.contains("corrupt message")
    {
        ErrorCode::TLS_FAILURE
    } else if kinds.iter().any(|k| matches!(k, K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof))
        || chain.contains("connection closed")
        || chain.contains("connection reset")
        || chain.contains("incomplete message")
        || e.is_body()
    {
        ErrorCode::CONNECTION_RESET
    } else if e.is_builder() {
        ErrorCode::INVALID_ARGS
    } else {
        ErrorCode::IO_ERROR
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The method a call means: `method` (GET), or the method an override
/// header (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`)
/// asks the server to use instead, which is what the server acts on.
fn method_of(args: &Value) -> String {
    let headers = args.get("headers").and_then(Value::as_object);
    let overridden = headers.and_then(|h| {
        h.iter()
            .find(|(k, _)| ["x-http-method-override", "x-http-method", "x-method-override"].iter().any(|n| k.eq_ignore_ascii_case(n)))
            .and_then(|(_, v)| v.as_str())
    });
    overridden.or_else(|| args.get("method").and_then(Value::as_str)).unwrap_or("GET").trim().to_owned()
}

/// An error reported inside a successful body, if any.
fn body_error(body: &Value, args: &Value) -> Option<ToolError> {
    let (found, source) = if let Some(p) = args.get("error_pointer").and_then(Value::as_str) {
        match body.pointer(p) {
            Some(v) if truthy(v) => (v.clone(), p.to_owned()),
            _ => return None,
        }
    } else if let Some(exp) = args.get("expect") {
        let p = exp.get("pointer").and_then(Value::as_str).unwrap_or("");
        let want = exp.get("equals").cloned().unwrap_or(Value::Null);
        let got = body.pointer(p).cloned().unwrap_or(Value::Null);
        if got == want {
            return None;
        }
        let e = ToolError::new(ErrorCode::REMOTE_ERROR, format!("expected {p} = {want}, the body has {got}")).hint("pointer", p);
        return Some(e);
    } else if args.get("detect_body_errors").and_then(Value::as_bool).unwrap_or(true) {
        let obj = body.as_object()?;
        if let Some(v) = obj.get("error").filter(|v| truthy(v)) {
            (v.clone(), "/error".to_owned())
        } else if obj.get("ok") == Some(&Value::Bool(false)) || obj.get("success") == Some(&Value::Bool(false)) {
            (body.clone(), "/ok".to_owned())
        } else if obj.get("status").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("error")) {
            (body.clone(), "/status".to_owned())
        } else {
            return None;
        }
    } else {
        return None;
    };
    let message = match &found {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            o.get("message").or_else(|| o.get("error")).and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| found.to_string())
        }
        other => other.to_string(),
    };
    let code = found
        .get("code")
        .and_then(Value::as_str)
        .and_then(|c| ErrorCode::parse(c).ok())
        .filter(ErrorCode::is_known)
        .unwrap_or(ErrorCode::REMOTE_ERROR);
    let mut e = ToolError::new(code, format!("the response reports an error at {source}: {message}")).hint("pointer", source);
    if let Some(r) = found.get("retryable").and_then(Value::as_bool) {
        e.retryable = r;
    }
    Some(e)
}

fn status_error(status: u16, body: &str, retry_after: Option<u64>) -> Option<ToolError> {
    let snippet: String = body.chars().take(200).collect();
    let code = match status {
        200..=399 => return None,
        401 => ErrorCode::UNAUTHORIZED,
        403 => ErrorCode::PERMISSION_DENIED,
        404 | 410 => ErrorCode::NOT_FOUND,
        408 => ErrorCode::TIMEOUT,
        // A gateway that timed out: the upstream may have done the work.
        504 => ErrorCode::TIMEOUT,
        409 if body.to_lowercase().contains("exist") => ErrorCode::ALREADY_EXISTS,
        409 => ErrorCode::CONFLICT,
        413 => ErrorCode::TOO_LARGE,
        429 => ErrorCode::RATE_LIMITED,
        400 | 422 => ErrorCode::INVALID_ARGS,
        500..=599 => ErrorCode::SERVER_ERROR,
        _ => ErrorCode::HTTP_ERROR,
    };
    let mut e = ToolError::new(code, format!("HTTP {status}{}", if snippet.is_empty() { String::new() } else { format!(": {snippet}") }))
        .hint("http_status", status);
    // Issue 14: a 408 says the server never took the request; a 500, 502
    // or 504 came after it may have been acted on.
    match status {
        408 => e = e.hint("sent", false),
        500 | 502 | 504 => e = e.hint("in_doubt", true),
        _ => {}
    }
    if let Some(ms) = retry_after {
        e = e.hint("retry_after_ms", ms);
    }
    Some(e)
}

#[async_trait]
impl Tool for HttpTool {
    fn name(&self) -> &str {
        "http"
    }

    fn description(&self) -> &str {
        "Send an HTTP request; statuses, transport failures and errors inside 2xx bodies become codes"
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "method": {"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]},
                "url": {"type": "string", "pattern": "^https?://"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "body": {"type": "string"},
                "json": {},
                "timeout_ms": {"type": "integer", "minimum": 1},
                "max_body_bytes": {"type": "integer", "minimum": 1},
                "error_pointer": {"type": "string", "description": "JSON pointer that, when present and truthy in a 2xx body, means failure"},
                "expect": {
                    "type": "object",
                    "properties": {"pointer": {"type": "string"}, "equals": {}},
                    "required": ["pointer", "equals"],
                    "additionalProperties": false
                },
                "detect_body_errors": {
                    "type": "boolean",
                    "description": "default true: a 2xx JSON object body with an \"error\" that is not null, false or empty, \"ok\": false, \"success\": false or \"status\": \"error\" fails, as REMOTE_ERROR or the error's own known \"code\"; not used when error_pointer or expect is given"
                }
            },
            "required": ["url"],
            "additionalProperties": false,
            "not": {"required": ["body", "json"]}
        })
    }

    fn render(&self, args: &Value) -> String {
        let method = args.get("method").and_then(Value::as_str).unwrap_or("GET");
        format!("{method} {}", args.get("url").and_then(Value::as_str).unwrap_or("?"))
    }

    fn effect(&self, args: &Value) -> Effect {
        match method_of(args).as_str() {
            "GET" | "HEAD" | "OPTIONS" => Effect::ReadOnly,
            _ => Effect::Mutating,
        }
    }

    /// RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT and DELETE are
    /// idempotent; POST, PATCH and any other method are not — unless the
    /// call carries an `Idempotency-Key` header of its own (issue 14).
    fn idempotent(&self, args: &Value) -> bool {
        let method = method_of(args);
        let keyed =
            args.get("headers").and_then(Value::as_object).is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("idempotency-key")));
        keyed || matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE")
    }

    /// The step's key goes in its header (issue 14).
    fn takes_idempotency_key(&self) -> bool {
        true
    }

    fn intent(&self, args: &Value, _base_dir: &std::path::Path) -> Intent {
        Intent::Http { method: method_of(args), url: args.get("url").and_then(Value::as_str).unwrap_or("").to_owned() }
    }

    async fn call(&self, args: &Value, ctx: &CallContext) -> Outcome {
        let t0 = Instant::now();
        let url = args.get("url").and_then(Value::as_str).unwrap_or("");
        let method = args.get("method").and_then(Value::as_str).unwrap_or("GET");
        let timeout_ms = args.get("timeout_ms").and_then(Value::as_u64).unwrap_or(DEFAULT_TIMEOUT_MS);
        let cap = args.get("max_body_bytes").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_BODY);
        let Ok(m) = reqwest::Method::from_bytes(method.as_bytes()) else {
            return Outcome::failure(ToolError::new(ErrorCode::INVALID_ARGS, format!("bad method {method}")));
        };
        // Redirects are followed here, not by the client (issue 14), so a
        // failure on a hop is never taken for the request's own: the
        // request was answered. A call not safe to repeat (POST, PATCH) is
        // not followed to where a 301, 302 or 303 points (its answer is the
        // redirect, `location` in the output); a 307 or 308 — "send it
        // there instead" — is followed only to the same host (or from http
        // to https). Credentials are not sent to another host.
        let deadline = t0 + Duration::from_millis(timeout_ms);
        let repeatable = self.idempotent(args);
        let first = reqwest::Url::parse(url).ok();
        let (mut method_now, mut at, mut with_body, mut hops) = (m, first.clone(), true, 0u32);
        let mut resp = loop {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            let mut req = match &at {
                Some(u) => self.client.request(method_now.clone(), u.clone()),
                None => self.client.request(method_now.clone(), url),
            }
            .timeout(left);
            let same_host = at
                .as_ref()
                .zip(first.as_ref())
                .is_some_and(|(a, b)| a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default());
            if let Some(h) = args.get("headers").and_then(Value::as_object) {
                for (k, v) in h {
                    if !same_host && ["authorization", "cookie", "proxy-authorization"].iter().any(|n| k.eq_ignore_ascii_case(n)) {
                        continue;
                    }
                    req = req.header(k.as_str(), v.as_str().unwrap_or(""));
                }
            }
            // The step's idempotency key, unless the call sets that header itself.
            if let Some(k) = &ctx.idempotency_key {
                let own =
                    args.get("headers").and_then(Value::as_object).is_some_and(|h| h.keys().any(|n| n.eq_ignore_ascii_case(&k.header)));
                if !own {
                    req = req.header(k.header.as_str(), k.value.as_str());
                }
            }
            if with_body {
                if let Some(b) = args.get("body").and_then(Value::as_str) {
                    req = req.body(b.to_owned());
                } else if let Some(j) = args.get("json") {
                    req = req.json(j);
                }
            }
            let r = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let code = classify_transport(&e);
                    let shown = at.as_ref().map(|u| u.to_string()).unwrap_or_else(|| url.to_owned());
                    let mut te = ToolError::new(code.clone(), format!("{method} {shown}: {}", describe(&e)));
                    if code == ErrorCode::TIMEOUT {
                        te = te.hint("timeout_ms", timeout_ms);
                    }
                    // Issue 14: broken off while making the first connection,
                    // the request never left; broken off later — or on a
                    // redirect's hop, after the server answered the request —
                    // its fate is unknown.
                    if hops > 0 {
                        te = te.hint("in_doubt", true).hint("redirected_to", shown);
                    } else if e.is_connect() {
                        te = te.hint("sent", false);
                    } else if !matches!(code.as_str(), "DNS_FAILURE" | "CONNECTION_REFUSED" | "TLS_FAILURE" | "INVALID_ARGS") {
                        te = te.hint("in_doubt", true);
                    }
                    return Outcome::failure(te).timed(ms_since(t0));
                }
            };
            let status = r.status().as_u16();
            let next = r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).and_then(|l| r.url().join(l).ok());
            let Some(next) = next.filter(|_| matches!(status, 301 | 302 | 303 | 307 | 308) && hops < MAX_REDIRECTS) else { break r };
            let keeps_method = matches!(status, 307 | 308);
            let upgrade_or_same = |a: &reqwest::Url, b: &reqwest::Url| {
                a.host_str() == b.host_str() && (a.scheme() == b.scheme() || (a.scheme() == "http" && b.scheme() == "https"))
            };
            let follow = if repeatable { true } else { keeps_method && upgrade_or_same(r.url(), &next) };
            if !follow {
                break r;
            }
            if !keeps_method && method_now != reqwest::Method::HEAD {
                method_now = reqwest::Method::GET;
                with_body = false;
            }
            at = Some(next);
            hops += 1;
        };
        let status = resp.status().as_u16();
        let redirected = hops > 0;
        let final_url = resp.url().to_string();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut headers = Map::new();
        for name in ["content-type", "content-length", "location", "retry-after", "etag"] {
            if let Some(v) = resp.headers().get(name).and_then(|v| v.to_str().ok()) {
                headers.insert(name.to_owned(), json!(v));
            }
        }
        let is_json = headers.get("content-type").and_then(Value::as_str).is_some_and(|c| c.contains("json"));

        let mut body = Vec::new();
        let mut total = 0u64;
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    total += c.len() as u64;
                    let room = cap.saturating_sub(body.len() as u64) as usize;
                    body.extend_from_slice(&c[..c.len().min(room)]);
                }
                Ok(None) => break,
                Err(e) => {
                    let code = classify_transport(&e);
                    let te = ToolError::new(code, format!("{method} {url}: the body broke off after {total} bytes: {}", describe(&e)))
                        .hint("http_status", status)
                        .hint("in_doubt", true);
                    return Outcome::failure(te).timed(ms_since(t0));
                }
            }
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        let parsed: Option<Value> =
            if is_json || text.trim_start().starts_with(['{', '[']) { serde_json::from_str(&text).ok() } else { None };
        let mut output = json!({
            "status": status,
            "headers": headers,
            "bytes": total,
            "body": parsed.clone().unwrap_or_else(|| json!(text)),
        });
        if total > cap {
            output["truncated"] = json!(true);
        }
        if redirected {
            output["url"] = json!(final_url);
        }
        let elapsed = ms_since(t0);
        if let Some(mut e) = status_error(status, &text, retry_after) {
            // A redirect was followed: the request itself was answered.
            if redirected {
                e = e.hint("in_doubt", true).hint("redirected_to", output["url"].clone());
            }
            return Outcome::failure_with(e, output).timed(elapsed);
        }
        if let Some(body) = &parsed
            && let Some(e) = body_error(body, args)
        {
            return Outcome::failure_with(e.hint("http_status", status), output).timed(elapsed);
        }
        if parsed.is_none() && (args.get("error_pointer").is_some() || args.get("expect").is_some()) {
            let e = ToolError::new(ErrorCode::INVALID_RESPONSE, "the job expects a JSON body, this one is not JSON")
                .hint("http_status", status);
            return Outcome::failure_with(e, output).timed(elapsed);
        }
        Outcome { output, ..Outcome::success(Value::Null) }.timed(elapsed)
    }

    async fn repairs(&self, args: &Value, error: &ToolError, _ctx: &CallContext) -> Vec<Repair> {
        crate::longer_timeout(args, error, DEFAULT_TIMEOUT_MS, MAX_REPAIR_TIMEOUT_MS)
    }
}

/// The error and its innermost cause, on one line.
fn describe(e: &reqwest::Error) -> String {
    let mut last = None;
    let mut src = e.source();
    while let Some(s) = src {
        last = Some(s.to_string());
        src = s.source();
    }
    // reqwest's own text repeats the URL ("error sending request for url
    // (…)"); the innermost cause is what a person needs.
    match last {
        Some(root) => root,
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(3000));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(7000));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&past, now), Some(0));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn body_errors_are_found() {
        let a = json!({});
        assert_eq!(body_error(&json!({"error": "quota exceeded"}), &a).unwrap().code, ErrorCode::REMOTE_ERROR);
        assert_eq!(body_error(&json!({"error": {"code": "RATE_LIMITED", "message": "slow"}}), &a).unwrap().code, ErrorCode::RATE_LIMITED);
        assert!(body_error(&json!({"error": null, "data": 1}), &a).is_none());
        assert!(body_error(&json!({"ok": false}), &a).is_some());
        let p = json!({"error_pointer": "/result/failure"});
        assert!(body_error(&json!({"error": "x", "result": {"failure": false}}), &p).is_none());
        assert!(body_error(&json!({"result": {"failure": "disk"}}), &p).is_some());
        let e = json!({"expect": {"pointer": "/state", "equals": "done"}});
        assert!(body_error(&json!({"state": "done"}), &e).is_none());
        assert!(body_error(&json!({"state": "queued"}), &e).is_some());
        assert!(body_error(&json!({"error": "x"}), &json!({"detect_body_errors": false})).is_none());
    }

    #[test]
    fn statuses_map_to_codes() {
        let c = |s, b: &str| status_error(s, b, None).map(|e| e.code.to_string());
        assert_eq!(c(200, ""), None);
        assert_eq!(c(401, "").as_deref(), Some("UNAUTHORIZED"));
        assert_eq!(c(403, "").as_deref(), Some("PERMISSION_DENIED"));
        assert_eq!(c(404, "").as_deref(), Some("NOT_FOUND"));
        assert_eq!(c(409, "user already exists").as_deref(), Some("ALREADY_EXISTS"));
        assert_eq!(c(409, "version mismatch").as_deref(), Some("CONFLICT"));
        assert_eq!(c(413, "").as_deref(), Some("TOO_LARGE"));
        assert_eq!(c(429, "").as_deref(), Some("RATE_LIMITED"));
        assert_eq!(c(503, "").as_deref(), Some("SERVER_ERROR"));
        assert_eq!(c(418, "").as_deref(), Some("HTTP_ERROR"));
    }
}
