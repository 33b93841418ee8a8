//! The Customer resource: create, read, filter, users and password reset, MCA attestation, and
//! the domain check. Every path here but `/v1/domains` counts toward the throttle (the gate in
//! `server` does the counting).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::checks::{Rejection, check_create, lowercase_keys};
use super::server::{
    Caller, ConnAbort, LogDomain, error_response, json_response, rejection_response,
    require_app_user,
};
use super::state::{CustomerRecord, LogEntry, Shared, new_password};

/// `POST /v1/customers`.
pub async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    abort: Option<Extension<ConnAbort>>,
    body: Bytes,
) -> Response {
    let replay = shared.config.faults.replay_request_ids;
    if replay && let Some(request_id) = &caller.request_id {
        let stored = shared.lock().replies.get(request_id).cloned();
        if let Some((status, body)) = stored {
            let domain = body
                .pointer("/companyProfile/domain")
                .and_then(Value::as_str)
                .map(str::to_owned);
            return with_domain(json_response(status, body), domain);
        }
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(value) => lowercase_keys(value),
        Err(e) => {
            return error_response(
                &shared,
                400,
                3000,
                &format!("The request body is not valid JSON: {e}"),
            );
        }
    };
    let sent_domain = parsed
        .pointer("/companyprofile/domain")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let outcome = check_create(&shared, &parsed, caller.token.app_only)
        .and_then(|request| commit(&shared, &caller, request))
        .map_err(|rejection| super::locale::localize(rejection, caller.locale.as_deref()));
    let (status, reply) = match outcome {
        Ok(customer) => (201, customer),
        Err(rejection) => {
            let response = with_domain(rejection_response(&shared, &rejection), sent_domain);
            remember(
                &shared,
                &caller,
                rejection.status,
                rejection_body(&rejection),
            );
            return response;
        }
    };
    remember(&shared, &caller, status, reply.clone());

    let dropped = Dropped {
        rate: shared.config.faults.drop_after_create_rate,
        method: "POST",
        path: "/v1/customers".into(),
        status,
        domain: sent_domain.clone(),
    };
    drop_answer(&shared, &caller, abort, dropped).await;
    if shared.chance(shared.config.faults.slow_response_rate) {
        tokio::time::sleep(Duration::from_secs_f64(
            shared.config.faults.slow_response_s,
        ))
        .await;
    }
    with_domain(json_response(status, reply), sent_domain)
}

/// A request whose answer the fault injection may drop.
struct Dropped {
    /// `faults.drop_after_*_rate`.
    rate: f64,
    method: &'static str,
    path: String,
    /// The status the request had, as the log records it.
    status: u16,
    domain: Option<String>,
}

/// With the chance `dropped.rate`, the request took effect but its answer is lost: logged as
/// dropped, the connection closed, and this future never finishes (the connection task drops it
/// with the socket). Otherwise returns at once.
async fn drop_answer(
    shared: &Shared,
    caller: &Caller,
    abort: Option<Extension<ConnAbort>>,
    dropped: Dropped,
) {
    let Some(Extension(abort)) = abort else {
        return;
    };
    if !shared.chance(dropped.rate) {
        return;
    }
    shared.lock().log.push(LogEntry {
        t: caller.arrived.as_secs_f64(),
        method: dropped.method.into(),
        path: dropped.path,
        status: dropped.status,
        request_id: caller.request_id.clone(),
        domain: dropped.domain,
        dropped: true,
    });
    abort.0.notify_one();
    std::future::pending::<()>().await;
}

fn rejection_body(rejection: &Rejection) -> Value {
    json!({"code": rejection.code, "description": rejection.description, "data": [], "source": "PartnerFD"})
}

fn remember(shared: &Shared, caller: &Caller, status: u16, body: Value) {
    if shared.config.faults.replay_request_ids
        && let Some(request_id) = &caller.request_id
    {
        shared
            .lock()
            .replies
            .entry(request_id.clone())
            .or_insert((status, body));
    }
}

/// Tags a response with the domain it was about, for the request log.
fn with_domain(mut response: Response, domain: Option<String>) -> Response {
    if let Some(domain) = domain {
        response.extensions_mut().insert(LogDomain(domain));
    }
    response
}

/// Creates the customer if the domain is free and the sandbox has room; returns the 201 body.
fn commit(
    shared: &Shared,
    caller: &Caller,
    request: super::checks::CreateRequest,
) -> Result<Value, Rejection> {
    let now = shared.now();
    let mut inner = shared.lock();
    if shared.config.sandbox && inner.customers.len() >= shared.config.sandbox_cap {
        return Err(Rejection {
            status: 400,
            code: 800018,
            description: format!(
                "The integration sandbox holds at most {} customers",
                shared.config.sandbox_cap
            ),
        });
    }
    let taken = inner.customer_by_domain(&request.domain).is_some()
        || shared
            .config
            .taken_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&request.domain));
    if shared
        .config
        .invalid_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&request.domain))
    {
        return Err(Rejection {
            status: 400,
            code: 3000,
            description: "The company profile is not valid".into(),
        });
    }
    if taken {
        return Err(Rejection {
            status: shared.config.faults.domain_taken_status,
            code: 3000,
            description: format!("hostname: {} is not valid", request.domain),
        });
    }
    let id = inner.new_guid();
    let record = CustomerRecord {
        commerce_id: inner.new_guid(),
        user_id: inner.new_guid(),
        id,
        user_name: format!("admin@{}", request.domain),
        domain: request.domain,
        company_name: request.company_name,
        associated_partner_id: request.associated_partner_id,
        partner_tenant: caller.token.tenant.clone(),
        created_at: now.as_secs_f64(),
        request_id: caller.request_id.clone(),
        password: new_password(),
        billing_profile: request.billing,
        agreements: Vec::new(),
        password_resets: 0,
        must_change_password: false,
        restored: false,
    };
    let mut body = customer_json(&record);
    body["userCredentials"] = json!({"userName": "admin", "password": record.password});
    inner.add_customer(record);
    Ok(body)
}

/// The Customer resource in Partner Center's camelCase.
pub fn customer_json(record: &CustomerRecord) -> Value {
    let mut billing = camel_case(&record.billing_profile);
    if let Some(map) = billing.as_object_mut() {
        map.insert("id".into(), Value::String(record.commerce_id.clone()));
        map.insert(
            "attributes".into(),
            json!({"objectType": "CustomerBillingProfile"}),
        );
    }
    json!({
        "id": record.id,
        "commerceId": record.commerce_id,
        "companyProfile": {
            "tenantId": record.id,
            "domain": record.domain,
            "companyName": record.company_name,
            "attributes": {"objectType": "CustomerCompanyProfile"}
        },
        "billingProfile": billing,
        "relationshipToPartner": "reseller",
        "allowDelegatedAccess": true,
        "associatedPartnerId": record.associated_partner_id,
        "attributes": {"objectType": "Customer"}
    })
}

fn camel_case(value: &Value) -> Value {
    const NAMES: [&str; 14] = [
        "companyName",
        "defaultAddress",
        "firstName",
        "lastName",
        "addressLine1",
        "addressLine2",
        "addressLine3",
        "postalCode",
        "phoneNumber",
        "email",
        "culture",
        "language",
        "city",
        "state",
    ];
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let name = NAMES
                        .iter()
                        .find(|n| n.eq_ignore_ascii_case(k))
                        .map_or_else(|| k.clone(), |n| n.to_string());
                    (name, camel_case(v))
                })
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

fn visible(shared: &Shared, record: &CustomerRecord) -> bool {
    record.restored
        || record.created_at + shared.config.faults.read_after_create_delay_s
            <= shared.now().as_secs_f64()
}

/// `GET /v1/customers[?size=N&filter={"Field","Value","Operator"}]`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let size = query
        .get("size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(200)
        .min(500);
    let filter = match query.get("filter").map(|f| parse_filter(f)).transpose() {
        Ok(filter) => filter,
        Err(message) => return error_response(&shared, 400, 3000, &message),
    };
    let inner = shared.lock();
    let items: Vec<Value> = inner
        .customers
        .iter()
        .filter(|c| c.partner_tenant == caller.token.tenant && visible(&shared, c))
        .filter(|c| filter.as_ref().is_none_or(|f| f.matches(c)))
        .take(size)
        .map(customer_json)
        .collect();
    drop(inner);
    with_domain(
        json_response(
            200,
            json!({"totalCount": items.len(), "items": items, "links": {}, "attributes": {"objectType": "Collection"}}),
        ),
        filter.map(|f| f.value),
    )
}

struct Filter {
    field: FilterField,
    value: String,
}

enum FilterField {
    Domain,
    CompanyName,
    IndirectReseller,
}

impl Filter {
    fn matches(&self, customer: &CustomerRecord) -> bool {
        let starts = |text: &str| text.to_lowercase().starts_with(&self.value.to_lowercase());
        match self.field {
            FilterField::Domain => starts(&customer.domain),
            FilterField::CompanyName => starts(&customer.company_name),
            FilterField::IndirectReseller => customer
                .associated_partner_id
                .as_deref()
                .is_some_and(starts),
        }
    }
}

fn parse_filter(raw: &str) -> Result<Filter, String> {
    let value: Value =
        serde_json::from_str(raw).map_err(|e| format!("The filter is not valid JSON: {e}"))?;
    let value = lowercase_keys(value);
    let operator = value.get("operator").and_then(Value::as_str).unwrap_or("");
    if operator != "starts_with" {
        return Err(format!(
            "The filter operator `{operator}` is not supported: use `starts_with`"
        ));
    }
    let field = match value.get("field").and_then(Value::as_str).unwrap_or("") {
        f if f.eq_ignore_ascii_case("Domain") => FilterField::Domain,
        f if f.eq_ignore_ascii_case("CompanyName") => FilterField::CompanyName,
        f if f.eq_ignore_ascii_case("IndirectReseller") => FilterField::IndirectReseller,
        other => return Err(format!("The filter field `{other}` is not supported")),
    };
    let value = value
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(Filter { field, value })
}

fn not_found(shared: &Shared, what: &str) -> Response {
    error_response(shared, 404, 600008, &format!("{what} was not found"))
}

/// `GET /v1/customers/{id}`.
pub async fn get(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let inner = shared.lock();
    let found = inner
        .customer_by_id(&id)
        .filter(|c| c.partner_tenant == caller.token.tenant && visible(&shared, c))
        .map(|c| (customer_json(c), c.domain.clone()));
    drop(inner);
    match found {
        Some((body, domain)) => with_domain(json_response(200, body), Some(domain)),
        None => not_found(&shared, &format!("The customer `{id}`")),
    }
}

/// `GET /v1/customers/{id}/users`.
pub async fn users(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let inner = shared.lock();
    let found = inner
        .customer_by_id(&id)
        .filter(|c| c.partner_tenant == caller.token.tenant)
        .map(|c| {
            json!({"totalCount": 1, "items": [{
            "id": c.user_id, "userPrincipalName": c.user_name, "displayName": "admin",
            "userDomainType": "none", "state": "active",
            "attributes": {"objectType": "CustomerUser"}
        }], "attributes": {"objectType": "Collection"}})
        });
    drop(inner);
    match found {
        Some(body) => json_response(200, body),
        None => not_found(&shared, &format!("The customer `{id}`")),
    }
}

/// `PATCH /v1/customers/{id}/users/{userId}/resetpassword` (App+User only). The body is
/// `{"passwordProfile": {"password": "...", "forceChangePassword": true}}`: the caller chooses the
/// password (as the real API has it); without one, the emulator makes one up. Either way the reply
/// holds the user name and the password.
pub async fn reset_password(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    abort: Option<Extension<ConnAbort>>,
    Path((id, user_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = require_app_user(&shared, &caller, "Resetting a password") {
        return refusal;
    }
    let profile = serde_json::from_slice::<Value>(&body)
        .ok()
        .map(lowercase_keys)
        .and_then(|b| b.get("passwordprofile").cloned());
    let Some(profile) = profile else {
        return error_response(&shared, 400, 3000, "passwordProfile is required");
    };
    let force = profile.get("forcechangepassword").and_then(Value::as_bool);
    let password = match profile.get("password").and_then(Value::as_str) {
        Some(chosen) if !strong_enough(chosen) => {
            return error_response(
                &shared,
                400,
                3000,
                "The password must be 8 to 256 characters with three of: upper case, lower case, digits, symbols",
            );
        }
        Some(chosen) => chosen.to_string(),
        None => new_password(),
    };
    let found = shared
        .lock()
        .customer_by_id_mut(&id)
        .filter(|c| c.user_id == user_id && c.partner_tenant == caller.token.tenant)
        .map(|c| {
            c.password = password.clone();
            c.password_resets += 1;
            c.must_change_password = force.unwrap_or(false);
            (c.user_name.clone(), c.domain.clone())
        });
    let Some((user_name, domain)) = found else {
        return not_found(&shared, &format!("The user `{user_id}` of customer `{id}`"));
    };
    let dropped = Dropped {
        rate: shared.config.faults.drop_after_reset_rate,
        method: "PATCH",
        path: format!("/v1/customers/{id}/users/{user_id}/resetpassword"),
        status: 200,
        domain: Some(domain.clone()),
    };
    drop_answer(&shared, &caller, abort, dropped).await;
    with_domain(
        json_response(
            200,
            json!({"id": user_id, "userPrincipalName": user_name,
                   "userName": user_name, "password": password,
                   "attributes": {"objectType": "CustomerUser"}}),
        ),
        Some(domain),
    )
}

/// Partner Center's password rule: 8 to 256 characters, three of the four kinds.
fn strong_enough(password: &str) -> bool {
    let kinds = [
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    (8..=256).contains(&password.chars().count()) && kinds.iter().filter(|k| **k).count() >= 3
}

/// `GET /v1/customers/{id}/agreements`: the agreements the customer has attested.
pub async fn list_agreements(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let inner = shared.lock();
    let found = inner
        .customer_by_id(&id)
        .filter(|c| c.partner_tenant == caller.token.tenant)
        .map(|c| (c.agreements.clone(), c.domain.clone()));
    drop(inner);
    match found {
        Some((agreements, domain)) => with_domain(
            json_response(
                200,
                json!({"totalCount": agreements.len(), "items": agreements,
                       "attributes": {"objectType": "Collection"}}),
            ),
            Some(domain),
        ),
        None => not_found(&shared, &format!("The customer `{id}`")),
    }
}

/// `POST /v1/customers/{id}/agreements`: attests the Microsoft Customer Agreement.
pub async fn attest_agreement(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    abort: Option<Extension<ConnAbort>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(agreement) = serde_json::from_slice::<Value>(&body) else {
        return error_response(&shared, 400, 3000, "The request body is not valid JSON");
    };
    let lowered = lowercase_keys(agreement.clone());
    let contact = lowered.get("primarycontact");
    let has = |key: &str| {
        contact
            .and_then(|c| c.get(key))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    let problem = if !(has("firstname") && has("lastname") && has("email")) {
        Some("primaryContact needs firstName, lastName and email".to_string())
    } else if lowered.get("templateid").and_then(Value::as_str)
        != Some(shared.config.mca_template_id.as_str())
    {
        Some(format!(
            "templateId must be `{}`",
            shared.config.mca_template_id
        ))
    } else if lowered.get("type").and_then(Value::as_str) != Some("MicrosoftCustomerAgreement") {
        Some("type must be `MicrosoftCustomerAgreement`".to_string())
    } else if !lowered
        .get("dateagreed")
        .and_then(Value::as_str)
        .is_some_and(|d| d.contains('T'))
    {
        Some("dateAgreed must be a date-time such as `2026-11-20T00:00:00Z`".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        return error_response(&shared, 400, 3000, &problem);
    }
    let stored = shared
        .lock()
        .customer_by_id_mut(&id)
        .filter(|c| c.partner_tenant == caller.token.tenant)
        .map(|c| {
            c.agreements.push(agreement.clone());
            c.domain.clone()
        });
    match stored {
        Some(domain) => {
            let dropped = Dropped {
                rate: shared.config.faults.drop_after_attest_rate,
                method: "POST",
                path: format!("/v1/customers/{id}/agreements"),
                status: 201,
                domain: Some(domain.clone()),
            };
            drop_answer(&shared, &caller, abort, dropped).await;
            let mut body = agreement;
            body["attributes"] = json!({"objectType": "Agreement"});
            with_domain(json_response(201, body), Some(domain))
        }
        None => not_found(&shared, &format!("The customer `{id}`")),
    }
}

/// `HEAD /v1/domains/{domain}`: 200 when the domain exists anywhere, 404 when free.
pub async fn domain_exists(
    State(shared): State<Arc<Shared>>,
    Path(domain): Path<String>,
) -> Response {
    let domain = domain.to_lowercase();
    let inner = shared.lock();
    let ours = inner
        .customer_by_domain(&domain)
        .is_some_and(|c| !shared.config.faults.read_delay_hides_domain || visible(&shared, c));
    drop(inner);
    let taken = ours
        || shared
            .config
            .taken_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&domain));
    let mut response = if taken {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
    .into_response();
    response.extensions_mut().insert(LogDomain(domain));
    response
}
