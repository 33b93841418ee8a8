//! One function per field (or per cross-field rule) of partner-center-api.md §3. Each adds issues
//! through [`Findings::report`]; none stops at the first problem of the row.

use super::Findings;
use crate::countries::{self, PostalVerdict};
use crate::mapping::{DOMAIN_SUFFIX, Field};
use crate::shown::{is_hidden, shown};

const MAX_DOMAIN_PREFIX: usize = 27;

pub(super) fn check_row(f: &mut Findings<'_, '_>, direct: bool) {
    hidden_characters(f);
    domain(f);
    company_name(f);
    email(f);
    required_with_max(f, Field::FirstName, "the contact's first name", 50);
    required_with_max(f, Field::LastName, "the contact's last name", 50);
    required_with_max(f, Field::AddressLine1, "the street address", 200);
    optional_with_max(f, Field::AddressLine2, 200);
    optional_with_max(f, Field::AddressLine3, 200);
    required_with_max(f, Field::City, "the city", 200);
    let country_ok = country(f);
    let country = f.draft.text(Field::Country);
    postal_code(f, country, country_ok);
    phone(f);
    if country_ok {
        state(f, country);
        culture(f, country);
        registration_and_phone(f, country);
    }
    // With no usable country there is no culture to take the language from: the country's error
    // says what to fix, and "the language is required" would only repeat it.
    if country_ok || !f.text(Field::Language).is_empty() {
        language(f);
    }
    reseller(f, direct);
}

/// A control character (a NUL, an escape sequence, a line break) or an invisible formatting
/// character would reach Partner Center as it is, and stay in the customer's record.
fn hidden_characters(f: &mut Findings<'_, '_>) {
    // One pass over the whole row clears almost every row: no byte that is, or starts, a hidden
    // character. Only the template's own values are then left to look at.
    let row_is_clean = !may_hide(f.draft.row_text().as_bytes());
    for &field in Field::ALL {
        if row_is_clean && f.draft.from_row(field) {
            continue;
        }
        let text = f.text(field);
        let found = if text.is_ascii() {
            text.bytes()
                .find(|b| *b < 0x20 || *b == 0x7f)
                .map(char::from)
        } else {
            text.chars().find(|c| is_hidden(*c))
        };
        let Some(c) = found else { continue };
        let message = match c {
            '\n' | '\r' => "contains a line break: each field is one line".to_string(),
            '\t' => "contains a tab".to_string(),
            c if c.is_control() => format!(
                "contains the control character U+{:04X}; remove it",
                c as u32
            ),
            c => format!(
                "contains the invisible character U+{:04X}; remove it",
                c as u32
            ),
        };
        f.report(field, message);
    }
}

/// Whether `bytes` may hold a character [`is_hidden`] finds: a C0 control or DEL, or the lead byte
/// of a C1 control (`C2`), of the invisible formatting characters (`E2`) or of the BOM (`EF`).
/// Written without an early exit, so that it compiles to a vector loop.
fn may_hide(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |found, &b| {
        found | (b < 0x20) | (b == 0x7f) | (b == 0xc2) | (b == 0xe2) | (b == 0xef)
    })
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn required(f: &mut Findings<'_, '_>, field: Field, what: &str) -> bool {
    if f.text(field).is_empty() {
        f.report(field, format!("{what} is required"));
        return false;
    }
    true
}

fn too_long(f: &mut Findings<'_, '_>, field: Field, max: usize) {
    let text = f.text(field);
    // A text of at most `max` bytes has at most `max` characters: no need to count.
    if text.len() <= max {
        return;
    }
    let length = chars(text);
    if length > max {
        f.report(
            field,
            format!("{length} characters is too long: at most {max} are allowed"),
        );
    }
}

fn required_with_max(f: &mut Findings<'_, '_>, field: Field, what: &str, max: usize) {
    if required(f, field, what) {
        too_long(f, field, max);
    }
}

fn optional_with_max(f: &mut Findings<'_, '_>, field: Field, max: usize) {
    too_long(f, field, max);
}

fn domain(f: &mut Findings<'_, '_>) {
    if !required(
        f,
        Field::Domain,
        "the domain (the customer's `<prefix>.onmicrosoft.com` name)",
    ) {
        return;
    }
    let full = f.draft.text(Field::Domain);
    let Some(prefix) = full.strip_suffix(DOMAIN_SUFFIX) else {
        let example = full.split('.').next().unwrap_or("contoso");
        f.report(
            Field::Domain,
            format!(
                "`{}` is not an onmicrosoft.com domain: give the prefix (e.g. `{}`) or the full `{}{DOMAIN_SUFFIX}` name",
                shown(full),
                shown(example),
                shown(example)
            ),
        );
        return;
    };
    if prefix.is_empty() {
        f.report(
            Field::Domain,
            "the domain prefix is empty: write it before `.onmicrosoft.com`".into(),
        );
        return;
    }
    if let Some(bad) = prefix.chars().find(|c| !c.is_ascii_alphanumeric()) {
        f.report(
            Field::Domain,
            format!(
                "the domain prefix `{}` may hold only letters A-Z and digits 0-9, not {}",
                shown(prefix),
                describe_char(bad)
            ),
        );
    }
    let length = if prefix.len() > MAX_DOMAIN_PREFIX {
        chars(prefix)
    } else {
        0
    };
    if length > MAX_DOMAIN_PREFIX {
        f.report(
            Field::Domain,
            format!(
                "the domain prefix `{}` has {length} characters: at most {MAX_DOMAIN_PREFIX} are allowed",
                shown(prefix)
            ),
        );
    }
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "spaces".into(),
        '-' => "hyphens".into(),
        '_' => "underscores".into(),
        '.' => "dots".into(),
        other => format!("`{}`", shown(other.encode_utf8(&mut [0; 4]))),
    }
}

fn company_name(f: &mut Findings<'_, '_>) {
    if !required(f, Field::CompanyName, "the company name") {
        return;
    }
    if !f
        .text(Field::CompanyName)
        .chars()
        .any(char::is_alphanumeric)
    {
        f.report(
            Field::CompanyName,
            "a company name needs at least one letter or digit".into(),
        );
    }
    too_long(f, Field::CompanyName, 255);
}

fn email(f: &mut Findings<'_, '_>) {
    if !required(f, Field::Email, "the billing email address") {
        return;
    }
    let text = f.draft.text(Field::Email);
    if let Err(why) = plausible_email(text) {
        f.report(Field::Email, format!("not a usable email address: {why}"));
    }
}

/// The common case in one pass over the bytes: ASCII, one `@` with something before it, no
/// delimiter or space, a domain of non-empty labels ending in two or more letters or digits. A
/// `false` is not a refusal: the careful checks below then say what is wrong, if anything.
fn plain_email(bytes: &[u8]) -> bool {
    let mut at = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'@' if at.is_none() => at = Some(i),
            b'@' | b',' | b';' => return false,
            _ if b.is_ascii_whitespace() || !b.is_ascii() => return false,
            _ => {}
        }
    }
    let Some(at) = at.filter(|&at| at > 0) else {
        return false;
    };
    let domain = &bytes[at + 1..];
    let Some(last_dot) = domain.iter().rposition(|&b| b == b'.') else {
        return false;
    };
    let tld = &domain[last_dot + 1..];
    tld.len() >= 2
        && tld.iter().all(u8::is_ascii_alphanumeric)
        && !domain.is_empty()
        && domain[0] != b'.'
        && !domain.windows(2).any(|w| w == b"..")
}

/// `local@domain.tld`, one address, no spaces.
fn plausible_email(text: &str) -> Result<(), &'static str> {
    if plain_email(text.as_bytes()) {
        return Ok(());
    }
    careful_email(text)
}

fn careful_email(text: &str) -> Result<(), &'static str> {
    if text.contains([',', ';']) {
        return Err("give exactly one address");
    }
    let has_space = if text.is_ascii() {
        text.bytes().any(|b| b.is_ascii_whitespace())
    } else {
        text.chars().any(char::is_whitespace)
    };
    if has_space {
        return Err("it contains a space");
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err("it has no `@`");
    };
    if local.is_empty() || local.contains('@') {
        return Err("expected `name@domain.tld`");
    }
    if !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err("the part after `@` must be a domain such as `contoso.com`");
    }
    let tld = domain.rsplit('.').next().unwrap_or_default();
    if tld.chars().count() < 2 || !tld.chars().all(char::is_alphanumeric) {
        return Err("the part after the last dot is not a top-level domain");
    }
    Ok(())
}

/// Returns whether the country is usable for the rules that depend on it.
fn country(f: &mut Findings<'_, '_>) -> bool {
    if !required(
        f,
        Field::Country,
        "the country (a two-letter ISO code such as `US`)",
    ) {
        return false;
    }
    let code = f.draft.text(Field::Country);
    if code == "UK" {
        f.report(
            Field::Country,
            "`UK` is not an ISO 3166-1 code: the United Kingdom is `GB`".into(),
        );
        return false;
    }
    let is_code = code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic());
    if !(is_code && countries::is_supported_country(code))
        && let Some(suggested) = countries::country_for_name(f.draft.raw(Field::Country))
    {
        f.report(
            Field::Country,
            format!(
                "`{}` is a country's name, not its code: Partner Center takes the two-letter ISO 3166-1 code, here `{suggested}`",
                shown(f.draft.raw(Field::Country))
            ),
        );
        return false;
    }
    if !is_code {
        f.report(
            Field::Country,
            "expected a two-letter ISO 3166-1 country code such as `US`, `NL` or `GB`".into(),
        );
        return false;
    }
    if !countries::is_supported_country(code) {
        f.report(
            Field::Country,
            format!("`{code}` is not a country Partner Center supports"),
        );
        return false;
    }
    true
}

fn postal_code(f: &mut Findings<'_, '_>, country: &str, country_ok: bool) {
    if !required(f, Field::PostalCode, "the postal code") {
        return;
    }
    let code = f.draft.text(Field::PostalCode);
    if country == "US" {
        if is_us_zip(code) {
            return;
        }
        let message = if (3..=4).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
            format!(
                "a US ZIP code has 5 digits; did Excel drop a leading zero? `{code}` → `{code:0>5}`? Format the column as text so the zeros stay"
            )
        } else {
            "a US ZIP code is 5 digits (`98052`) or ZIP+4 (`98052-6399`)".to_string()
        };
        f.report(Field::PostalCode, message);
        return;
    }
    if !country_ok {
        return;
    }
    let message = match countries::check_postal_code(country, code) {
        PostalVerdict::Fits => return,
        PostalVerdict::LostLeadingZero { suggestion } => format!(
            "a postal code in `{country}` has {} digits; did Excel drop a leading zero? `{code}` → `{suggestion}`? Format the column as text so the zeros stay",
            suggestion.len()
        ),
        PostalVerdict::Wrong { examples } => {
            let forms = examples
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let forms = if examples.len() == 1 {
                format!("the form {forms}")
            } else {
                format!("one of the forms {forms}")
            };
            format!(
                "`{}` is not a postal code of `{country}`: expected {forms}",
                shown(code)
            )
        }
    };
    f.report(Field::PostalCode, message);
}

/// The most digits an international number has (ITU-T E.164), and the fewest a real one has.
const MAX_PHONE_DIGITS: usize = 15;
const MIN_PHONE_DIGITS: usize = 6;

/// A phone number must look like one: digits with the usual separators, not a number Excel wrote
/// in scientific notation (its last digits are gone) and not words.
fn phone(f: &mut Findings<'_, '_>) {
    let text = f.draft.text(Field::PhoneNumber);
    if text.is_empty() {
        return;
    }
    if let Err(why) = plausible_phone(text) {
        f.report(Field::PhoneNumber, why);
    }
}

fn plausible_phone(text: &str) -> Result<(), String> {
    // Almost every phone is digits and separators: counted in one pass, with no allocation.
    if text
        .bytes()
        .all(|b| b.is_ascii_digit() || b" +-()./".contains(&b))
    {
        return digit_count(text, text);
    }
    if is_scientific(text) {
        return Err(format!(
            "`{}` is a number Excel wrote in scientific notation, and its last digits are lost: format the column as text and type the number again",
            shown(text)
        ));
    }
    // An extension is allowed after the number: `+31 30 123 4567 ext. 12`, `x12`.
    let lower = text.to_ascii_lowercase();
    let number = ["ext.", "ext", "x", "#"]
        .iter()
        .find_map(|marker| lower.find(marker).map(|at| &text[..at]))
        .unwrap_or(text);
    if let Some(bad) = number
        .chars()
        .find(|c| !(c.is_ascii_digit() || " +-().//".contains(*c)))
    {
        return Err(if number.chars().any(|c| c.is_ascii_digit()) {
            format!(
                "`{}` is not a phone number: it may hold digits, spaces and `+ - ( ) . /`, not {}",
                shown(text),
                describe_char(bad)
            )
        } else {
            format!("`{}` is not a phone number: it has no digits", shown(text))
        });
    }
    digit_count(number, text)
}

/// Whether `number` (the phone without an extension) has a plausible count of digits.
fn digit_count(number: &str, text: &str) -> Result<(), String> {
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    if digits < MIN_PHONE_DIGITS {
        return Err(format!(
            "`{}` has {digits} digits: too few for a phone number",
            shown(text)
        ));
    }
    if digits > MAX_PHONE_DIGITS {
        return Err(format!(
            "`{}` has {digits} digits: a phone number has at most {MAX_PHONE_DIGITS}",
            shown(text)
        ));
    }
    Ok(())
}

/// `3.12E+09`, `4.25556E+9`, `1E10`.
fn is_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let mantissa_ok = !mantissa.is_empty()
        && mantissa
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
        && mantissa.bytes().next().is_some_and(|b| b.is_ascii_digit());
    mantissa_ok && !exponent.is_empty() && exponent.bytes().all(|b| b.is_ascii_digit())
}

fn is_us_zip(zip: &str) -> bool {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match zip.split_once('-') {
        None => zip.len() == 5 && digits(zip),
        Some((five, four)) => five.len() == 5 && four.len() == 4 && digits(five) && digits(four),
    }
}

fn state(f: &mut Findings<'_, '_>, country: &str) {
    if !countries::requires_state(country) {
        return;
    }
    if !required(
        f,
        Field::State,
        &format!("the state or province (for `{country}`)"),
    ) {
        return;
    }
    let state = f.draft.text(Field::State);
    let known = match country {
        "US" => countries::is_us_state(state),
        _ => countries::is_subdivision_code(country, state),
    };
    if known {
        return;
    }
    let raw = f.draft.raw(Field::State);
    if let Some(code) = countries::subdivision_for_name(country, raw) {
        let what = if country == "US" {
            "the USPS code"
        } else {
            "its code"
        };
        f.report(
            Field::State,
            format!(
                "`{}` is the name, not the code: Partner Center takes {what}, here `{code}`",
                shown(raw)
            ),
        );
    } else if country == "US" {
        f.report(
            Field::State,
            "expected a two-letter USPS state code such as `WA`, `NY` or `DC`".into(),
        );
    }
}

fn culture(f: &mut Findings<'_, '_>, country: &str) {
    if !required(f, Field::Culture, "the culture (such as `en-US`)") {
        return;
    }
    let culture = f.draft.text(Field::Culture);
    if countries::accepted_culture(country, culture).is_none() {
        let accepted = countries::cultures_for(country)
            .unwrap_or_default()
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        f.report(
            Field::Culture,
            format!(
                "Partner Center does not accept culture `{}` for `{country}`; use one of {accepted}",
                shown(culture)
            ),
        );
    }
}

fn language(f: &mut Findings<'_, '_>) {
    if !required(f, Field::Language, "the language (such as `en`)") {
        return;
    }
    if !countries::is_iso_639_1(f.text(Field::Language)) {
        f.report(
            Field::Language,
            "expected a two-letter ISO 639-1 language code such as `en`, `nl` or `sv`".into(),
        );
    }
}

fn registration_and_phone(f: &mut Findings<'_, '_>, country: &str) {
    if countries::requires_registration_number(country) {
        required(
            f,
            Field::OrganizationRegistrationNumber,
            &format!("an organization registration number (for `{country}`)"),
        );
        required(
            f,
            Field::PhoneNumber,
            &format!("a phone number (for `{country}`, with the registration number)"),
        );
    } else if !f.text(Field::OrganizationRegistrationNumber).is_empty() {
        f.report(
            Field::OrganizationRegistrationNumber,
            format!("must be empty for `{country}`: Partner Center takes a registration number only for the 24 countries that require one (error 600002)"),
        );
    }
}

fn reseller(f: &mut Findings<'_, '_>, direct: bool) {
    let id = f.draft.text(Field::AssociatedPartnerId);
    if id.is_empty() {
        if !direct {
            f.report(
                Field::AssociatedPartnerId,
                "the reseller's tenant id is required; for direct customers set `direct = true` in the template".into(),
            );
        }
        return;
    }
    if !is_guid(id) {
        f.report(
            Field::AssociatedPartnerId,
            "the reseller id must be a tenant id (GUID) such as `484e548c-f5f3-4528-93a9-c16c6373cb59`".into(),
        );
    }
}

/// `8-4-4-4-12` hex digits.
pub fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD_EMAILS: [&str; 3] = [
        "gena@wingtiptoys.com",
        "gena.soto+ms@sub.wingtip.co.uk",
        "g@x.io",
    ];
    const BAD_EMAILS: [&str; 9] = [
        "gena",
        "gena@",
        "@x.com",
        "gena@wingtip",
        "a@b.c",
        "a b@c.com",
        "a@b.com;c@d.com",
        "a@@b.com",
        "a@b..com",
    ];

    #[test]
    fn emails() {
        for good in GOOD_EMAILS {
            assert!(plausible_email(good).is_ok(), "{good}");
        }
        for bad in BAD_EMAILS {
            assert!(plausible_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_email_fast_path_decides_plain_addresses_as_the_careful_checks_do() {
        let more = [
            "a@b.com,c@d.com",
            "a@.b.com",
            "a@b.com.",
            "a@b.c-m",
            "a@b.c0",
            "a\t@b.com",
        ];
        for text in GOOD_EMAILS.iter().chain(&BAD_EMAILS).chain(&more) {
            assert_eq!(
                plain_email(text.as_bytes()),
                careful_email(text).is_ok(),
                "{text}"
            );
        }
        // Beyond ASCII only the careful checks decide.
        assert!(!plain_email("gena@wingtip.nl".replace('n', "ñ").as_bytes()));
        assert!(careful_email("gena@wíngtip.nl").is_ok());
    }

    #[test]
    fn phones() {
        for good in [
            "4255550101",
            "+31 30 123 4567",
            "(425) 555-0101",
            "030-1234567",
            "+46 8 123 456 78 ext. 12",
            "+886 2 2345 6789",
        ] {
            assert_eq!(plausible_phone(good), Ok(()), "{good}");
        }
        let message = |text: &str| plausible_phone(text).unwrap_err();
        assert_eq!(
            message("3.12E+09"),
            "`3.12E+09` is a number Excel wrote in scientific notation, and its last digits are lost: format the column as text and type the number again"
        );
        assert_eq!(
            message("call me"),
            "`call me` is not a phone number: it has no digits"
        );
        assert_eq!(
            message("030 123 4567 (Piet)"),
            "`030 123 4567 (Piet)` is not a phone number: it may hold digits, spaces and `+ - ( ) . /`, not `P`"
        );
        assert_eq!(
            message("12345"),
            "`12345` has 5 digits: too few for a phone number"
        );
        assert_eq!(
            message("+31 30 123 4567 890 12"),
            "`+31 30 123 4567 890 12` has 16 digits: a phone number has at most 15"
        );
    }

    #[test]
    fn zips() {
        assert!(is_us_zip("98052"));
        assert!(is_us_zip("98052-6399"));
        assert!(!is_us_zip("9805"));
        assert!(!is_us_zip("98052-63"));
        assert!(!is_us_zip("9805A"));
    }

    #[test]
    fn guids() {
        assert!(is_guid("484e548c-f5f3-4528-93a9-c16c6373cb59"));
        assert!(!is_guid("484e548c-f5f3-4528-93a9-c16c6373cb5"));
        assert!(!is_guid("484e548cf5f3452893a9c16c6373cb59"));
        assert!(!is_guid("zzze548c-f5f3-4528-93a9-c16c6373cb59"));
    }
}
