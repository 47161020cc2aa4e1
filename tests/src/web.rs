//! Browser-side helpers for the black-box tests: a cookie-keeping client that does not follow
//! redirects (to see them), the CSRF token of a page, and a reader of SSE streams.

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A response as a browser test looks at it.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    /// Raw `Set-Cookie` headers.
    pub set_cookies: Vec<String>,
    pub content_type: String,
    pub retry_after: Option<String>,
}

impl Page {
    /// The value of the first `name="csrf"` hidden input.
    pub fn csrf(&self) -> Option<String> {
        csrf_in(&self.body)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The value of the first `name="csrf"` input of an HTML page.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// A browser without JavaScript: keeps cookies, shows redirects instead of following them.
pub struct WebClient {
    client: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

#[allow(clippy::expect_used)]
impl WebClient {
    pub fn new(base: &str) -> WebClient {
        WebClient::from_address(base, None)
    }

    /// A browser whose connections come from `local` (e.g. 127.0.0.2: another client address).
    pub fn from_address(base: &str, local: Option<std::net::IpAddr>) -> WebClient {
        WebClient {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(local)
                .build()
                .expect("client"),
            base: base.to_owned(),
            cookies: BTreeMap::new(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Sets (or, with `None`, drops) a cookie by hand (forged or replayed sessions).
    pub fn set_cookie(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(v) => self.cookies.insert(name.to_owned(), v.to_owned()),
            None => self.cookies.remove(name),
        };
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header(reqwest::header::COOKIE, self.cookie_header())
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header(reqwest::header::LOCATION);
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let retry_after = header(reqwest::header::RETRY_AFTER);
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &set_cookies {
            let first = c.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let gone = value.is_empty() || c.to_ascii_lowercase().contains("max-age=0");
            self.set_cookie(name.trim(), (!gone).then_some(value.trim()));
        }
        let body = resp.text().await.unwrap_or_default();
        Page {
            status,
            body,
            location,
            set_cookies,
            content_type,
            retry_after,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        self.send(req).await
    }

    /// Posts a multipart form, as the upload script does (`json`) or as a plain form.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        form: reqwest::multipart::Form,
        json: bool,
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .multipart(form);
        if json {
            req = req.header(reqwest::header::ACCEPT, "application/json");
        }
        self.send(req).await
    }

    /// Logs in through the form; returns the answer to the POST.
    pub async fn login(&mut self, token: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.csrf().expect("login form has a CSRF token");
        self.post_form("/login", &[("token", token), ("csrf", &csrf)])
            .await
    }

    /// GETs raw bytes with an optional `Range` header: (status, `Content-Range`, body).
    pub async fn get_range(
        &mut self,
        path: &str,
        range: Option<&str>,
    ) -> (u16, Option<String>, Vec<u8>) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(r) = range {
            req = req.header(reqwest::header::RANGE, r);
        }
        if !self.cookies.is_empty() {
            req = req.header(reqwest::header::COOKIE, self.cookie_header());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let content_range = resp
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        (status, content_range, body)
    }

    /// The CSRF token of a page this browser can see.
    pub async fn csrf(&mut self, path: &str) -> String {
        self.get(path).await.csrf().expect("page has a CSRF token")
    }
}

/// One event of an SSE stream.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub data: Value,
}

/// Reads an SSE response frame by frame.
pub struct EventStream {
    resp: reqwest::Response,
    buf: String,
}

#[allow(clippy::expect_used)]
impl EventStream {
    /// Opens `url` (resuming after `last_event_id`) and checks it is an event stream.
    pub async fn connect(
        client: &reqwest::Client,
        url: &str,
        last_event_id: Option<i64>,
    ) -> EventStream {
        let mut req = client
            .get(url)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.expect("SSE request");
        assert_eq!(resp.status().as_u16(), 200, "SSE status");
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        EventStream {
            resp,
            buf: String::new(),
        }
    }

    /// The next raw frame (comments included), or None when `timeout` passes first.
    pub async fn next_frame(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame = self.buf[..end].to_owned();
                self.buf.drain(..end + 2);
                return Some(frame);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// The next event with data (comments and `retry:` skipped), or None on timeout.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let frame = self.next_frame(left).await?;
            let mut id = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !data.is_empty() {
                return Some(SseEvent {
                    id,
                    data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                });
            }
        }
    }

    /// Events until one satisfies `pred` (returned with those before it), or None on timeout.
    pub async fn until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&SseEvent) -> bool,
    ) -> Option<Vec<SseEvent>> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let e = self.next_event(left).await?;
            let done = pred(&e);
            seen.push(e);
            if done {
                return Some(seen);
            }
        }
    }
}
