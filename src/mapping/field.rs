//! The canonical fields of a customer row (CONTRACTS.md) and the header names people write for them.

use std::fmt;

pub use crate::folding::normalize_header;

macro_rules! fields {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A canonical field. Its `name()` is the contract's snake_case name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $($variant),* }

        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$variant),*];
            pub const COUNT: usize = Field::ALL.len();

            pub fn name(self) -> &'static str {
                match self { $(Field::$variant => $name),* }
            }

            pub fn from_name(name: &str) -> Option<Field> {
                match name { $($name => Some(Field::$variant),)* _ => None }
            }
        }
    };
}

fields! {
    Domain => "domain",
    CompanyName => "company_name",
    Email => "email",
    FirstName => "first_name",
    LastName => "last_name",
    AddressLine1 => "address_line1",
    AddressLine2 => "address_line2",
    AddressLine3 => "address_line3",
    City => "city",
    State => "state",
    PostalCode => "postal_code",
    Country => "country",
    PhoneNumber => "phone_number",
    Culture => "culture",
    Language => "language",
    AssociatedPartnerId => "associated_partner_id",
    OrganizationRegistrationNumber => "organization_registration_number",
    ExternalId => "external_id",
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Field {
    pub fn index(self) -> usize {
        self as usize
    }

    /// Columns every sheet must supply (after the template's aliases, defaults and constants).
    /// `associated_partner_id` is added unless the template declares direct customers.
    pub const REQUIRED: &'static [Field] = &[
        Field::Domain,
        Field::CompanyName,
        Field::Email,
        Field::FirstName,
        Field::LastName,
        Field::AddressLine1,
        Field::City,
        Field::PostalCode,
        Field::Country,
    ];

    /// Header spellings recognised without any template help, already in [`normalize_header`] form.
    pub fn builtin_aliases(self) -> &'static [&'static str] {
        match self {
            Field::Domain => &[
                "domain",
                "domainprefix",
                "domainname",
                "tenantdomain",
                "onmicrosoftdomain",
                "microsoftdomain",
                "defaultdomain",
            ],
            Field::CompanyName => &[
                "companyname",
                "company",
                "customername",
                "customer",
                "organization",
                "organisation",
                "organizationname",
                "organisationname",
                "businessname",
                "legalname",
            ],
            Field::Email => &[
                "email",
                "emailaddress",
                "mail",
                "contactemail",
                "billingemail",
            ],
            Field::FirstName => &["firstname", "givenname", "forename", "contactfirstname"],
            Field::LastName => &["lastname", "surname", "familyname", "contactlastname"],
            Field::AddressLine1 => &[
                "addressline1",
                "address1",
                "address",
                "addressline",
                "street",
                "streetaddress",
                "street1",
            ],
            Field::AddressLine2 => &["addressline2", "address2", "street2"],
            Field::AddressLine3 => &["addressline3", "address3", "street3"],
            Field::City => &["city", "town", "locality"],
            Field::State => &["state", "province", "stateprovince", "stateorprovince"],
            Field::PostalCode => &["postalcode", "zip", "zipcode", "postcode", "postal"],
            Field::Country => &["country", "countrycode", "countryiso"],
            Field::PhoneNumber => &[
                "phonenumber",
                "phone",
                "telephone",
                "telephonenumber",
                "tel",
                "phoneno",
                "contactphone",
            ],
            Field::Culture => &["culture", "locale"],
            Field::Language => &["language", "languagecode", "lang"],
            Field::AssociatedPartnerId => &[
                "associatedpartnerid",
                "resellerid",
                "resellertenantid",
                "reseller",
                "resellertenant",
                "indirectresellerid",
                "partnerid",
                "partnertenantid",
            ],
            Field::OrganizationRegistrationNumber => &[
                "organizationregistrationnumber",
                "organisationregistrationnumber",
                "registrationnumber",
                "companyregistrationnumber",
                "regno",
                "inn",
            ],
            Field::ExternalId => &[
                "externalid",
                "reference",
                "customerreference",
                "customernumber",
                "accountnumber",
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field));
        }
    }

    #[test]
    fn builtin_aliases_are_normalized_and_unambiguous() {
        let mut seen = std::collections::HashMap::new();
        for &field in Field::ALL {
            assert_eq!(field.builtin_aliases()[0], normalize_header(field.name()));
            for alias in field.builtin_aliases() {
                assert_eq!(*alias, normalize_header(alias));
                assert_eq!(seen.insert(*alias, field), None, "{alias} twice");
            }
        }
    }

    #[test]
    fn header_normalization_ignores_case_and_punctuation() {
        assert_eq!(normalize_header(" E-mail "), "email");
        assert_eq!(normalize_header("Postal_Code"), "postalcode");
        assert_eq!(normalize_header("Straße/Nr."), "straßenr");
        assert_eq!(normalize_header("Prénom"), normalize_header("prenom"));
        assert_eq!(normalize_header("Län"), "lan");
        assert_eq!(normalize_header("Kod pocztowy"), "kodpocztowy");
        assert_eq!(normalize_header("Domænenavn"), "domænenavn");
        // Hangul and kana are not decomposed: ド stays ド, not ト.
        assert_eq!(normalize_header("ドメイン"), "ドメイン");
        assert_eq!(normalize_header("회사명"), "회사명");
        assert_eq!(normalize_header("州/省"), "州省");
    }
}
