//! `X-Locale`: Partner Center answers some errors in the caller's language. Microsoft does not
//! document which; the emulator translates a few create refusals (an unknown reseller, a country
//! the partner may not sell in, a missing phone, and a taken domain — whose English words are
//! the only way a client can tell it) into Dutch, French, German, Swedish and Traditional
//! Chinese, and answers every other locale in English — enough to see that the locale reaches
//! Partner Center, that its words reach the user unchanged, and that a client does not depend on
//! reading them.

use super::checks::Rejection;

/// Per code, per language: the message with `{}` where the English one quotes its value.
const TRANSLATIONS: &[(u32, &str, &str)] = &[
    (
        800016,
        "nl",
        "`{}` is geen geldige indirecte reseller van deze partner",
    ),
    (
        800016,
        "fr",
        "`{}` n'est pas un revendeur indirect valide de ce partenaire",
    ),
    (
        800016,
        "de",
        "`{}` ist kein gültiger indirekter Reseller dieses Partners",
    ),
    (
        800016,
        "sv",
        "`{}` är inte en giltig indirekt återförsäljare för denna partner",
    ),
    (800016, "zh-TW", "`{}` 不是此合作夥伴的有效間接轉售商"),
    (20000, "nl", "De partner mag niet verkopen in `{}`"),
    (
        20000,
        "fr",
        "Le partenaire n'est pas autorisé à vendre en `{}`",
    ),
    (20000, "de", "Der Partner darf nicht in `{}` verkaufen"),
    (20000, "sv", "Partnern får inte sälja i `{}`"),
    (20000, "zh-TW", "合作夥伴未獲授權在 `{}` 銷售"),
    (600051, "nl", "Een telefoonnummer is verplicht voor `{}`"),
    (
        600051,
        "fr",
        "Un numéro de téléphone est obligatoire pour `{}`",
    ),
    (600051, "de", "Für `{}` ist eine Telefonnummer erforderlich"),
    (600051, "sv", "Ett telefonnummer krävs för `{}`"),
    (600051, "zh-TW", "`{}` 需要電話號碼"),
];

/// A taken domain (400 / 3000, `hostname: {domain} is not valid` in English), per language.
const DOMAIN_TAKEN: &[(&str, &str)] = &[
    ("nl", "De domeinnaam {} is niet beschikbaar"),
    ("fr", "Le nom de domaine {} n'est pas disponible"),
    ("de", "Der Domänenname {} ist nicht verfügbar"),
    ("sv", "Domännamnet {} är inte tillgängligt"),
    ("zh-TW", "網域名稱 {} 無法使用"),
];

/// An invalid company profile (400 / 3000), per language.
const INVALID_PROFILE: &[(&str, &str)] = &[
    ("nl", "Het bedrijfsprofiel is ongeldig"),
    ("fr", "Le profil de l'entreprise n'est pas valide"),
    ("de", "Das Unternehmensprofil ist ungültig"),
    ("sv", "Företagsprofilen är ogiltig"),
    ("zh-TW", "公司設定檔無效"),
];

/// The rejection in the caller's language, when the emulator knows it; else as it is.
pub fn localize(rejection: Rejection, locale: Option<&str>) -> Rejection {
    let Some(locale) = locale else {
        return rejection;
    };
    let language = locale.split(['-', '_']).next().unwrap_or(locale);
    let matches = |tag: &str| {
        tag.eq_ignore_ascii_case(locale)
            || (!tag.contains('-') && tag.eq_ignore_ascii_case(language))
    };
    if rejection.description == "The company profile is not valid"
        && let Some((_, message)) = INVALID_PROFILE.iter().find(|(tag, _)| matches(tag))
    {
        return Rejection {
            description: (*message).into(),
            ..rejection
        };
    }
    if rejection.code == 3000
        && let Some(domain) = rejection
            .description
            .strip_prefix("hostname: ")
            .and_then(|rest| rest.strip_suffix(" is not valid"))
        && let Some((_, message)) = DOMAIN_TAKEN.iter().find(|(tag, _)| matches(tag))
    {
        return Rejection {
            description: message.replace("{}", domain),
            ..rejection
        };
    }
    let translated = TRANSLATIONS
        .iter()
        .find(|(code, tag, _)| *code == rejection.code && matches(tag));
    let Some((_, _, message)) = translated else {
        return rejection;
    };
    let value = rejection.description.split('`').nth(1).unwrap_or_default();
    Rejection {
        description: message.replace("{}", value),
        ..rejection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown_reseller() -> Rejection {
        Rejection {
            status: 400,
            code: 800016,
            description: "`abc` is not a valid indirect reseller of this partner".into(),
        }
    }

    #[test]
    fn known_codes_are_translated_and_others_stay_english() {
        let nl = localize(unknown_reseller(), Some("nl-NL"));
        assert_eq!(
            nl.description,
            "`abc` is geen geldige indirecte reseller van deze partner"
        );
        assert_eq!(
            localize(unknown_reseller(), Some("zh-TW")).description,
            "`abc` 不是此合作夥伴的有效間接轉售商"
        );
        assert_eq!(
            localize(unknown_reseller(), Some("ja-JP")).description,
            unknown_reseller().description
        );
        assert_eq!(
            localize(unknown_reseller(), None).description,
            unknown_reseller().description
        );
    }
}
