//! Pre-flight: Partner Center's own answers about a sheet's valid rows, asked before anything is
//! created (`validate --online`, `run --preflight`). It creates nothing.
//!
//! What is asked (partner-center-api.md §6): the provider's indirect resellers, once; each
//! country's validation rules, once per country; for every row, whether its domain is taken
//! (`HEAD /v1/domains`, and when it is, whether the customer is one of this partner's) and what
//! the address validation says. What an answer means for a row is decided by pure functions
//! ([`reseller_issue`], [`domain_issue`], [`country_issues`], [`address_warning`]), tested as
//! tables; this file's async part only asks.
//!
//! Invariants: every request takes a place among the requests out and a pace slot on the partner
//! tenant's one budget, as a run's do, so a pre-flight beside a nightly run never pushes the two
//! over the limit; an answer that could not be had (after a few tries) is a warning saying what was
//! not checked, never a guess; only rows valid offline are asked about.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use secrecy::SecretString;

use crate::auth::{AuthError, TokenProvider};
use crate::dispatch::{InFlight, Pacer, StopSignal};
use crate::journal::import::new_request_id;
use crate::mapping::Field;
use crate::model::{
    AddressToValidate, AddressVerdict, CountryRules, Customer, CustomerRequest, Reseller,
};
use crate::partner_center::{Lookup, PartnerCenter};
use crate::validate::{Issue, JudgedRow};

/// Tries per question before it counts as unanswered.
const TRIES: u32 = 3;

/// What pre-flight found, by row index into the rows it was given.
#[derive(Debug, Default)]
pub struct Findings {
    /// Problems that would make Partner Center refuse the row.
    pub errors: Vec<(usize, Issue)>,
    pub warnings: Vec<Issue>,
    /// Rows asked about.
    pub checked: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("stopped")]
    Stopped,
}

/// What pre-flight asks with.
pub struct Checker {
    pub pc: Arc<PartnerCenter>,
    pub auth: Arc<TokenProvider>,
    pub pacer: Arc<Pacer>,
    pub in_flight: Arc<InFlight>,
    pub stop: StopSignal,
    /// The most rows asked about at once.
    pub concurrency: usize,
}

/// An issue about `field` of `row`.
fn issue(row: &JudgedRow, field: Field, value: &str, message: String) -> Issue {
    Issue {
        row: Some(row.number),
        column: row.column_of(field).map(str::to_owned),
        field: Some(field.name()),
        value: Some(value.to_string()).filter(|v| !v.is_empty()),
        message,
    }
}

/// The active reseller whose id is nearest `id` — within `within` edits (a digit or two
/// mistyped), when given.
pub fn closest_active<'r>(
    resellers: &'r [Reseller],
    id: &str,
    within: Option<usize>,
) -> Option<&'r Reseller> {
    resellers
        .iter()
        .filter(|r| r.is_active() && !r.id.eq_ignore_ascii_case(id))
        .map(|r| {
            let distance = strsim::levenshtein(&r.id.to_lowercase(), &id.to_lowercase());
            (distance, r)
        })
        .filter(|(distance, _)| within.is_none_or(|most| *distance <= most))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, r)| r)
}

/// How far an unknown id may be from a reseller's to be taken for a typo of it.
const TYPO: usize = 12;

/// An unknown or inactive reseller is an error, with the closest active one as a hint.
pub fn reseller_issue(resellers: &[Reseller], row: &JudgedRow, id: &str) -> Option<Issue> {
    // An inactive reseller's nearest active one is a hint however far; an unknown id's only when
    // it looks like a typo of it.
    let hint = |within| {
        closest_active(resellers, id, within).map_or_else(String::new, |r| {
            format!("; did you mean `{}` (`{}`)?", r.name, r.id)
        })
    };
    let message = match resellers.iter().find(|r| r.id.eq_ignore_ascii_case(id)) {
        Some(r) if r.is_active() => return None,
        Some(r) => format!(
            "the reseller `{}` is {} for this partner: Partner Center refuses customers for it{}",
            r.name,
            if r.state.is_empty() {
                "not active"
            } else {
                r.state.as_str()
            },
            hint(None)
        ),
        None => format!(
            "not an indirect reseller of this partner{}",
            hint(Some(TYPO))
        ),
    };
    Some(issue(row, Field::AssociatedPartnerId, id, message))
}

/// What a taken domain means: someone else's → an error (the create would be refused); one of
/// this partner's customers → a warning (`run` adopts it when the reseller matches, and fails it
/// saying whose otherwise — an error then).
pub fn domain_issue(
    row: &JudgedRow,
    domain: &str,
    ours: Option<&Customer>,
) -> (Issue, bool /* error */) {
    let reseller = row.reseller.as_deref();
    match ours {
        None => (
            issue(
                row,
                Field::Domain,
                domain,
                "the domain is taken, and not by one of this partner's customers: Partner Center refuses it".into(),
            ),
            true,
        ),
        Some(customer) => {
            let same = match (reseller, customer.associated_partner_id.as_deref()) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            };
            if same {
                (
                    issue(
                        row,
                        Field::Domain,
                        domain,
                        "already a customer of this partner with this reseller: `run` adopts it (already_existed)".into(),
                    ),
                    false,
                )
            } else {
                let whose = customer.associated_partner_id.as_deref().map_or_else(
                    || "a direct customer".to_string(),
                    |r| format!("a customer of reseller `{r}`"),
                );
                (
                    issue(
                        row,
                        Field::Domain,
                        domain,
                        format!("already {whose} of this partner, not of this row's reseller"),
                    ),
                    true,
                )
            }
        }
    }
}

/// A country's rules applied to a row's request: each broken rule an error on its field.
pub fn country_issues(
    rules: &CountryRules,
    row: &JudgedRow,
    request: &CustomerRequest,
) -> Vec<Issue> {
    let billing = &request.billing_profile;
    let address = &billing.default_address;
    let country = address.country.as_str();
    let mut found = Vec::new();
    let state = address.state.as_deref().unwrap_or("");
    if rules.is_state_required && state.is_empty() {
        found.push(issue(
            row,
            Field::State,
            state,
            format!("Partner Center requires a state for `{country}`"),
        ));
    } else if !state.is_empty()
        && !rules.supported_states_list.is_empty()
        && !rules
            .supported_states_list
            .iter()
            .any(|s| s.eq_ignore_ascii_case(state))
    {
        found.push(issue(
            row,
            Field::State,
            state,
            format!("not a state Partner Center knows for `{country}`"),
        ));
    }
    if rules.is_city_required && address.city.trim().is_empty() {
        found.push(issue(
            row,
            Field::City,
            "",
            format!("Partner Center requires a city for `{country}`"),
        ));
    }
    let postal = address.postal_code.as_str();
    if rules.is_postal_code_required && postal.trim().is_empty() {
        found.push(issue(
            row,
            Field::PostalCode,
            postal,
            format!("Partner Center requires a postal code for `{country}`"),
        ));
    } else if let Some(pattern) = rules.postal_code_regex.as_deref()
        && !postal.is_empty()
        && regex::Regex::new(pattern).is_ok_and(|p| !p.is_match(postal))
    {
        found.push(issue(
            row,
            Field::PostalCode,
            postal,
            format!("not a postal code of `{country}` by Partner Center's rule (`{pattern}`)"),
        ));
    }
    if let Some(phone) = address.phone_number.as_deref()
        && let Some(pattern) = rules.phone_number_regex.as_deref()
        && regex::Regex::new(pattern).is_ok_and(|p| !p.is_match(phone))
    {
        found.push(issue(
            row,
            Field::PhoneNumber,
            phone,
            format!("not a phone number by Partner Center's rule for `{country}` (`{pattern}`)"),
        ));
    }
    if !rules.supported_cultures_list.is_empty()
        && !rules
            .supported_cultures_list
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&billing.culture))
    {
        found.push(issue(
            row,
            Field::Culture,
            &billing.culture,
            format!(
                "not a culture Partner Center supports for `{country}` ({})",
                rules.supported_cultures_list.join(", ")
            ),
        ));
    }
    if !rules.supported_languages_list.is_empty()
        && !rules
            .supported_languages_list
            .iter()
            .any(|l| l.eq_ignore_ascii_case(&billing.language))
    {
        found.push(issue(
            row,
            Field::Language,
            &billing.language,
            format!(
                "not a language Partner Center supports for `{country}` ({})",
                rules.supported_languages_list.join(", ")
            ),
        ));
    }
    found
}

/// An address Partner Center did not verify as it is: a warning, with its suggestion.
pub fn address_warning(
    verdict: &AddressVerdict,
    row: &JudgedRow,
    sent: &AddressToValidate,
) -> Option<Issue> {
    if verdict.verified() {
        return None;
    }
    let mut message = format!(
        "Partner Center did not verify the address ({})",
        verdict.status
    );
    if let Some(why) = verdict
        .validation_message
        .as_deref()
        .filter(|m| !m.is_empty())
    {
        message.push_str(&format!(": {why}"));
    }
    if let Some(suggested) = verdict.suggested_addresses.first() {
        let shown = |a: &AddressToValidate| {
            [
                Some(a.address_line1.as_str()),
                a.address_line2.as_deref(),
                Some(a.city.as_str()),
                a.state.as_deref(),
                Some(a.postal_code.as_str()),
                Some(a.country.as_str()),
            ]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
        };
        message.push_str(&format!("; suggested: {}", shown(suggested)));
        // Name the field the suggestion changes, when it changes one.
        let field = if suggested.city != sent.city {
            Field::City
        } else if suggested.postal_code != sent.postal_code {
            Field::PostalCode
        } else if suggested.state != sent.state {
            Field::State
        } else {
            Field::AddressLine1
        };
        let value = match field {
            Field::City => sent.city.clone(),
            Field::PostalCode => sent.postal_code.clone(),
            Field::State => sent.state.clone().unwrap_or_default(),
            _ => sent.address_line1.clone(),
        };
        return Some(issue(row, field, &value, message));
    }
    Some(issue(
        row,
        Field::AddressLine1,
        &sent.address_line1,
        message,
    ))
}

impl Findings {
    /// Adds the errors to their rows (which are no longer valid); returns the warnings.
    pub fn apply_to(self, rows: &mut [JudgedRow]) -> Vec<Issue> {
        for (i, error) in self.errors {
            rows[i].add_issue(error);
        }
        self.warnings
    }
}

/// What one row's questions came to.
#[derive(Default)]
struct RowFindings {
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
}

impl Checker {
    /// Asks about every row of `rows` with a request whose domain is not in `skip` (rows a
    /// journal has created already).
    pub async fn check(
        &self,
        rows: &[JudgedRow],
        skip: &HashSet<String>,
    ) -> Result<Findings, PreflightError> {
        let asked: Vec<(usize, &JudgedRow, &CustomerRequest)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| Some((i, row, row.request.as_ref()?)))
            .filter(|(_, row, _)| !row.domain.as_ref().is_some_and(|d| skip.contains(d)))
            .collect();
        let mut findings = Findings {
            checked: asked.len() as u64,
            ..Findings::default()
        };
        if asked.is_empty() {
            return Ok(findings);
        }
        let resellers = if asked
            .iter()
            .any(|(_, _, r)| r.associated_partner_id.is_some())
        {
            match self
                .ask(|id, token| async move { self.pc.indirect_resellers(&id, &token).await })
                .await?
            {
                Ok(list) => Some(list),
                Err(why) => {
                    findings.warnings.push(Issue::sheet_warning(format!(
                        "the indirect resellers could not be listed ({why}): no reseller was checked"
                    )));
                    None
                }
            }
        } else {
            None
        };
        let mut rules: BTreeMap<String, Option<CountryRules>> = BTreeMap::new();
        for (_, _, request) in &asked {
            let country = request
                .billing_profile
                .default_address
                .country
                .to_uppercase();
            if rules.contains_key(&country) {
                continue;
            }
            let answer = self
                .ask(|id, token| {
                    let country = country.clone();
                    async move { self.pc.country_rules(&country, &id, &token).await }
                })
                .await?;
            let fetched = match answer {
                Ok(found) => Some(found),
                Err(why) => {
                    findings.warnings.push(Issue::sheet_warning(format!(
                        "Partner Center's rules for `{country}` could not be read ({why}): its rows were not checked against them"
                    )));
                    None
                }
            };
            rules.insert(country, fetched);
        }
        let per_row = futures::stream::iter(asked.iter().map(|(i, row, request)| {
            let (resellers, rules) = (&resellers, &rules);
            async move {
                let country = request
                    .billing_profile
                    .default_address
                    .country
                    .to_uppercase();
                let mut found = RowFindings::default();
                if let (Some(list), Some(id)) = (resellers, &request.associated_partner_id) {
                    found.errors.extend(reseller_issue(list, row, id));
                }
                if let Some(Some(country_rules)) = rules.get(&country) {
                    found
                        .errors
                        .extend(country_issues(country_rules, row, request));
                }
                self.check_domain(row, request, &mut found).await?;
                self.check_address(row, request, &mut found).await?;
                Ok::<_, PreflightError>((*i, found))
            }
        }))
        .buffer_unordered(self.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut per_row = per_row.into_iter().collect::<Result<Vec<_>, _>>()?;
        per_row.sort_by_key(|(i, _)| *i);
        for (i, found) in per_row {
            findings
                .errors
                .extend(found.errors.into_iter().map(|e| (i, e)));
            findings.warnings.extend(found.warnings);
        }
        Ok(findings)
    }

    async fn check_domain(
        &self,
        row: &JudgedRow,
        request: &CustomerRequest,
        found: &mut RowFindings,
    ) -> Result<(), PreflightError> {
        let domain = request.company_profile.domain.as_str();
        let taken = self
            .ask(|id, token| async move { self.pc.domain_exists(domain, &id, &token).await })
            .await?;
        let ours = match taken {
            Ok(false) => return Ok(()),
            Ok(true) => {
                self.ask(
                    |id, token| async move { self.pc.find_customer(domain, &id, &token).await },
                )
                .await?
            }
            Err(why) => Err(why),
        };
        match ours {
            Ok(ours) => {
                let (issue, error) = domain_issue(row, domain, ours.as_ref());
                if error {
                    found.errors.push(issue);
                } else {
                    found.warnings.push(issue);
                }
            }
            Err(why) => found.warnings.push(issue(
                row,
                Field::Domain,
                domain,
                format!("whether the domain is free could not be checked ({why})"),
            )),
        }
        Ok(())
    }

    async fn check_address(
        &self,
        row: &JudgedRow,
        request: &CustomerRequest,
        found: &mut RowFindings,
    ) -> Result<(), PreflightError> {
        let sent = AddressToValidate::of(&request.billing_profile.default_address);
        let verdict = self
            .ask(|id, token| {
                let sent = &sent;
                async move { self.pc.validate_address(sent, &id, &token).await }
            })
            .await?;
        match verdict {
            Ok(verdict) => found.warnings.extend(address_warning(&verdict, row, &sent)),
            // Known to be flaky: a warning, never a failure.
            Err(why) => found.warnings.push(issue(
                row,
                Field::AddressLine1,
                &sent.address_line1,
                format!("the address could not be validated ({why})"),
            )),
        }
        Ok(())
    }

    /// One question, asked like every request: a place among the requests out, a token, a pace
    /// slot. A 429 waits as asked; a 401 gets a fresh token once; other failures are tried
    /// [`TRIES`] times, then answered with why.
    async fn ask<T, F, Fut>(&self, send: F) -> Result<Result<T, String>, PreflightError>
    where
        F: Fn(String, SecretString) -> Fut,
        Fut: Future<Output = Lookup<T>>,
    {
        let mut failures = 0u32;
        let mut refused = false;
        loop {
            let Some(place) = self.stop.unless_stopped(self.in_flight.acquire()).await else {
                return Err(PreflightError::Stopped);
            };
            let token = self.auth.token().await?;
            if self
                .stop
                .unless_stopped(self.pacer.acquire())
                .await
                .is_none()
            {
                return Err(PreflightError::Stopped);
            }
            let answer = send(new_request_id(), token.clone()).await;
            drop(place);
            match answer {
                Lookup::Found(found) => return Ok(Ok(found)),
                Lookup::Throttled(wait) => {
                    self.pacer.throttled(wait);
                    if !self.stop.sleep(wait).await {
                        return Err(PreflightError::Stopped);
                    }
                }
                Lookup::Unauthorized if refused => {
                    return Err(AuthError::Refused(
                        "Partner Center refused a freshly refreshed token (401)".into(),
                    )
                    .into());
                }
                Lookup::Unauthorized => {
                    refused = true;
                    self.auth.invalidate(&token).await;
                }
                Lookup::Failed(why) => {
                    failures += 1;
                    if failures >= TRIES {
                        return Ok(Err(why));
                    }
                    let wait = Duration::from_millis(200 * u64::from(failures));
                    if !self.stop.sleep(wait).await {
                        return Err(PreflightError::Stopped);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reseller(id: &str, name: &str, state: &str) -> Reseller {
        Reseller {
            id: id.into(),
            name: name.into(),
            state: state.into(),
        }
    }

    fn row() -> JudgedRow {
        JudgedRow {
            number: 4,
            domain: Some("wingtip.onmicrosoft.com".into()),
            request: None,
            issues: Vec::new(),
            row_text: String::new(),
            external_id: None,
            reseller: Some("5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01".into()),
            company_name: None,
            columns: vec![(Field::AssociatedPartnerId, "Reseller ID".into())],
        }
    }

    fn resellers() -> Vec<Reseller> {
        vec![
            reseller(
                "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
                "Adatum Resellers",
                "Active",
            ),
            reseller(
                "6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02",
                "Litware Partners",
                "Active",
            ),
            reseller(
                "8041ad23-6e5f-4c91-8db4-4f5a6b7c8d04",
                "Wide World Resale",
                "Inactive",
            ),
        ]
    }

    #[test]
    fn resellers_unknown_or_inactive_are_errors_with_the_closest_active_one() {
        let list = resellers();
        let table = [
            ("5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01", None),
            ("5D1E7A90-3B2C-4F6E-9A81-1C2D3E4F5A01", None),
            (
                "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a0b",
                Some(
                    "not an indirect reseller of this partner; did you mean `Adatum Resellers` (`5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01`)?",
                ),
            ),
            (
                "8041ad23-6e5f-4c91-8db4-4f5a6b7c8d04",
                Some(
                    "the reseller `Wide World Resale` is Inactive for this partner: Partner Center refuses customers for it; did you mean `Litware Partners` (`6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02`)?",
                ),
            ),
            (
                "00000000-0000-4000-8000-000000000000",
                Some("not an indirect reseller of this partner"),
            ),
        ];
        for (id, message) in table {
            let found = reseller_issue(&list, &row(), id);
            assert_eq!(found.as_ref().map(|i| i.message.as_str()), message, "{id}");
            if let Some(found) = found {
                assert_eq!(found.field, Some("associated_partner_id"));
                assert_eq!(found.column.as_deref(), Some("Reseller ID"));
                assert_eq!(found.value.as_deref(), Some(id));
            }
        }
    }

    fn customer(reseller: Option<&str>) -> Customer {
        serde_json::from_value(serde_json::json!({"id": "c-1", "associatedPartnerId": reseller}))
            .unwrap()
    }

    #[test]
    fn a_taken_domain_is_an_error_unless_it_is_ours_with_this_reseller() {
        let d = "wingtip.onmicrosoft.com";
        let (i, error) = domain_issue(&row(), d, None);
        assert!(error);
        assert!(
            i.message.starts_with("the domain is taken, and not by one"),
            "{}",
            i.message
        );
        let (i, error) = domain_issue(
            &row(),
            d,
            Some(&customer(Some("5D1E7A90-3B2C-4F6E-9A81-1C2D3E4F5A01"))),
        );
        assert!(!error, "{}", i.message);
        let (i, error) = domain_issue(
            &row(),
            d,
            Some(&customer(Some("6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02"))),
        );
        assert!(error);
        assert_eq!(
            i.message,
            "already a customer of reseller `6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02` of this partner, not of this row's reseller"
        );
        let (i, error) = domain_issue(&row(), d, Some(&customer(None)));
        assert!(error);
        assert!(
            i.message.starts_with("already a direct customer"),
            "{}",
            i.message
        );
    }

    fn request(country: &str, state: Option<&str>, postal: &str, culture: &str) -> CustomerRequest {
        serde_json::from_value(serde_json::json!({
            "companyProfile": {"domain": "wingtip.onmicrosoft.com"},
            "billingProfile": {"email": "a@b.c", "culture": culture, "language": "en",
                "companyName": "W", "defaultAddress": {"firstName": "A", "lastName": "B",
                "addressLine1": "1 Way", "city": "Redmond", "state": state,
                "postalCode": postal, "country": country, "phoneNumber": "4255550101"}}
        }))
        .unwrap()
    }

    #[test]
    fn each_country_rule_broken_is_an_error_on_its_field() {
        let rules = CountryRules {
            is_state_required: true,
            supported_states_list: vec!["WA".into(), "OR".into()],
            supported_cultures_list: vec!["en-US".into()],
            supported_languages_list: vec!["en".into()],
            is_postal_code_required: true,
            postal_code_regex: Some(r"^98\d{3}$".into()),
            is_city_required: true,
            phone_number_regex: Some(r"^[0-9]{10}$".into()),
        };
        let fields = |request: &CustomerRequest| {
            country_issues(&rules, &row(), request)
                .iter()
                .map(|i| i.field.unwrap())
                .collect::<Vec<_>>()
        };
        assert!(fields(&request("US", Some("WA"), "98052", "en-US")).is_empty());
        assert_eq!(fields(&request("US", None, "98052", "en-US")), ["state"]);
        assert_eq!(
            fields(&request("US", Some("NY"), "98052", "en-US")),
            ["state"]
        );
        assert_eq!(
            fields(&request("US", Some("WA"), "10001", "en-US")),
            ["postal_code"]
        );
        assert_eq!(
            fields(&request("US", Some("WA"), "98052", "fr-FR")),
            ["culture"]
        );
        assert!(
            fields(&request("US", Some("wa"), "98052", "EN-us")).is_empty(),
            "case does not matter"
        );
        assert!(
            country_issues(
                &CountryRules::default(),
                &row(),
                &request("NL", None, "x", "nl-NL")
            )
            .is_empty()
        );
    }

    #[test]
    fn an_unverified_address_is_a_warning_with_the_suggestion() {
        let sent = AddressToValidate {
            address_line1: "1 Microsoft Way".into(),
            address_line2: None,
            city: "redmond".into(),
            state: Some("WA".into()),
            postal_code: "98052".into(),
            country: "US".into(),
        };
        let verified = AddressVerdict {
            status: "VerifiedShippable".into(),
            ..AddressVerdict::default()
        };
        assert!(address_warning(&verified, &row(), &sent).is_none());
        let suggested = AddressVerdict {
            status: "StreetPartial".into(),
            suggested_addresses: vec![AddressToValidate {
                city: "Redmond".into(),
                ..sent.clone()
            }],
            validation_message: Some("found in another form".into()),
        };
        let warning = address_warning(&suggested, &row(), &sent).unwrap();
        assert_eq!(warning.field, Some("city"));
        assert_eq!(warning.value.as_deref(), Some("redmond"));
        assert_eq!(
            warning.message,
            "Partner Center did not verify the address (StreetPartial): found in another form; suggested: 1 Microsoft Way, Redmond, WA, 98052, US"
        );
    }
}
