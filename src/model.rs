//! The Partner Center resources csp-onboard sends and reads (partner-center-api.md §1, §4, §5).
//!
//! Requests are sent in camelCase. Responses are read leniently: PascalCase aliases where the SDK's
//! spelling may come back, `code` as a number or a string.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

/// The body of `POST /v1/customers` (validation builds it from a row it accepted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRequest {
    pub company_profile: CompanyProfile,
    pub billing_profile: BillingProfile,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub associated_partner_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CompanyProfile {
    pub domain: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_registration_number: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BillingProfile {
    pub email: String,
    pub culture: String,
    pub language: String,
    pub company_name: String,
    pub default_address: Address,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub first_name: String,
    pub last_name: String,
    pub address_line1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line3: Option<String>,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub postal_code: String,
    pub country: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// A Customer as Partner Center returns it (only what csp-onboard uses).
#[derive(Debug, Deserialize)]
pub struct Customer {
    #[serde(alias = "Id")]
    pub id: String,
    #[serde(default, rename = "commerceId", alias = "CommerceId")]
    pub commerce_id: Option<String>,
    #[serde(default, rename = "companyProfile", alias = "CompanyProfile")]
    pub company_profile: Option<CustomerCompanyProfile>,
    #[serde(default, rename = "userCredentials", alias = "UserCredentials")]
    pub user_credentials: Option<UserCredentials>,
    /// The indirect reseller the customer belongs to.
    #[serde(default, rename = "associatedPartnerId", alias = "AssociatedPartnerId")]
    pub associated_partner_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CustomerCompanyProfile {
    #[serde(default, alias = "Domain")]
    pub domain: Option<String>,
}

/// The one-time admin credentials of a new customer. The password cannot be printed by accident.
#[derive(Debug, Deserialize)]
pub struct UserCredentials {
    #[serde(rename = "userName", alias = "UserName")]
    pub user_name: String,
    #[serde(alias = "Password")]
    pub password: SecretString,
}

/// An indirect reseller of the provider (`GET /v1/relationships`).
#[derive(Debug, Clone, Deserialize)]
pub struct Reseller {
    #[serde(alias = "Id")]
    pub id: String,
    #[serde(default, alias = "Name")]
    pub name: String,
    #[serde(default, alias = "State")]
    pub state: String,
}

impl Reseller {
    pub fn is_active(&self) -> bool {
        self.state.eq_ignore_ascii_case("active")
    }
}

/// An agreement's metadata (`GET /v1/agreements`).
#[derive(Debug, Clone, Deserialize)]
pub struct AgreementMetadata {
    #[serde(default, rename = "templateId", alias = "TemplateId")]
    pub template_id: Option<String>,
}

/// An agreement a customer has attested (`GET /v1/customers/{id}/agreements`).
#[derive(Debug, Clone, Deserialize)]
pub struct Agreement {
    #[serde(default, rename = "templateId", alias = "TemplateId")]
    pub template_id: Option<String>,
    #[serde(default, rename = "type", alias = "Type")]
    pub kind: Option<String>,
}

/// The body of `POST /v1/customers/{id}/agreements` for the Microsoft Customer Agreement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgreementRequest {
    pub primary_contact: Contact,
    pub template_id: String,
    /// `2026-11-20T00:00:00Z`.
    pub date_agreed: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

impl AgreementRequest {
    /// The attestation for the customer a request created: its primary contact, agreed on `date`.
    pub fn mca(customer: &CustomerRequest, template_id: &str, date: &str) -> AgreementRequest {
        let billing = &customer.billing_profile;
        let address = &billing.default_address;
        AgreementRequest {
            primary_contact: Contact {
                first_name: address.first_name.clone(),
                last_name: address.last_name.clone(),
                email: billing.email.clone(),
                phone_number: address.phone_number.clone(),
            },
            template_id: template_id.to_string(),
            date_agreed: format!("{date}T00:00:00Z"),
            kind: "MicrosoftCustomerAgreement".into(),
        }
    }
}

/// A user of a customer's tenant (`GET /v1/customers/{id}/users`).
#[derive(Debug, Clone, Deserialize)]
pub struct CustomerUser {
    #[serde(alias = "Id")]
    pub id: String,
    #[serde(default, rename = "userPrincipalName", alias = "UserPrincipalName")]
    pub user_principal_name: Option<String>,
}

/// The body of a password reset: a new password the admin must change at the next sign-in.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordReset {
    pub password_profile: PasswordProfile,
    pub attributes: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordProfile {
    pub password: String,
    pub force_change_password: bool,
}

impl PasswordReset {
    pub fn new(password: &str) -> PasswordReset {
        PasswordReset {
            password_profile: PasswordProfile {
                password: password.to_string(),
                force_change_password: true,
            },
            attributes: serde_json::json!({"objectType": "CustomerUser"}),
        }
    }
}

/// A country's validation rules (`GET /v1/countryvalidationrules/{iso2}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CountryRules {
    pub is_state_required: bool,
    pub supported_states_list: Vec<String>,
    pub supported_cultures_list: Vec<String>,
    pub supported_languages_list: Vec<String>,
    pub is_postal_code_required: bool,
    pub postal_code_regex: Option<String>,
    pub is_city_required: bool,
    pub phone_number_regex: Option<String>,
}

/// The body of `POST /v1/validations/address`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AddressToValidate {
    pub address_line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub postal_code: String,
    pub country: String,
}

impl AddressToValidate {
    pub fn of(address: &Address) -> AddressToValidate {
        AddressToValidate {
            address_line1: address.address_line1.clone(),
            address_line2: address.address_line2.clone(),
            city: address.city.clone(),
            state: address.state.clone(),
            postal_code: address.postal_code.clone(),
            country: address.country.clone(),
        }
    }
}

/// Partner Center's verdict on an address.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AddressVerdict {
    pub status: String,
    pub suggested_addresses: Vec<AddressToValidate>,
    pub validation_message: Option<String>,
}

impl AddressVerdict {
    /// Whether Partner Center found the address as it is.
    pub fn verified(&self) -> bool {
        matches!(self.status.as_str(), "Verified" | "VerifiedShippable")
    }
}

/// `{"totalCount": n, "items": [...]}`.
#[derive(Debug, Deserialize)]
pub struct Collection<T> {
    #[serde(default = "Vec::new", alias = "Items")]
    pub items: Vec<T>,
}

/// A Partner Center error body. `code` is documented as a string but arrives as a number.
#[derive(Debug, Deserialize, Default)]
pub struct ApiError {
    #[serde(default, alias = "Code", deserialize_with = "number_or_string")]
    pub code: Option<String>,
    #[serde(default, alias = "Description")]
    pub description: Option<String>,
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_come_as_numbers_or_strings() {
        let number: ApiError =
            serde_json::from_str(r#"{"code": 600050, "description": "x"}"#).unwrap();
        let text: ApiError = serde_json::from_str(r#"{"Code": "3000"}"#).unwrap();
        assert_eq!(number.code.as_deref(), Some("600050"));
        assert_eq!(text.code.as_deref(), Some("3000"));
    }

    #[test]
    fn customers_read_in_either_case() {
        let c: Customer = serde_json::from_str(
            r#"{"Id": "t1", "CommerceId": "c1", "UserCredentials": {"UserName": "admin", "Password": "p"}}"#,
        )
        .unwrap();
        assert_eq!(c.id, "t1");
        assert_eq!(c.commerce_id.as_deref(), Some("c1"));
        assert_eq!(c.user_credentials.unwrap().user_name, "admin");
    }
}
