//! A row as validation judged it — what flows on to the journal, and to pre-flight: its number,
//! its identity (the full domain, when usable), the Partner Center request when it is valid, its
//! issues, and the few values reports show. Later stages read this, never the draft or the
//! template: the data flows one way.
//!
//! [`Judged`] borrows the row (the streaming path: a million rows, no copy); [`JudgedRow`] owns it
//! (for checks that need all rows at once, like pre-flight). Both are a [`Judgement`].

use super::Issue;
use crate::mapping::{Draft, Field};
use crate::model::{Address, BillingProfile, CompanyProfile, CustomerRequest};

/// What the journal and pre-flight read of a judged row.
pub trait Judgement {
    fn number(&self) -> u64;
    /// The full lowercase domain, when the row has a usable one.
    fn domain(&self) -> Option<&str>;
    /// The body to send; `None` when the row is invalid.
    fn request(&self) -> Option<CustomerRequest>;
    fn issues(&self) -> &[Issue];
    /// The row's cells end to end (what identifies an invalid row's content).
    fn row_text(&self) -> &str;
    fn external_id(&self) -> Option<&str>;
    fn reseller(&self) -> Option<&str>;
    fn company_name(&self) -> Option<&str>;
}

/// A judged row, borrowing its draft.
pub struct Judged<'d, 'r> {
    pub(crate) draft: &'d Draft<'r>,
    pub issues: Vec<Issue>,
}

impl Judged<'_, '_> {
    fn text(&self, field: Field) -> Option<&str> {
        Some(self.draft.text(field)).filter(|s| !s.is_empty())
    }

    /// The header of the column that gave `field`, if any (for messages about the row).
    pub fn column_of(&self, field: Field) -> Option<String> {
        self.draft.column_of(field).map(str::to_owned)
    }

    /// An owned copy, for checks that need all rows at once.
    pub fn to_owned_row(&self) -> JudgedRow {
        JudgedRow {
            number: self.number(),
            domain: self.domain().map(str::to_owned),
            request: self.request(),
            issues: self.issues.clone(),
            row_text: self.row_text().to_owned(),
            external_id: self.external_id().map(str::to_owned),
            reseller: self.reseller().map(str::to_owned),
            company_name: self.company_name().map(str::to_owned),
            columns: Field::ALL
                .iter()
                .filter_map(|f| Some((*f, self.column_of(*f)?)))
                .collect(),
        }
    }
}

impl Judgement for Judged<'_, '_> {
    fn number(&self) -> u64 {
        self.draft.row
    }

    fn domain(&self) -> Option<&str> {
        let usable = !self.issues.iter().any(|i| i.field == Some("domain"));
        self.text(Field::Domain).filter(|_| usable)
    }

    fn request(&self) -> Option<CustomerRequest> {
        self.issues.is_empty().then(|| request_of(self.draft))
    }

    fn issues(&self) -> &[Issue] {
        &self.issues
    }

    fn row_text(&self) -> &str {
        self.draft.row_text()
    }

    fn external_id(&self) -> Option<&str> {
        self.text(Field::ExternalId)
    }

    fn reseller(&self) -> Option<&str> {
        self.text(Field::AssociatedPartnerId)
    }

    fn company_name(&self) -> Option<&str> {
        self.text(Field::CompanyName)
    }
}

/// A judged row, owned.
#[derive(Debug, Clone)]
pub struct JudgedRow {
    pub number: u64,
    pub domain: Option<String>,
    pub request: Option<CustomerRequest>,
    pub issues: Vec<Issue>,
    pub row_text: String,
    pub external_id: Option<String>,
    pub reseller: Option<String>,
    pub company_name: Option<String>,
    /// The sheet's column for each field that came from one.
    pub columns: Vec<(Field, String)>,
}

impl JudgedRow {
    pub fn column_of(&self, field: Field) -> Option<&str> {
        self.columns
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, c)| c.as_str())
    }

    /// A further issue (pre-flight's): the row is no longer valid.
    pub fn add_issue(&mut self, issue: Issue) {
        self.request = None;
        self.issues.push(issue);
    }
}

impl Judgement for JudgedRow {
    fn number(&self) -> u64 {
        self.number
    }

    fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    fn request(&self) -> Option<CustomerRequest> {
        self.request.clone()
    }

    fn issues(&self) -> &[Issue] {
        &self.issues
    }

    fn row_text(&self) -> &str {
        &self.row_text
    }

    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }

    fn reseller(&self) -> Option<&str> {
        self.reseller.as_deref()
    }

    fn company_name(&self) -> Option<&str> {
        self.company_name.as_deref()
    }
}

/// The request for a draft that validation accepted. (`region` is never sent: for US addresses
/// Partner Center rejects it with 27002.)
pub fn request_of(draft: &Draft<'_>) -> CustomerRequest {
    let text = |f: Field| draft.text(f).to_string();
    let optional = |f: Field| Some(draft.text(f).to_string()).filter(|s| !s.is_empty());
    CustomerRequest {
        company_profile: CompanyProfile {
            domain: text(Field::Domain),
            organization_registration_number: optional(Field::OrganizationRegistrationNumber),
        },
        billing_profile: BillingProfile {
            email: text(Field::Email),
            culture: text(Field::Culture),
            language: text(Field::Language),
            company_name: text(Field::CompanyName),
            default_address: Address {
                first_name: text(Field::FirstName),
                last_name: text(Field::LastName),
                address_line1: text(Field::AddressLine1),
                address_line2: optional(Field::AddressLine2),
                address_line3: optional(Field::AddressLine3),
                city: text(Field::City),
                state: optional(Field::State),
                postal_code: text(Field::PostalCode),
                country: text(Field::Country),
                phone_number: optional(Field::PhoneNumber),
            },
        },
        associated_partner_id: optional(Field::AssociatedPartnerId),
    }
}
