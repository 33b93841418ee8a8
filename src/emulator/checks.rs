//! The emulator's own reading of a create-customer body and of the rules Partner Center enforces
//! on it (partner-center-api.md §1, §3, §4).
//!
//! Written from the contract, not shared with the client's `validate`: the point of the emulator
//! is that a misreading in one shows up as a disagreement with the other. Property names are
//! matched case-insensitively, as the real server does.

use serde_json::{Map, Value};

use super::state::Shared;

/// A refusal: HTTP status, Partner Center error code, description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub code: u32,
    pub description: String,
}

fn reject(status: u16, code: u32, description: impl Into<String>) -> Rejection {
    Rejection {
        status,
        code,
        description: description.into(),
    }
}

fn invalid(description: impl Into<String>) -> Rejection {
    reject(400, 27002, description)
}

fn missing(property: &str) -> Rejection {
    reject(400, 3000, format!("The property `{property}` is required"))
}

/// A create request the emulator accepted as well-formed.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub domain: String,
    pub company_name: String,
    pub associated_partner_id: Option<String>,
    /// The billing profile as sent (lowercased keys), echoed back in camelCase.
    pub billing: Value,
}

/// Keys lowercased, recursively: the server ignores the case of property names.
pub fn lowercase_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_lowercase(), lowercase_keys(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lowercase_keys).collect()),
        other => other,
    }
}

fn text<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn required<'a>(object: &'a Value, key: &str, property: &str) -> Result<&'a str, Rejection> {
    text(object, key).ok_or_else(|| missing(property))
}

fn length(value: &str, min: usize, max: usize, property: &str) -> Result<(), Rejection> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(invalid(format!(
            "The property `{property}` must have {min} to {max} characters, not {n}"
        )));
    }
    Ok(())
}

const US_STATES: &str = "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO \
MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP AA AE AP";

const REGISTRATION_COUNTRIES: &str =
    "AM AZ BY HU KZ KG MD RU TJ UZ UA IN BR ZA PL AE SA TR TH VN MM IQ SS VE";

pub fn us_states() -> impl Iterator<Item = &'static str> {
    US_STATES.split(' ')
}

pub fn needs_registration(country: &str) -> bool {
    REGISTRATION_COUNTRIES.split(' ').any(|c| c == country)
}

pub fn state_required(country: &str) -> bool {
    matches!(country, "US" | "CA" | "AU")
}

pub fn us_zip_ok(zip: &str) -> bool {
    let bytes = zip.as_bytes();
    let digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
    match bytes.len() {
        5 => digits(bytes),
        10 => digits(&bytes[..5]) && bytes[5] == b'-' && digits(&bytes[6..]),
        _ => false,
    }
}

fn is_guid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok() && text.len() == 36
}

/// Parses and checks a create body. `app_only` is the caller's token type.
pub fn check_create(
    shared: &Shared,
    body: &Value,
    app_only: bool,
) -> Result<CreateRequest, Rejection> {
    if !body.is_object() {
        return Err(reject(400, 3000, "The request body must be a JSON object"));
    }
    let partner = text(body, "associatedpartnerid").map(str::to_lowercase);
    if partner.is_some() && app_only {
        return Err(reject(
            403,
            900329,
            "This operation requires an App+User token (associatedPartnerId was given)",
        ));
    }
    if shared.config.forbid_creates {
        return Err(reject(
            403,
            600006,
            "The partner is not allowed to create customers",
        ));
    }

    let company = body
        .get("companyprofile")
        .ok_or_else(|| missing("companyProfile"))?;
    let domain = required(company, "domain", "companyProfile.domain")?.to_lowercase();
    let prefix = domain.strip_suffix(".onmicrosoft.com").unwrap_or("");
    if prefix.is_empty() || prefix.len() > 27 || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(invalid(format!(
            "The domain `{domain}` is not a valid domain prefix"
        )));
    }

    let billing = body
        .get("billingprofile")
        .ok_or_else(|| missing("billingProfile"))?;
    let email = required(billing, "email", "billingProfile.email")?;
    let (local, host) = email.rsplit_once('@').unwrap_or(("", ""));
    if local.is_empty() || !host.contains('.') || email.contains(char::is_whitespace) {
        return Err(invalid(format!("The email `{email}` is not valid")));
    }
    let company_name = required(billing, "companyname", "billingProfile.companyName")?;
    length(company_name, 1, 255, "billingProfile.companyName")?;
    if !company_name.chars().any(char::is_alphanumeric) {
        return Err(invalid("The company name must contain a letter or digit"));
    }
    let address = billing
        .get("defaultaddress")
        .ok_or_else(|| missing("billingProfile.defaultAddress"))?;
    let country = required(address, "country", "defaultAddress.country")?.to_string();
    let Some(cultures) = shared.cultures.get(&country) else {
        return Err(invalid(format!("The country `{country}` is not supported")));
    };
    if !shared.config.sellable_countries.is_empty()
        && !shared
            .config
            .sellable_countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&country))
    {
        return Err(reject(
            400,
            20000,
            format!("The partner is not authorized to sell in `{country}`"),
        ));
    }
    let culture = required(billing, "culture", "billingProfile.culture")?;
    if !cultures.iter().any(|c| c.eq_ignore_ascii_case(culture)) {
        return Err(invalid(format!(
            "The culture `{culture}` is not supported for `{country}`"
        )));
    }
    let language = required(billing, "language", "billingProfile.language")?;
    if language.len() != 2 || !language.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(invalid(format!("The language `{language}` is not valid")));
    }

    let first_name = required(address, "firstname", "defaultAddress.firstName")?;
    length(first_name, 1, 50, "defaultAddress.firstName")?;
    let last_name = required(address, "lastname", "defaultAddress.lastName")?;
    length(last_name, 1, 50, "defaultAddress.lastName")?;
    length(
        required(address, "addressline1", "defaultAddress.addressLine1")?,
        1,
        200,
        "defaultAddress.addressLine1",
    )?;
    for line in ["addressline2", "addressline3"] {
        if let Some(value) = text(address, line) {
            length(value, 0, 200, line)?;
        }
    }
    required(address, "city", "defaultAddress.city")?;
    let postal = required(address, "postalcode", "defaultAddress.postalCode")?;
    let pattern_refuses = shared
        .postal_pattern(&country)
        .is_some_and(|p| !p.is_match(postal));
    if (country == "US" && !us_zip_ok(postal)) || pattern_refuses {
        return Err(invalid(format!(
            "The postal code `{postal}` is not valid for `{country}`"
        )));
    }
    if state_required(&country) {
        let state = required(address, "state", "defaultAddress.state")?;
        if country == "US" && !us_states().any(|s| s == state) {
            return Err(invalid(format!(
                "The state `{state}` is not valid for `US`"
            )));
        }
    }
    if country == "US" && address.get("region").is_some_and(|r| !r.is_null()) {
        return Err(invalid(
            "The property `region` must not be sent for US addresses",
        ));
    }

    let registration = text(company, "organizationregistrationnumber");
    if needs_registration(&country) {
        let Some(number) = registration else {
            return Err(reject(
                400,
                600049,
                format!("An organization registration number is required for `{country}`"),
            ));
        };
        let pattern = shared.registration_pattern(&country);
        if !pattern.is_match(number) {
            return Err(reject(
                400,
                600050,
                format!(
                    "The organization registration number is not in the expected format `{}`",
                    pattern.as_str()
                ),
            ));
        }
        if text(address, "phonenumber").is_none() {
            return Err(reject(
                400,
                600051,
                format!("A phone number is required for `{country}`"),
            ));
        }
    } else if registration.is_some() {
        return Err(reject(
            400,
            600002,
            format!("An organization registration number must not be sent for `{country}`"),
        ));
    }

    if let Some(id) = &partner {
        let reseller = shared
            .reseller(id)
            .filter(|r| is_guid(id) && r.state == "Active");
        let Some(reseller) = reseller else {
            return Err(reject(
                400,
                800016,
                format!("`{id}` is not a valid indirect reseller of this partner"),
            ));
        };
        if !reseller.mpa_accepted {
            return Err(reject(
                403,
                900123,
                "The reseller has not accepted the Microsoft Partner Agreement",
            ));
        }
    }

    Ok(CreateRequest {
        domain,
        company_name: company_name.to_string(),
        associated_partner_id: partner,
        billing: billing.clone(),
    })
}
