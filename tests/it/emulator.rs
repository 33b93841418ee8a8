//! The emulator's own contract (partner-center-api.md), over real HTTP on loopback: every endpoint,
//! every error code, the throttling window, token rotation and expiry, and each fault switch.

use std::sync::Arc;
use std::time::Duration;

use csp_onboard::emulator::{Emulator, EmulatorConfig, ManualClock, Reseller};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).unwrap()
}

fn start_manual(config: EmulatorConfig) -> (Emulator, ManualClock) {
    let clock = ManualClock::new();
    let emulator = Emulator::start_with(config, 0, Arc::new(clock.clone())).unwrap();
    (emulator, clock)
}

/// An emulator, a client, and an App+User access token.
async fn session(config: EmulatorConfig) -> (Emulator, Pc, String) {
    let emulator = start(config);
    let pc = Pc::new(&emulator);
    let (token, _) = pc.redeem(&emulator.refresh_token()).await;
    (emulator, pc, token)
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

// --- tokens -------------------------------------------------------------------------------

#[tokio::test]
async fn every_refresh_returns_a_new_refresh_token_and_an_app_user_token() {
    let emulator = start(EmulatorConfig::default());
    let pc = Pc::new(&emulator);
    let first = emulator.refresh_token();

    let (access, second) = pc.redeem(&first).await;
    let (_, third) = pc.redeem(&second).await;

    assert_ne!(first, second);
    assert_ne!(second, third);
    let claims = claims(&access);
    assert_eq!(claims["tid"], emulator.tenant());
    assert_eq!(claims["aud"], "https://api.partnercenter.microsoft.com");
    assert!(claims["amr"].as_array().unwrap().contains(&json!("mfa")));
    assert!(claims["exp"].as_u64().unwrap() > 1_700_000_000);
    // Azure AD keeps rotated tokens valid unless told otherwise.
    pc.redeem(&first).await;
}

#[tokio::test]
async fn unknown_or_revoked_refresh_tokens_get_invalid_grant() {
    let mut config = EmulatorConfig::default();
    config.tokens.revoke_rotated_refresh_tokens = true;
    let emulator = start(config);
    let pc = Pc::new(&emulator);
    let first = emulator.refresh_token();
    pc.redeem(&first).await;
    let path = format!("/{}/oauth2/v2.0/token", emulator.tenant());
    for presented in [first.as_str(), "never-issued"] {
        let reply = pc
            .form(
                &path,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "c"),
                    ("refresh_token", presented),
                    ("scope", PC_SCOPE),
                ],
            )
            .await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.json()["error"], "invalid_grant");
        assert!(
            reply.json()["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS700082")
        );
    }
}

#[tokio::test]
async fn the_v2_endpoint_wants_the_partner_center_scope_and_v1_answers_with_strings() {
    let emulator = start(EmulatorConfig::default());
    let pc = Pc::new(&emulator);
    let refresh = emulator.refresh_token();
    let tenant = emulator.tenant().to_string();

    let wrong_scope = pc
        .form(
            &format!("/{tenant}/oauth2/v2.0/token"),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "c"),
                ("refresh_token", &refresh),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(wrong_scope.json()["error"], "invalid_scope");

    let v1 = pc
        .form(
            &format!("/{tenant}/oauth2/token"),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "c"),
                ("refresh_token", &refresh),
                ("resource", "https://api.partnercenter.microsoft.com"),
            ],
        )
        .await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert!(
        v1.json()["expires_in"].is_string(),
        "v1 sends expires_in as a string"
    );
    assert!(v1.json()["refresh_token"].is_string());
}

#[tokio::test]
async fn an_app_only_token_cannot_do_app_user_things() {
    let emulator = start(EmulatorConfig::default());
    let pc = Pc::new(&emulator);
    let reply = pc
        .form(
            &format!("/{}/oauth2/v2.0/token", emulator.tenant()),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "c"),
                ("client_secret", "s3cret"),
                ("scope", "https://api.partnercenter.microsoft.com/.default"),
            ],
        )
        .await;
    let token = reply.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&token)["idtyp"], "app");
    assert!(reply.json().get("refresh_token").is_none());

    let create = pc.create(&token, &create_body("apponly1")).await;
    assert_eq!((create.status, create.code()), (403, 900329));
    let relationships = pc
        .get(
            "/v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf",
            &token,
        )
        .await;
    assert_eq!((relationships.status, relationships.code()), (403, 900329));
    // A direct customer (no reseller) is fine with an app-only token.
    let mut direct = create_body("apponly2");
    direct
        .as_object_mut()
        .unwrap()
        .remove("associatedPartnerId");
    assert_eq!(pc.create(&token, &direct).await.status, 201);
}

#[tokio::test]
async fn the_device_code_flow_is_pending_until_the_user_signs_in() {
    let mut config = EmulatorConfig::default();
    config.tokens.auto_approve_device_code = false;
    let emulator = start(config);
    let pc = Pc::new(&emulator);
    let tenant = emulator.tenant().to_string();
    let started = pc
        .form(
            &format!("/{tenant}/oauth2/v2.0/devicecode"),
            &[("client_id", "c"), ("scope", PC_SCOPE)],
        )
        .await;
    let device_code = started.json()["device_code"].as_str().unwrap().to_string();
    let user_code = started.json()["user_code"].as_str().unwrap().to_string();
    let token_path = format!("/{tenant}/oauth2/v2.0/token");
    let poll_form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", "c"),
        ("device_code", device_code.as_str()),
        ("scope", PC_SCOPE),
    ];
    let poll = || pc.form(&token_path, &poll_form);

    assert_eq!(poll().await.json()["error"], "authorization_pending");
    let approved = pc
        .form(&format!("/_emulator/devicecodes/{user_code}/approve"), &[])
        .await;
    assert_eq!(approved.status, 204);
    let granted = poll().await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert!(granted.json()["refresh_token"].is_string());
    assert_eq!(
        poll().await.json()["error"],
        "invalid_grant",
        "a device code is used once"
    );
}

#[tokio::test]
async fn tokens_expire_on_the_emulators_clock() {
    let mut config = EmulatorConfig::default();
    config.tokens.access_token_lifetime_s = 600;
    let (emulator, clock) = start_manual(config);
    let pc = Pc::new(&emulator);
    let (token, _) = pc.redeem(&emulator.refresh_token()).await;
    assert_eq!(pc.get("/v1/customers", &token).await.status, 200);

    clock.advance(Duration::from_secs(601));

    let expired = pc.get("/v1/customers", &token).await;
    assert_eq!((expired.status, expired.code()), (401, 800001));
    assert_eq!(pc.get("/v1/customers", "not-a-token").await.status, 401);
    let no_token = pc
        .http
        .get(format!("{}/v1/customers", pc.base))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
}

// --- creating customers ------------------------------------------------------------------

#[tokio::test]
async fn a_create_returns_the_customer_with_one_time_credentials() {
    let (emulator, pc, token) = session(EmulatorConfig::default()).await;
    let request_id = "6f1a4a4e-0b7e-4f3e-9d2a-111111111111";

    let reply = pc
        .call(
            Method::POST,
            "/v1/customers",
            &token,
            Some(request_id),
            Some(&create_body("wingtip42")),
        )
        .await;

    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.header("ms-requestid").as_deref(), Some(request_id));
    assert_eq!(
        reply.header("ms-correlationid").as_deref(),
        Some("c0ffee00-0000-4000-8000-000000000001")
    );
    let customer = reply.json();
    assert_eq!(
        customer["companyProfile"]["domain"],
        "wingtip42.onmicrosoft.com"
    );
    assert_eq!(customer["companyProfile"]["tenantId"], customer["id"]);
    assert_eq!(customer["relationshipToPartner"], "reseller");
    assert_eq!(customer["associatedPartnerId"], ADATUM);
    assert_eq!(
        customer["billingProfile"]["defaultAddress"]["postalCode"],
        "98052"
    );
    assert_eq!(customer["userCredentials"]["userName"], "admin");
    let password = customer["userCredentials"]["password"].as_str().unwrap();
    assert!(password.len() >= 12);
    assert_eq!(emulator.customers()[0].password, password);
    assert_eq!(emulator.creation_count("wingtip42.onmicrosoft.com"), 1);

    // No GET ever shows the password again; the log never holds it.
    let fetched = pc
        .get(
            &format!("/v1/customers/{}", customer["id"].as_str().unwrap()),
            &token,
        )
        .await;
    assert!(fetched.json().get("userCredentials").is_none());
    let log = serde_json::to_string(&emulator.log()).unwrap();
    assert!(!log.contains(password));
}

#[tokio::test]
async fn property_names_are_case_insensitive() {
    let (_emulator, pc, token) = session(EmulatorConfig::default()).await;
    let pascal = json!({
        "CompanyProfile": {"Domain": "PASCAL1.onmicrosoft.com"},
        "BillingProfile": {"Email": "a@pascal.com", "Culture": "en-US", "Language": "en", "CompanyName": "Pascal",
            "DefaultAddress": {"FirstName": "A", "LastName": "B", "AddressLine1": "1 Way", "City": "Redmond",
                               "State": "WA", "PostalCode": "98052", "Country": "US"}},
        "AssociatedPartnerId": ADATUM.to_uppercase()
    });
    let reply = pc.create(&token, &pascal).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(
        reply.json()["companyProfile"]["domain"],
        "pascal1.onmicrosoft.com"
    );
    assert_eq!(
        reply.json()["billingProfile"]["defaultAddress"]["firstName"],
        "A"
    );
}

/// Edits a create body with a JSON pointer; `Value::Null` removes the property.
fn edited(prefix: &str, edits: &[(&str, Value)]) -> Value {
    let mut body = create_body(prefix);
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut body
        } else {
            body.pointer_mut(parent).unwrap()
        };
        let map = target.as_object_mut().unwrap();
        if value.is_null() {
            map.remove(key);
        } else {
            map.insert(key.to_string(), value.clone());
        }
    }
    body
}

#[tokio::test]
async fn each_documented_error_code_for_a_bad_create() {
    let reseller = |id: &str, state: &str, mpa_accepted| Reseller {
        id: id.into(),
        name: id.into(),
        state: state.into(),
        mpa_accepted,
        mpn_id: None,
        location: None,
    };
    let config = EmulatorConfig {
        resellers: Some(vec![
            reseller(ADATUM, "Active", true),
            reseller(LITWARE, "Active", false),
            reseller("8041ad23-6e5f-4c91-8db4-4f5a6b7c8d04", "Inactive", true),
        ]),
        sellable_countries: vec!["US".into(), "NL".into(), "IN".into(), "PL".into()],
        ..EmulatorConfig::default()
    };
    let (_emulator, pc, token) = session(config).await;
    let india = |p| {
        edited(
            p,
            &[
                ("/billingProfile/defaultAddress/country", json!("IN")),
                ("/billingProfile/defaultAddress/state", Value::Null),
                ("/billingProfile/culture", json!("en-IN")),
            ],
        )
    };
    let cases: Vec<(&str, Value, u16, u64)> = vec![
        (
            "missing domain",
            edited("x", &[("/companyProfile/domain", Value::Null)]),
            400,
            3000,
        ),
        (
            "missing email",
            edited("e1", &[("/billingProfile/email", Value::Null)]),
            400,
            3000,
        ),
        ("bad domain prefix", edited("bad-prefix", &[]), 400, 27002),
        (
            "bad US ZIP",
            edited(
                "zip1",
                &[("/billingProfile/defaultAddress/postalCode", json!("2134"))],
            ),
            400,
            27002,
        ),
        (
            "bad US state",
            edited(
                "st1",
                &[("/billingProfile/defaultAddress/state", json!("Washington"))],
            ),
            400,
            27002,
        ),
        (
            "region for US",
            edited(
                "reg1",
                &[("/billingProfile/defaultAddress/region", json!("West"))],
            ),
            400,
            27002,
        ),
        (
            "culture not for country",
            edited("cul1", &[("/billingProfile/culture", json!("nl-NL"))]),
            400,
            27002,
        ),
        (
            "country not sellable",
            edited(
                "de1",
                &[
                    ("/billingProfile/defaultAddress/country", json!("DE")),
                    ("/billingProfile/defaultAddress/state", Value::Null),
                    ("/billingProfile/culture", json!("de-DE")),
                ],
            ),
            400,
            20000,
        ),
        ("registration number missing", india("in1"), 400, 600049),
        (
            "registration number malformed",
            {
                let mut b = india("in2");
                b["companyProfile"]["organizationRegistrationNumber"] = json!("!");
                b
            },
            400,
            600050,
        ),
        (
            "phone missing",
            {
                let mut b = india("in3");
                b["companyProfile"]["organizationRegistrationNumber"] = json!("27AAPFU0939F1ZV");
                b["billingProfile"]["defaultAddress"]
                    .as_object_mut()
                    .unwrap()
                    .remove("phoneNumber");
                b
            },
            400,
            600051,
        ),
        (
            "registration number where none is taken",
            edited(
                "nl1",
                &[(
                    "/companyProfile/organizationRegistrationNumber",
                    json!("12345678"),
                )],
            ),
            400,
            600002,
        ),
        (
            "unknown reseller",
            edited(
                "r1",
                &[(
                    "/associatedPartnerId",
                    json!("00000000-0000-4000-8000-000000000000"),
                )],
            ),
            400,
            800016,
        ),
        (
            "inactive reseller",
            edited(
                "r2",
                &[(
                    "/associatedPartnerId",
                    json!("8041ad23-6e5f-4c91-8db4-4f5a6b7c8d04"),
                )],
            ),
            400,
            800016,
        ),
        (
            "reseller without the MPA",
            edited("r3", &[("/associatedPartnerId", json!(LITWARE))]),
            403,
            900123,
        ),
        (
            "domain taken by someone else",
            create_body("contoso"),
            400,
            3000,
        ),
    ];
    for (what, body, status, code) in cases {
        let reply = pc.create(&token, &body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{what}: {}",
            reply.text
        );
        assert_eq!(reply.json()["source"], "PartnerFD", "{what}");
    }
    let with_number = {
        let mut b = india("in4");
        b["companyProfile"]["organizationRegistrationNumber"] = json!("27AAPFU0939F1ZV");
        b
    };
    assert_eq!(pc.create(&token, &with_number).await.status, 201);
    let taken = pc.create(&token, &create_body("contoso")).await;
    assert!(
        taken.json()["description"]
            .as_str()
            .unwrap()
            .contains("hostname: contoso.onmicrosoft.com is not valid")
    );
}

#[tokio::test]
async fn a_taken_domain_can_be_a_500_and_a_sandbox_stops_at_its_cap_and_creates_can_be_forbidden() {
    let mut config = EmulatorConfig::default();
    config.faults.domain_taken_status = 500;
    config.sandbox = true;
    config.sandbox_cap = 2;
    let (_emulator, pc, token) = session(config).await;
    assert_eq!(pc.create(&token, &create_body("one1")).await.status, 201);
    let again = pc.create(&token, &create_body("one1")).await;
    assert_eq!((again.status, again.code()), (500, 3000));
    assert_eq!(pc.create(&token, &create_body("two2")).await.status, 201);
    let full = pc.create(&token, &create_body("three3")).await;
    assert_eq!((full.status, full.code()), (400, 800018));

    let (_emulator, pc, token) = session(EmulatorConfig {
        forbid_creates: true,
        ..EmulatorConfig::default()
    })
    .await;
    let forbidden = pc.create(&token, &create_body("nope1")).await;
    assert_eq!((forbidden.status, forbidden.code()), (403, 600006));
}

#[tokio::test]
async fn a_repeated_request_id_replays_only_when_switched_on() {
    for replay in [false, true] {
        let mut config = EmulatorConfig::default();
        config.faults.replay_request_ids = replay;
        let (emulator, pc, token) = session(config).await;
        let id = "9a9a9a9a-0000-4000-8000-000000000009";
        let body = create_body("replay1");
        let first = pc
            .call(Method::POST, "/v1/customers", &token, Some(id), Some(&body))
            .await;
        let second = pc
            .call(Method::POST, "/v1/customers", &token, Some(id), Some(&body))
            .await;
        assert_eq!(first.status, 201);
        if replay {
            assert_eq!(second.status, 201);
            assert_eq!(
                second.json()["id"],
                first.json()["id"],
                "the original response, replayed"
            );
        } else {
            assert_eq!(
                (second.status, second.code()),
                (400, 3000),
                "processed again: the domain is taken"
            );
        }
        assert_eq!(emulator.creation_count("replay1.onmicrosoft.com"), 1);
    }
}

// --- reading ----------------------------------------------------------------------------------

#[tokio::test]
async fn domains_customers_filters_and_users_read_back() {
    let (_emulator, pc, token) = session(EmulatorConfig::default()).await;
    let created = pc.create(&token, &create_body("readback1")).await.json();
    let id = created["id"].as_str().unwrap();
    pc.create(
        &token,
        &edited("other2", &[("/associatedPartnerId", json!(LITWARE))]),
    )
    .await;

    let head = |domain: &str| format!("/v1/domains/{domain}");
    assert_eq!(
        pc.call(
            Method::HEAD,
            &head("readback1.onmicrosoft.com"),
            &token,
            None,
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        pc.call(
            Method::HEAD,
            &head("contoso.onmicrosoft.com"),
            &token,
            None,
            None
        )
        .await
        .status,
        200,
        "taken by someone else"
    );
    assert_eq!(
        pc.call(
            Method::HEAD,
            &head("free4all.onmicrosoft.com"),
            &token,
            None,
            None
        )
        .await
        .status,
        404
    );

    let filter = |field: &str, value: &str| {
        let json = json!({"Field": field, "Value": value, "Operator": "starts_with"}).to_string();
        let encoded: String = url_encode(&json);
        format!("/v1/customers?size=10&filter={encoded}")
    };
    let by_domain = pc.get(&filter("Domain", "readback"), &token).await.json();
    assert_eq!(by_domain["totalCount"], 1);
    assert_eq!(by_domain["items"][0]["id"], id);
    assert_eq!(by_domain["attributes"]["objectType"], "Collection");
    assert_eq!(
        pc.get(&filter("CompanyName", "Wingtip"), &token)
            .await
            .json()["totalCount"],
        2
    );
    assert_eq!(
        pc.get(&filter("IndirectReseller", LITWARE), &token)
            .await
            .json()["totalCount"],
        1
    );
    let bad = pc
        .get(
            &format!(
                "/v1/customers?filter={}",
                url_encode(r#"{"Field":"Domain","Value":"x","Operator":"equals"}"#)
            ),
            &token,
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, 3000));

    assert_eq!(
        pc.get(&format!("/v1/customers/{id}"), &token).await.json()["companyProfile"]["domain"],
        "readback1.onmicrosoft.com"
    );
    assert_eq!(
        pc.get("/v1/customers/00000000-0000-4000-8000-000000000000", &token)
            .await
            .status,
        404
    );

    let users = pc
        .get(&format!("/v1/customers/{id}/users"), &token)
        .await
        .json();
    let user_id = users["items"][0]["id"].as_str().unwrap();
    let reset_path = format!("/v1/customers/{id}/users/{user_id}/resetpassword");
    let reset = |body: serde_json::Value| {
        let (pc, token, path) = (&pc, &token, &reset_path);
        async move { pc.call(Method::PATCH, path, token, None, Some(&body)).await }
    };
    assert_eq!(
        reset(json!({})).await.status,
        400,
        "passwordProfile is required"
    );
    let weak = json!({"passwordProfile": {"password": "password", "forceChangePassword": true}});
    assert_eq!(reset(weak).await.status, 400, "a weak password is refused");
    let made_up = reset(json!({"passwordProfile": {"forceChangePassword": true}})).await;
    assert_eq!(made_up.status, 200);
    assert_ne!(
        made_up.json()["password"],
        created["userCredentials"]["password"]
    );
    let chosen =
        json!({"passwordProfile": {"password": "Kq7!mZr2#pLx9$Ve", "forceChangePassword": true}});
    let chosen = reset(chosen).await;
    assert_eq!(chosen.status, 200);
    assert_eq!(chosen.json()["password"], "Kq7!mZr2#pLx9$Ve");
    assert_eq!(
        chosen.json()["userPrincipalName"],
        "admin@readback1.onmicrosoft.com"
    );
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_new_customer_is_invisible_to_reads_for_the_configured_delay() {
    let mut config = EmulatorConfig::default();
    config.faults.read_after_create_delay_s = 90.0;
    let (emulator, clock) = start_manual(config);
    let pc = Pc::new(&emulator);
    let (token, _) = pc.redeem(&emulator.refresh_token()).await;
    let id = pc.create(&token, &create_body("late1")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let filter = format!(
        "/v1/customers?filter={}",
        url_encode(r#"{"Field":"Domain","Value":"late1","Operator":"starts_with"}"#)
    );

    assert_eq!(
        pc.get(&format!("/v1/customers/{id}"), &token).await.status,
        404
    );
    assert_eq!(pc.get(&filter, &token).await.json()["totalCount"], 0);
    assert_eq!(
        pc.call(
            Method::HEAD,
            "/v1/domains/late1.onmicrosoft.com",
            &token,
            None,
            None
        )
        .await
        .status,
        200,
        "the domain itself is taken at once"
    );

    clock.advance(Duration::from_secs(91));

    assert_eq!(
        pc.get(&format!("/v1/customers/{id}"), &token).await.status,
        200
    );
    assert_eq!(pc.get(&filter, &token).await.json()["totalCount"], 1);
}

#[tokio::test]
async fn reference_data_resellers_countries_addresses_agreements() {
    let (_emulator, pc, token) = session(EmulatorConfig::default()).await;
    let resellers = pc
        .get(
            "/v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf",
            &token,
        )
        .await
        .json();
    assert_eq!(resellers["totalCount"], 4);
    let states: Vec<&str> = resellers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["Active", "Active", "Active", "Inactive"]);

    let us = pc.get("/v1/countryvalidationrules/US", &token).await.json();
    assert_eq!(us["isStateRequired"], true);
    assert!(
        us["supportedStatesList"]
            .as_array()
            .unwrap()
            .contains(&json!("WA"))
    );
    assert_eq!(us["supportedCulturesList"], json!(["es-US", "en-US"]));
    assert_eq!(
        pc.get("/v1/countryvalidationrules/MZ", &token).await.json()["defaultCulture"],
        "pt-PT"
    );
    assert_eq!(
        pc.get("/v1/countryvalidationrules/ZZ", &token).await.status,
        404
    );

    let good = pc.call(Method::POST, "/v1/validations/address", &token, None, Some(&json!({"addressLine1": "1 Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"}))).await.json();
    assert_eq!(good["status"], "VerifiedShippable");
    let partial = pc.call(Method::POST, "/v1/validations/address", &token, None, Some(&json!({"addressLine1": "1 Way", "city": "Redmond", "state": "WA", "postalCode": "2134", "country": "US"}))).await.json();
    assert_eq!(partial["status"], "StreetPartial");

    let templates = pc
        .get(
            "/v1/agreements?agreementType=MicrosoftCustomerAgreement",
            &token,
        )
        .await
        .json();
    let template_id = templates["items"][0]["templateId"]
        .as_str()
        .unwrap()
        .to_string();
    let id = pc.create(&token, &create_body("mca1")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let attest = |template: &str| {
        json!({"primaryContact": {"firstName": "Gena", "lastName": "Soto", "email": "gena@wingtiptoys.com", "phoneNumber": "4255550101"},
                                          "templateId": template, "dateAgreed": "2026-11-20T00:00:00Z", "type": "MicrosoftCustomerAgreement"})
    };
    let path = format!("/v1/customers/{id}/agreements");
    assert_eq!(
        pc.call(
            Method::POST,
            &path,
            &token,
            None,
            Some(&attest(&template_id))
        )
        .await
        .status,
        201
    );
    let wrong = pc
        .call(
            Method::POST,
            &path,
            &token,
            None,
            Some(&attest("not-the-template")),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (400, 3000));
}

// --- throttling ---------------------------------------------------------------------------

#[tokio::test]
async fn the_window_refuses_the_request_past_the_limit_until_the_oldest_ages_out() {
    let config = EmulatorConfig {
        rate_limit: 5,
        window_s: 6.0,
        ..EmulatorConfig::default()
    };
    let (emulator, clock) = start_manual(config);
    let pc = Pc::new(&emulator);
    let (token, _) = pc.redeem(&emulator.refresh_token()).await;
    for i in 0..5 {
        clock.advance(Duration::from_millis(500));
        assert_eq!(
            pc.get("/v1/customers", &token).await.status,
            200,
            "request {i}"
        );
    }
    // t = 2.5 s: the sixth request in the window; the first (t = 0.5) leaves at 6.5 → 4 s.
    let refused = pc.get("/v1/customers", &token).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("retry-after").as_deref(), Some("4"));
    assert_eq!(
        refused.json(),
        json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 4 seconds."})
    );
    // Other resources do not count, and refused requests do not either.
    assert_eq!(
        pc.get("/v1/countryvalidationrules/US", &token).await.status,
        200
    );
    assert_eq!(
        pc.call(
            Method::HEAD,
            "/v1/domains/x.onmicrosoft.com",
            &token,
            None,
            None
        )
        .await
        .status,
        404
    );

    clock.advance(Duration::from_millis(3990)); // t = 6.49
    assert_eq!(pc.get("/v1/customers", &token).await.status, 429);
    clock.advance(Duration::from_millis(10)); // t = 6.5: the first ages out
    assert_eq!(pc.get("/v1/customers", &token).await.status, 200);
    assert_eq!(pc.get("/v1/customers", &token).await.status, 429);
    let statuses: Vec<u16> = emulator
        .log()
        .iter()
        .filter(|e| e.path == "/v1/customers")
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 200, 429]);
}

// --- faults ---------------------------------------------------------------------------------

#[tokio::test]
async fn transient_errors_come_with_their_codes_and_follow_the_seed() {
    let run = |seed| async move {
        let mut config = EmulatorConfig {
            seed,
            ..EmulatorConfig::default()
        };
        config.faults.transient_error_rate = 0.5;
        let (_emulator, pc, token) = session(config).await;
        let mut seen = Vec::new();
        for _ in 0..24 {
            let reply = pc.get("/v1/customers", &token).await;
            if reply.status != 200 {
                let expected = if reply.status == 500 { 800003 } else { 900192 };
                assert_eq!(reply.code(), expected);
            }
            seen.push(reply.status);
        }
        seen
    };
    let first = run(7).await;
    assert!(
        first.contains(&200) && first.iter().any(|s| *s >= 500),
        "{first:?}"
    );
    assert_eq!(run(7).await, first, "the same seed, the same faults");
}

#[tokio::test]
async fn a_dropped_response_still_created_the_customer() {
    let mut config = EmulatorConfig::default();
    config.faults.drop_after_create_rate = 1.0;
    let (emulator, pc, token) = session(config).await;

    let sent = pc
        .http
        .post(format!("{}/v1/customers", pc.base))
        .bearer_auth(&token)
        .header("MS-RequestId", "d10d10d1-0000-4000-8000-000000000001")
        .json(&create_body("dropped1"))
        .send()
        .await;

    assert!(
        sent.is_err(),
        "the connection closes without a response: {sent:?}"
    );
    assert_eq!(emulator.creation_count("dropped1.onmicrosoft.com"), 1);
    let entry = emulator
        .log()
        .into_iter()
        .find(|e| e.path == "/v1/customers")
        .unwrap();
    assert!(entry.dropped);
    assert_eq!(entry.status, 201);
    assert_eq!(entry.domain.as_deref(), Some("dropped1.onmicrosoft.com"));
}

#[tokio::test]
async fn a_slow_response_outlives_the_clients_timeout_but_the_create_happened() {
    let mut config = EmulatorConfig::default();
    config.faults.slow_response_rate = 1.0;
    config.faults.slow_response_s = 30.0;
    let (emulator, pc, token) = session(config).await;

    let sent = pc
        .http
        .post(format!("{}/v1/customers", pc.base))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .json(&create_body("slow1"))
        .send()
        .await;

    assert!(sent.unwrap_err().is_timeout());
    assert_eq!(emulator.creation_count("slow1.onmicrosoft.com"), 1);
}

#[tokio::test]
async fn error_bodies_can_be_html_and_latency_can_be_added() {
    let mut config = EmulatorConfig::default();
    config.faults.html_error_rate = 1.0;
    config.faults.latency_ms = 150;
    let (_emulator, pc, token) = session(config).await;
    let started = std::time::Instant::now();

    let reply = pc.create(&token, &create_body("bad-domain")).await;

    assert_eq!(reply.status, 400);
    assert!(reply.text.starts_with("<html>"), "{}", reply.text);
    assert_eq!(reply.header("content-type").as_deref(), Some("text/html"));
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "latency is added before answering"
    );
}

#[tokio::test]
async fn address_validation_is_flaky_on_demand() {
    let mut config = EmulatorConfig::default();
    config.faults.address_validation_error_rate = 1.0;
    let (_emulator, pc, token) = session(config).await;
    let reply = pc
        .call(
            Method::POST,
            "/v1/validations/address",
            &token,
            None,
            Some(&json!({"country": "US"})),
        )
        .await;
    assert_eq!(reply.status, 500);
}

// --- inspection and the command -----------------------------------------------------------

#[tokio::test]
async fn the_inspection_endpoints_show_requests_and_customers_without_a_token() {
    let (_emulator, pc, token) = session(EmulatorConfig {
        rate_limit: 1,
        ..EmulatorConfig::default()
    })
    .await;
    pc.call(
        Method::POST,
        "/v1/customers",
        &token,
        Some("0d0d0d0d-0000-4000-8000-00000000000a"),
        Some(&create_body("seen1")),
    )
    .await;

    let log: Value = pc
        .http
        .get(format!("{}/_emulator/log", pc.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customers: Value = pc
        .http
        .get(format!("{}/_emulator/customers", pc.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let create = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/v1/customers")
        .unwrap();
    assert_eq!(create["method"], "POST");
    assert_eq!(create["status"], 201);
    assert_eq!(create["request_id"], "0d0d0d0d-0000-4000-8000-00000000000a");
    assert_eq!(create["domain"], "seen1.onmicrosoft.com");
    assert!(create["t"].as_f64().unwrap() >= 0.0);
    assert_eq!(customers["creation_count"]["seen1.onmicrosoft.com"], 1);
    assert_eq!(customers["customers"][0]["domain"], "seen1.onmicrosoft.com");
    // The inspection calls neither need a token nor count toward the (1-request) window.
    assert!(
        !log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"].as_str().unwrap().starts_with("/_emulator"))
    );
}

/// The `emulator` command, running: the three lines it prints, parsed; killed when dropped.
struct EmulatorProcess {
    child: std::process::Child,
    pc: Pc,
    refresh_token: String,
}

impl EmulatorProcess {
    fn spawn(args: &[&std::ffi::OsStr]) -> EmulatorProcess {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_csp-onboard"))
            .arg("emulator")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut line = |prefix: &str| {
            let text = lines.next().unwrap().unwrap();
            text.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{text:?} does not start with {prefix:?}"))
                .to_string()
        };
        let base = line("");
        let tenant = line("partner tenant: ");
        let refresh_token = line("refresh token: ");
        // Then what to copy to rehearse against it.
        let client = line("client id: ");
        assert_eq!(line("# "), "to rehearse against it, in another shell:");
        assert_eq!(
            line("export "),
            format!("CSP_ONBOARD_API_URL={base} CSP_ONBOARD_AUTHORITY_URL={base}")
        );
        assert_eq!(
            line("export "),
            format!("CSP_ONBOARD_TENANT_ID={tenant} CSP_ONBOARD_CLIENT_ID={client}")
        );
        assert!(line("csp-onboard login").contains("approved at once"));
        let pc = Pc {
            http: reqwest::Client::new(),
            base,
            tenant,
        };
        EmulatorProcess {
            child,
            pc,
            refresh_token,
        }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_command_prints_its_url_and_a_refresh_token_it_accepts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port_text = port.to_string();
    let emulator = EmulatorProcess::spawn(&[
        "--port".as_ref(),
        port_text.as_ref(),
        "--rate-limit".as_ref(),
        "50/6s".as_ref(),
    ]);

    assert_eq!(emulator.pc.base, format!("http://127.0.0.1:{port}"));
    // `redeem` asserts the token endpoint accepted it.
    emulator.pc.redeem(&emulator.refresh_token).await;
}

#[tokio::test]
async fn the_command_reads_its_own_settings_file_resellers_included() {
    let ws = Workspace::new();
    let settings = ws.write(
        "emulator.toml",
        r#"
seed = 9
rate_limit = 20
window_s = 2.0
taken_domains = ["alreadythere.onmicrosoft.com"]

[tokens]
refresh_token = "fixed-refresh-token-for-scripts"

[faults]
domain_taken_status = 500

[[resellers]]
id = "11111111-2222-4333-8444-555555555555"
name = "Fabrikam Distribution"
state = "Active"
"#,
    );
    let emulator = EmulatorProcess::spawn(&["--config".as_ref(), settings.as_os_str()]);
    let pc = &emulator.pc;

    let (access, _) = pc.redeem(&emulator.refresh_token).await;
    let resellers = pc
        .get(
            "/v1/relationships?relationship_type=IsIndirectCloudSolutionProviderOf",
            &access,
        )
        .await
        .json();
    let mut body = create_body("alreadythere");
    body["associatedPartnerId"] = json!("11111111-2222-4333-8444-555555555555");
    let taken = pc.create(&access, &body).await;

    assert_eq!(emulator.refresh_token, "fixed-refresh-token-for-scripts");
    assert_eq!(resellers["totalCount"], 1);
    assert_eq!(resellers["items"][0]["name"], "Fabrikam Distribution");
    assert_eq!(taken.status, 500, "the settings made a taken domain a 500");
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let ws = Workspace::new();
    let settings = ws.write("bad.toml", "[faults]\ntransient_error_rate = 2.0\n");
    let out = csp_onboard()
        .arg("emulator")
        .arg("--config")
        .arg(&settings)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("faults.transient_error_rate"));
}

#[tokio::test]
async fn with_a_state_file_customers_survive_a_restart() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    let state = ws.path("emulator-state.json");
    let config = || EmulatorConfig {
        state_file: Some(state.clone()),
        ..EmulatorConfig::default()
    };
    let (emulator, pc, token) = session(config()).await;
    let created = pc.create(&token, &create_body("survivor1")).await.json();
    drop(emulator); // saves

    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o600,
        "it holds passwords"
    );
    let (emulator, pc, token) = session(config()).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        pc.get(&format!("/v1/customers/{id}"), &token).await.status,
        200
    );
    assert_eq!(
        pc.call(
            Method::HEAD,
            "/v1/domains/survivor1.onmicrosoft.com",
            &token,
            None,
            None
        )
        .await
        .status,
        200
    );
    let again = pc.create(&token, &create_body("survivor1")).await;
    assert_eq!(
        (again.status, again.code()),
        (400, 3000),
        "still taken after the restart"
    );
    assert_eq!(
        emulator.customers()[0].password,
        created["userCredentials"]["password"]
    );
}
