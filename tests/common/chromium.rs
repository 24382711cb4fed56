//! Headless Chromium for the browser tests: where the browser is (a missing one fails in CI and
//! skips elsewhere), and a small DevTools-protocol driver (navigate, evaluate, wait for a
//! condition) for pages that keep changing while they stream, which `--dump-dom` cannot watch.
//! No DevTools client crate: the protocol's few messages used here are plain JSON over the
//! WebSocket the browser opens on loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The flags every test's browser runs with: headless, and every background service off, so
/// the only network it touches is the pages' own.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
];

/// The browser, or `None` (after saying why) when it is missing outside CI.
pub fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("OVERBLICK_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: install Debian's `chromium` (.ci/run does)",
        path.display()
    );
    eprintln!(
        "skipped: {} is missing (apt-get install chromium)",
        path.display()
    );
    None
}

/// A running headless Chromium with one page, driven over the DevTools protocol. Killed when
/// dropped.
pub struct Browser {
    child: Child,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// The page's console messages, uncaught exceptions and browser log entries (a refused
    /// Content-Security-Policy among them), for failure messages.
    pub log: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts the browser on about:blank in a fresh profile and connects to its page.
    pub async fn start(chromium: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("a temp dir");
        let mut child = Command::new(chromium)
            .args(FLAGS)
            // Port 0: the browser picks a free one and writes it to DevToolsActivePort.
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let port_file = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Some(port) = text
                    .lines()
                    .next()
                    .and_then(|l| l.trim().parse::<u16>().ok())
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("chromium exited before it listened: {status}");
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("chromium did not write its DevTools port within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let listed = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
            .await
            .expect("chromium lists its targets")
            .text()
            .await
            .expect("a body");
        let targets: Vec<Value> = serde_json::from_str(&listed).expect("as JSON");
        let url = targets
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap_or_else(|| panic!("chromium has a page: {targets:?}"))
            .to_owned();
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the page's DevTools socket opens");
        let mut browser = Browser {
            child,
            socket,
            next_id: 0,
            log: Vec::new(),
            _profile: profile,
        };
        browser.call("Runtime.enable", json!({})).await;
        browser.call("Log.enable", json!({})).await;
        browser
    }

    /// Sends a DevTools command and waits for its answer (its `result`), keeping the events
    /// that arrive meanwhile in [`Browser::log`].
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("the DevTools socket takes a command");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = tokio::time::timeout(left, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method} within 30 s"))
                .unwrap_or_else(|| panic!("the DevTools socket closed during {method}"))
                .expect("a DevTools message");
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).expect("DevTools speaks JSON");
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    panic!("{method} failed: {error}");
                }
                return value["result"].clone();
            }
            self.keep_event(&value);
        }
    }

    fn keep_event(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.consoleAPICalled") => {
                let args: Vec<String> = params["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| a["value"].to_string())
                    .collect();
                self.log
                    .push(format!("console.{}: {}", params["type"], args.join(" ")));
            }
            Some("Runtime.exceptionThrown") => self.log.push(format!(
                "exception: {}",
                params["exceptionDetails"]["exception"]["description"]
            )),
            Some("Log.entryAdded") => self.log.push(format!(
                "{} {}: {}",
                params["entry"]["source"], params["entry"]["level"], params["entry"]["text"]
            )),
            _ => {}
        }
    }

    /// Opens `url` in the page (returns once the navigation is committed, not loaded).
    pub async fn navigate(&mut self, url: &str) {
        let result = self.call("Page.navigate", json!({ "url": url })).await;
        if let Some(error) = result.get("errorText") {
            panic!("navigating to {url} failed: {error}");
        }
    }

    /// The value of the JavaScript `expression` in the page (awaited if it is a promise).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        if let Some(details) = result.get("exceptionDetails") {
            return json!({ "exception": details["exception"]["description"].clone() });
        }
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (a JavaScript expression) is true in the page, polling; on
    /// timeout, the failure says what was waited for and shows the page and its log.
    pub async fn wait_for(&mut self, what: &str, condition: &str, timeout: Duration) {
        let started = Instant::now();
        let expression = format!(
            "(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"
        );
        loop {
            if self.eval(&expression).await == Value::Bool(true) {
                return;
            }
            if started.elapsed() > timeout {
                let body = self
                    .eval("document.body ? document.body.outerHTML : document.documentElement.outerHTML")
                    .await;
                panic!(
                    "waited {timeout:?} for {what} ({condition})\npage: {:.6000}\nlog:\n{}",
                    body.as_str().unwrap_or_default(),
                    self.log.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses and releases `key` (`ArrowDown`, `Tab`, `Enter` or `Space`) in the page, as a
    /// keyboard would: to whatever has the focus.
    pub async fn press(&mut self, key: &str) {
        let (name, code, text) = match key {
            "ArrowDown" => ("ArrowDown", 40, None),
            "Tab" => ("Tab", 9, None),
            "Enter" => ("Enter", 13, Some("\r")),
            "Space" => (" ", 32, Some(" ")),
            other => panic!("no key {other} in this driver"),
        };
        let mut down = json!({
            "type": if text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": name,
            "code": key,
            "windowsVirtualKeyCode": code,
            "nativeVirtualKeyCode": code,
        });
        if let Some(text) = text {
            down["text"] = text.into();
        }
        self.call("Input.dispatchKeyEvent", down).await;
        let up = json!({
            "type": "keyUp",
            "key": name,
            "code": key,
            "windowsVirtualKeyCode": code,
            "nativeVirtualKeyCode": code,
        });
        self.call("Input.dispatchKeyEvent", up).await;
    }

    /// Whether `condition` holds in the page now.
    pub async fn holds(&mut self, condition: &str) -> bool {
        let expression = format!(
            "(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"
        );
        self.eval(&expression).await == Value::Bool(true)
    }

    /// The page's body, for failure messages.
    pub async fn body(&mut self) -> String {
        let body = self
            .eval("document.body ? document.body.outerHTML : ''")
            .await;
        format!(
            "{:.6000}\nlog:\n{}",
            body.as_str().unwrap_or_default(),
            self.log.join("\n")
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
