//! Read-only reference data the pre-flight and post-creation steps use: the provider's indirect
//! resellers, per-country validation rules, address validation and the agreement templates.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::checks::{lowercase_keys, needs_registration, state_required, us_states, us_zip_ok};
use super::server::{Caller, error_response, json_response, require_app_user};
use super::state::Shared;

const US_ZIP_REGEX: &str = r"^\d{5}(-\d{4})?$";

/// `GET /v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf` (App+User only).
pub async fn relationships(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(refusal) = require_app_user(&shared, &caller, "Listing relationships") {
        return refusal;
    }
    let kind = query
        .get("relationship_type")
        .map(String::as_str)
        .unwrap_or("");
    if kind != "IsIndirectCloudSolutionProviderOf" {
        return error_response(
            &shared,
            400,
            3000,
            &format!("relationship_type `{kind}` is not supported"),
        );
    }
    let items: Vec<Value> = shared
        .resellers
        .iter()
        .map(|r| {
            json!({"id": r.id, "name": r.name, "relationshipType": kind, "state": r.state,
                   "mpnId": r.mpn_id, "location": r.location,
                   "attributes": {"objectType": "PartnerRelationship"}})
        })
        .collect();
    json_response(
        200,
        json!({"totalCount": items.len(), "items": items, "attributes": {"objectType": "Collection"}}),
    )
}

/// `GET /v1/countryvalidationrules/{iso2}`.
pub async fn country_rules(
    State(shared): State<Arc<Shared>>,
    Path(iso2): Path<String>,
) -> Response {
    let country = iso2.to_uppercase();
    let Some(cultures) = shared.cultures.get(&country) else {
        return error_response(
            &shared,
            404,
            600008,
            &format!("No validation rules for `{iso2}`"),
        );
    };
    let mut languages: Vec<String> = cultures
        .iter()
        .map(|c| c.split('-').next().unwrap_or(c).to_string())
        .collect();
    languages.dedup();
    let states: Vec<&str> = if country == "US" {
        us_states().collect()
    } else {
        Vec::new()
    };
    json_response(
        200,
        json!({
            "iso2Code": country,
            "defaultCulture": cultures.first(),
            "isStateRequired": state_required(&country),
            "supportedStatesList": states,
            "supportedLanguagesList": languages,
            "supportedCulturesList": cultures,
            "isPostalCodeRequired": true,
            "postalCodeRegex": shared
                .postal_pattern(&country)
                .map(|p| p.as_str())
                .or((country == "US").then_some(US_ZIP_REGEX)),
            "isCityRequired": true,
            "isVatIdSupported": false,
            "isOrganizationRegistrationNumberRequired": needs_registration(&country),
            "phoneNumberRegex": r"^[0-9+()\- ]{4,25}$",
            "attributes": {"objectType": "CountryValidationRules"}
        }),
    )
}

/// `POST /v1/validations/address`: a verdict, never a hard failure (but flaky on demand).
pub async fn validate_address(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    if shared.chance(shared.config.faults.address_validation_error_rate) {
        return error_response(&shared, 500, 800003, "Address validation is unavailable");
    }
    let Ok(original) = serde_json::from_slice::<Value>(&body) else {
        return error_response(&shared, 400, 3000, "The request body is not valid JSON");
    };
    let address = lowercase_keys(original.clone());
    let field = |k: &str| {
        address
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let country = field("country").to_uppercase();
    let mut problems = Vec::new();
    if field("addressline1").is_empty() {
        problems.push("the street is missing");
    }
    if field("city").is_empty() {
        problems.push("the city is missing");
    }
    if !shared.cultures.contains_key(&country) {
        problems.push("the country is not supported");
    }
    if country == "US" {
        if !us_zip_ok(&field("postalcode")) {
            problems.push("the postal code is not a US ZIP code");
        }
        if !us_states().any(|s| s == field("state")) {
            problems.push("the state is not a US state");
        }
    }
    let usual = usual_form(&original, &country);
    let suggest = shared.config.address_suggestions && problems.is_empty() && usual != original;
    let status = if problems.is_empty() && !suggest {
        "VerifiedShippable"
    } else {
        "StreetPartial"
    };
    let message = if suggest {
        "The address was found in another form".to_string()
    } else {
        problems.join("; ")
    };
    json_response(
        200,
        json!({
            "originalAddress": original,
            "suggestedAddresses": if suggest { vec![usual] } else { Vec::new() },
            "status": status,
            "validationMessage": message,
        }),
    )
}

/// An address as the emulator's "postal service" writes it: every line trimmed with single
/// spaces, the city capitalised word by word, a US state in capitals (keys as sent).
fn usual_form(address: &Value, country: &str) -> Value {
    let mut usual = address.clone();
    let Some(fields) = usual.as_object_mut() else {
        return usual;
    };
    for (key, value) in fields.iter_mut() {
        let Some(text) = value.as_str() else {
            continue;
        };
        let mut tidy = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if key.eq_ignore_ascii_case("city") {
            tidy = tidy
                .split(' ')
                .map(|word| {
                    let mut chars = word.chars();
                    match chars.next() {
                        Some(first) => first
                            .to_uppercase()
                            .chain(chars.flat_map(char::to_lowercase))
                            .collect(),
                        None => String::new(),
                    }
                })
                .collect::<Vec<String>>()
                .join(" ");
        }
        if key.eq_ignore_ascii_case("state") && country == "US" {
            tidy = tidy.to_uppercase();
        }
        *value = Value::String(tidy);
    }
    usual
}

/// `GET /v1/agreements?agreementType=MicrosoftCustomerAgreement`.
pub async fn agreements(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let kind = query
        .get("agreementType")
        .map(String::as_str)
        .unwrap_or("MicrosoftCustomerAgreement");
    let items: Vec<Value> = if kind == "MicrosoftCustomerAgreement" || kind == "*" {
        vec![
            json!({"templateId": shared.config.mca_template_id, "agreementType": "MicrosoftCustomerAgreement",
                    "agreementLink": "https://aka.ms/customeragreement",
                    "attributes": {"objectType": "AgreementMetaData"}}),
        ]
    } else {
        Vec::new()
    };
    json_response(
        200,
        json!({"totalCount": items.len(), "items": items, "attributes": {"objectType": "Collection"}}),
    )
}
