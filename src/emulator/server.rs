//! The HTTP surface: routes, the gate every `/v1` request passes (bearer token, throttle, latency,
//! transient faults), the request log, and a connection loop of our own — axum's `serve` cannot
//! drop a connection on purpose, and "the create happened but the response never came" is the
//! fault a bulk onboarding tool most needs to survive.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tower::ServiceExt;

use super::auth;
use super::checks::Rejection;
use super::customers;
use super::reference;
use super::state::{LogEntry, Shared, TokenInfo};

/// Who is calling a `/v1` route, set by the gate.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: TokenInfo,
    pub request_id: Option<String>,
    /// The `X-Locale` the request named.
    pub locale: Option<String>,
    pub arrived: Duration,
}

/// Lets a handler drop its connection without answering.
#[derive(Debug, Clone)]
pub struct ConnAbort(pub Arc<Notify>);

/// The domain a request was about, for the log.
#[derive(Debug, Clone)]
pub struct LogDomain(pub String);

#[derive(Debug, Clone, Copy)]
struct Arrived(Duration);

pub fn router(shared: Arc<Shared>) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/customers",
            post(customers::create).get(customers::list),
        )
        .route("/v1/customers/{id}", get(customers::get))
        .route("/v1/customers/{id}/users", get(customers::users))
        .route(
            "/v1/customers/{id}/users/{user_id}/resetpassword",
            patch(customers::reset_password),
        )
        .route(
            "/v1/customers/{id}/agreements",
            post(customers::attest_agreement).get(customers::list_agreements),
        )
        .route("/v1/domains/{domain}", get(customers::domain_exists))
        .route("/v1/relationships", get(reference::relationships))
        .route(
            "/v1/countryvalidationrules/{iso2}",
            get(reference::country_rules),
        )
        .route("/v1/validations/address", post(reference::validate_address))
        .route("/v1/agreements", get(reference::agreements))
        .layer(middleware::from_fn_with_state(shared.clone(), gate));
    let authority = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token_v2))
        .route("/{tenant}/oauth2/token", post(auth::token_v1))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(auth::device_code));
    let inspection = Router::new()
        .route("/_emulator/log", get(inspect_log))
        .route("/_emulator/customers", get(inspect_customers))
        .route(
            "/_emulator/devicecodes/{user_code}/deny",
            post(auth::deny_device_code),
        )
        .route(
            "/_emulator/devicecodes/{user_code}/approve",
            post(auth::approve_device_code),
        );
    Router::new()
        .merge(v1)
        .merge(authority)
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .merge(inspection)
        .with_state(shared)
}

/// Accepts connections until `shutdown` fires.
pub async fn serve(listener: TcpListener, router: Router, mut shutdown: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(stream, router.clone()));
                }
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let abort = ConnAbort(Arc::new(Notify::new()));
    let signal = abort.0.clone();
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(abort.clone());
            router.clone().oneshot(request)
        });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    // Dropping the connection future closes the socket: the client sees the connection end
    // without a response.
    tokio::select! {
        _ = connection => {}
        _ = signal.notified() => {}
    }
}

/// Logs every request but the inspection ones, and echoes the request and correlation ids.
async fn record(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let arrived = shared.now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let request_id = header_text(request.headers(), "ms-requestid");
    let correlation_id = header_text(request.headers(), "ms-correlationid");
    request.extensions_mut().insert(Arrived(arrived));
    let mut response = next.run(request).await;
    for (name, value) in [
        ("ms-requestid", &request_id),
        ("ms-correlationid", &correlation_id),
    ] {
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            response.headers_mut().insert(name, value);
        }
    }
    let domain = response
        .extensions()
        .get::<LogDomain>()
        .map(|d| d.0.clone());
    shared.lock().log.push(LogEntry {
        t: arrived.as_secs_f64(),
        method,
        path,
        status: response.status().as_u16(),
        request_id,
        domain,
        dropped: false,
    });
    response
}

/// Every `/v1` request: a valid bearer token, then the throttle (Customer resource only), then
/// latency and transient faults.
async fn gate(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let arrived = request
        .extensions()
        .get::<Arrived>()
        .map_or_else(|| shared.now(), |a| a.0);
    let authorization = header_text(request.headers(), "authorization");
    let token = match auth::authenticate(&shared, authorization.as_deref()) {
        Ok(token) => token,
        Err(why) => return plain_error(401, 800001, why),
    };
    let customer_resource = request.uri().path().starts_with("/v1/customers");
    if customer_resource && shared.config.throttle {
        let admitted = shared.lock().admit(
            &token.tenant,
            arrived,
            shared.config.rate_limit,
            shared.config.window(),
        );
        if let Err(seconds) = admitted {
            return throttled(seconds);
        }
    }
    let faults = &shared.config.faults;
    if faults.latency_ms > 0 || faults.latency_jitter_ms > 0 {
        let jitter = faults.latency_jitter_ms as i64;
        let offset = if jitter > 0 {
            shared.lock().rng.random_range(-jitter..=jitter)
        } else {
            0
        };
        let millis = (faults.latency_ms as i64 + offset).max(0) as u64;
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    if customer_resource && shared.chance(faults.transient_error_rate) {
        let (status, code) = if shared.lock().rng.random::<bool>() {
            (500, 800003)
        } else {
            (503, 900192)
        };
        return error_response(
            &shared,
            status,
            code,
            "A transient error occurred; retry the request",
        );
    }
    let request_id = header_text(request.headers(), "ms-requestid");
    let locale = header_text(request.headers(), "x-locale");
    request.extensions_mut().insert(Caller {
        token,
        request_id,
        locale,
        arrived,
    });
    next.run(request).await
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn throttled(seconds: u64) -> Response {
    let mut response = json_response(
        429,
        json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {seconds} seconds.")}),
    );
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

pub fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

fn plain_error(status: u16, code: u32, description: &str) -> Response {
    json_response(
        status,
        json!({"code": code, "description": description, "data": [], "source": "PartnerFD"}),
    )
}

/// A Partner Center error; at `html_error_rate` it comes as an HTML page instead, as a gateway in
/// front of the real service sometimes answers.
pub fn error_response(shared: &Shared, status: u16, code: u32, description: &str) -> Response {
    if shared.chance(shared.config.faults.html_error_rate) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let page = format!(
            "<html><head><title>{status}</title></head><body><h1>{status}</h1><p>The service is unavailable.</p></body></html>"
        );
        return (status, [(header::CONTENT_TYPE, "text/html")], page).into_response();
    }
    plain_error(status, code, description)
}

/// `Some(403 / 900329)` when an app-only token calls something only App+User may do.
pub fn require_app_user(shared: &Shared, caller: &Caller, what: &str) -> Option<Response> {
    caller.token.app_only.then(|| {
        error_response(
            shared,
            403,
            900329,
            &format!("{what} requires an App+User token"),
        )
    })
}

pub fn rejection_response(shared: &Shared, rejection: &Rejection) -> Response {
    error_response(
        shared,
        rejection.status,
        rejection.code,
        &rejection.description,
    )
}

async fn inspect_log(State(shared): State<Arc<Shared>>) -> Response {
    let log = shared.lock().log.clone();
    json_response(200, json!(log))
}

async fn inspect_customers(State(shared): State<Arc<Shared>>) -> Response {
    let inner = shared.lock();
    let body = json!({"customers": inner.customers, "creation_count": inner.creation_count});
    drop(inner);
    json_response(200, body)
}
