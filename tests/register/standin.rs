//! A stand-in of OptiView's and Millicast's webhook APIs, written from their documentation
//! (`../shared/providers/002_*.txt`, `000_*.txt`) and nothing else, served over loopback:
//!
//! - OptiView: `POST /v2/webhooks` `{name, url, events}`, `GET /v2/webhooks/{id}/secret`,
//!   `PATCH /v2/webhooks/{id}` `{"active": false}`, `DELETE /v2/webhooks/{id}`, which it refuses
//!   while the webhook is active ("You must deactivate a webhook before deleting it"); HTTP Basic
//!   auth with an API token's key and secret.
//! - Millicast: `POST /api/webhooks` with `url` and the `is…Hooks` booleans, the secret in the
//!   answer (`{"status":"success","data":{…}}`), `DELETE /api/webhooks/{id}`; `Bearer` auth.
//!
//! It checks the auth header and the bodies, records every request, and can be told to answer
//! the next call of a step with a given status (or a given body) instead.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

/// OptiView's API token in the tests.
pub const OPTIVIEW_KEY: &str = "ovkey_TESTKEYVALUE";
/// Its secret.
pub const OPTIVIEW_SECRET: &str = "ovsecret_TESTSECRETVALUE";
/// Millicast's API secret in the tests.
pub const MILLICAST_SECRET: &str = "mcsecret_TESTAPISECRET";

/// A request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Call {
    /// `POST`, `GET`...
    pub method: String,
    /// The path.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The JSON body, if it was one.
    pub body: Option<Value>,
}

/// A webhook the stand-in holds.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Whether it is active.
    pub active: bool,
    /// Its signing secret.
    pub secret: String,
}

/// What the stand-in answers instead, once, for a step.
#[derive(Debug, Clone)]
pub struct Override {
    /// The method and path kind: `POST /v2/webhooks`, `GET secret`, `PATCH`, `DELETE`.
    pub step: &'static str,
    /// The status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Never answered at all (a platform that does not answer): the connection is held open.
    pub hang: bool,
}

#[derive(Default)]
struct State {
    webhooks: BTreeMap<String, Webhook>,
    next: u32,
    calls: Vec<Call>,
    overrides: Vec<Override>,
}

/// The stand-in, on its own thread.
pub struct Standin {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Standin {
    /// A stand-in on a free port.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let stream = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                    };
                    let state = shared.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let state = state.clone();
                            async move { Ok::<_, std::convert::Infallible>(serve(request, &state).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Self {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Its base URL (`--api-base PLATFORM=…`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("lock").calls.clone()
    }

    /// `METHOD path` of every request so far.
    pub fn call_lines(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }

    /// The webhooks it holds, by id.
    pub fn webhooks(&self) -> BTreeMap<String, Webhook> {
        self.state.lock().expect("lock").webhooks.clone()
    }

    /// The next call of `step` is answered `status` with `body`.
    pub fn answer_next(&self, step: &'static str, status: u16, body: &str) {
        self.answer_next_typed(step, status, "application/json", body);
    }

    /// The next call of `step` is answered `status` with `body` of `content_type`.
    pub fn answer_next_typed(&self, step: &'static str, status: u16, content_type: &'static str, body: &str) {
        self.state.lock().expect("lock").overrides.push(Override {
            step,
            status,
            body: body.to_owned(),
            content_type,
            hang: false,
        });
    }

    /// The next call of `step` is never answered (recorded in [`Standin::calls`] all the same).
    pub fn hang_next(&self, step: &'static str) {
        self.state.lock().expect("lock").overrides.push(Override {
            step,
            status: 0,
            body: String::new(),
            content_type: "",
            hang: true,
        });
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Answer = hyper::Response<Full<Bytes>>;

fn answer(status: u16, body: Value) -> Answer {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

fn no_content() -> Answer {
    hyper::Response::builder()
        .status(204)
        .body(Full::new(Bytes::new()))
        .expect("response")
}

async fn serve(request: hyper::Request<hyper::body::Incoming>, state: &Mutex<State>) -> Answer {
    let (head, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let call = Call {
        method: head.method.to_string(),
        path: head.uri.path().to_owned(),
        authorization: head
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&body).ok(),
    };
    let segments: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    let step = match (call.method.as_str(), segments.as_slice()) {
        ("POST", ["v2", "webhooks"]) => "POST /v2/webhooks",
        ("GET", ["v2", "webhooks", _, "secret"]) => "GET secret",
        ("PATCH", ["v2", "webhooks", _]) => "PATCH",
        ("DELETE", ["v2", "webhooks", _]) => "DELETE",
        ("POST", ["api", "webhooks"]) => "POST /api/webhooks",
        ("DELETE", ["api", "webhooks", _]) => "DELETE /api/webhooks",
        _ => {
            state.lock().expect("lock").calls.push(call.clone());
            return answer(404, json!({ "message": "no such route" }));
        }
    };
    let hang = {
        let mut state = state.lock().expect("lock");
        state.calls.push(call.clone());
        let at = state.overrides.iter().position(|o| o.step == step);
        at.is_some_and(|at| state.overrides[at].hang && state.overrides.remove(at).hang)
    };
    if hang {
        return std::future::pending().await;
    }
    let mut state = state.lock().expect("lock");
    if let Some(at) = state.overrides.iter().position(|o| o.step == step) {
        let o = state.overrides.remove(at);
        return hyper::Response::builder()
            .status(o.status)
            .header("content-type", o.content_type)
            .body(Full::new(Bytes::from(o.body)))
            .expect("response");
    }
    let optiview = segments[0] == "v2";
    let expected = match optiview {
        true => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{OPTIVIEW_KEY}:{OPTIVIEW_SECRET}"))
        ),
        false => format!("Bearer {MILLICAST_SECRET}"),
    };
    if call.authorization.as_deref() != Some(expected.as_str()) {
        return answer(401, json!({ "message": "Unauthorized" }));
    }
    let id = segments.get(2).map(|s| (*s).to_owned());
    match step {
        "POST /v2/webhooks" => {
            let Some(body) = call.body.filter(|b| {
                b.get("name").is_some_and(Value::is_string)
                    && b.get("url").is_some_and(Value::is_string)
                    && b.get("events")
                        .and_then(Value::as_array)
                        .is_some_and(|e| !e.is_empty() && e.iter().all(Value::is_string))
                    && b.as_object().is_some_and(|o| o.len() == 3)
            }) else {
                return answer(422, json!({ "message": "name, url and events are required" }));
            };
            state.next += 1;
            let id = format!("wh_{}", state.next);
            let secret = format!("dolby_sec_standin{}x{}", state.next, state.calls.len());
            state
                .webhooks
                .insert(id.clone(), Webhook { active: true, secret });
            let mut created = body;
            created["id"] = json!(id);
            created["active"] = json!(true);
            answer(201, created)
        }
        "GET secret" => match id.and_then(|id| state.webhooks.get(&id).cloned()) {
            Some(webhook) => answer(200, json!({ "secret": webhook.secret })),
            None => answer(404, json!({ "message": "webhook not found" })),
        },
        "PATCH" => {
            let active = call
                .body
                .as_ref()
                .and_then(|b| b.get("active"))
                .and_then(Value::as_bool);
            match (id.and_then(|id| state.webhooks.get_mut(&id)), active) {
                (None, _) => answer(404, json!({ "message": "webhook not found" })),
                (Some(_), None) => answer(422, json!({ "message": "active must be a boolean" })),
                (Some(webhook), Some(active)) => {
                    webhook.active = active;
                    answer(200, json!({ "active": active }))
                }
            }
        }
        "DELETE" => {
            let id = id.unwrap_or_default();
            match state.webhooks.get(&id).map(|w| w.active) {
                None => answer(404, json!({ "message": "webhook not found" })),
                Some(true) => answer(
                    409,
                    json!({ "message": "You must deactivate a webhook before deleting it" }),
                ),
                Some(false) => {
                    state.webhooks.remove(&id);
                    no_content()
                }
            }
        }
        "POST /api/webhooks" => {
            const FLAGS: [&str; 5] = [
                "isFeedHooks",
                "isRecordingHooks",
                "isThumbnailHooks",
                "isTranscoderHooks",
                "isViewerConnectionHooks",
            ];
            let Some(body) = call.body.filter(|b| {
                b.get("url").is_some_and(Value::is_string)
                    && b.as_object().is_some_and(|o| {
                        o.iter()
                            .all(|(k, v)| k == "url" || (FLAGS.contains(&k.as_str()) && v.is_boolean()))
                    })
            }) else {
                return answer(
                    400,
                    json!({ "status": "fail", "data": { "message": "url and boolean hook types" } }),
                );
            };
            state.next += 1;
            let id = state.next;
            // Millicast's secrets are base64 (its receiver decodes them).
            let secret = base64::engine::general_purpose::STANDARD
                .encode(format!("standin-secret-{id}-{}", state.calls.len()));
            state.webhooks.insert(
                id.to_string(),
                Webhook {
                    active: true,
                    secret: secret.clone(),
                },
            );
            let mut data = body;
            data["id"] = json!(id);
            data["secret"] = json!(secret);
            answer(200, json!({ "status": "success", "data": data }))
        }
        "DELETE /api/webhooks" => match id.and_then(|id| state.webhooks.remove(&id)) {
            Some(_) => answer(200, json!({ "status": "success", "data": {} })),
            None => answer(
                404,
                json!({ "status": "fail", "data": { "message": "not found" } }),
            ),
        },
        _ => answer(404, json!({ "message": "no such route" })),
    }
}
