//! Where Partner Center is and who we are there: the cloud, the URLs, the partner tenant, the app
//! registration, the sign-in and where it is kept — resolved from flags, the environment and the
//! configuration ([`super::config`]) for every command that calls Partner Center or its authority.
//!
//! Every problem is collected, not just the first, each naming where its value came from — what
//! `doctor` shows and what a run refuses to start with.

use std::path::PathBuf;

use clap::Args;
use secrecy::SecretString;

use super::config::{ConfigFile, Source, Sourced, env, layered};
use crate::auth::cache::{CacheKey, parse_key};
use crate::error::Error;
use crate::job::Connection;
use crate::partner_center::{Cloud, url_is_allowed};

/// Which configuration, profile and cloud.
#[derive(Debug, Args, Default, Clone)]
pub struct ConnectionArgs {
    /// The profile of `csp-onboard.toml` to use (`[profiles.NAME]`), e.g. one per partner tenant.
    #[arg(long, env = "CSP_ONBOARD_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// The Partner Center cloud: `global` (default), `china` (21Vianet) or `usgov`.
    #[arg(long, value_enum, value_name = "CLOUD")]
    pub cloud: Option<Cloud>,

    /// Settings file (TOML); see the README.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The language Partner Center's own messages come back in (`X-Locale`), such as `nl-NL`.
    /// Default: `locale` in csp-onboard.toml, else the environment's language (`LC_ALL`,
    /// `LC_MESSAGES`, `LANG`), else `en-US`.
    #[arg(long, value_name = "LOCALE")]
    pub locale: Option<String>,
}

/// A problem with the configuration, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    fn new(message: String, hint: impl Into<Option<String>>) -> Problem {
        Problem {
            message,
            hint: hint.into(),
        }
    }
}

/// Every problem at once, as one error (the first one's hint).
pub fn problems_error(problems: Vec<Problem>) -> Error {
    let hint = problems.iter().find_map(|p| p.hint.clone());
    let message = problems
        .into_iter()
        .map(|p| p.message)
        .collect::<Vec<_>>()
        .join("; ");
    Error::usage(message, hint)
}

/// Values given on the command line of `login` (no other command takes them).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub tenant: Option<String>,
    pub client_id: Option<String>,
}

/// What was resolved, and where each value came from (for `doctor`).
pub struct Resolution {
    pub connection: Connection,
    pub sources: Vec<(&'static str, Source)>,
}

/// Resolves the connection; with `file` read by the caller (it holds other settings too).
pub fn resolve(
    args: &ConnectionArgs,
    overrides: &Overrides,
    file: &ConfigFile,
) -> Result<Resolution, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut sources = Vec::new();
    let cloud = match args.cloud {
        Some(cloud) => Sourced {
            value: cloud,
            from: Source::Flag("cloud"),
        },
        None => match env("CSP_ONBOARD_CLOUD").or_else(|| file.get("cloud", |s| &s.cloud)) {
            None => Sourced {
                value: Cloud::Global,
                from: Source::Default,
            },
            Some(named) => match Cloud::parse(&named.value) {
                Some(cloud) => Sourced {
                    value: cloud,
                    from: named.from,
                },
                None => {
                    problems.push(Problem::new(
                        format!("`{}` ({}) is not a cloud", named.value, named.from),
                        "use `global`, `china` or `usgov`".to_string(),
                    ));
                    Sourced {
                        value: Cloud::Global,
                        from: named.from,
                    }
                }
            },
        },
    };
    sources.push(("cloud", cloud.from.clone()));
    let cloud = cloud.value;
    let mut url = |name: &'static str,
                   env_name: &'static str,
                   key: &'static str,
                   pick: fn(&super::config::FileSettings) -> &Option<String>,
                   default: &'static str| {
        let url = layered(None, env_name, file, key, pick).unwrap_or(Sourced {
            value: default.to_string(),
            from: Source::Cloud(cloud.name()),
        });
        if !url_is_allowed(&url.value) {
            problems.push(Problem::new(
                format!("`{}` ({}) is not an https:// URL", url.value, url.from),
                "only https:// is accepted, except loopback addresses (the emulator)".to_string(),
            ));
        }
        sources.push((name, url.from.clone()));
        url.value
    };
    let api_url = url(
        "api_url",
        "CSP_ONBOARD_API_URL",
        "api_url",
        |s| &s.api_url,
        cloud.api_url(),
    );
    let authority_url = url(
        "authority_url",
        "CSP_ONBOARD_AUTHORITY_URL",
        "authority_url",
        |s| &s.authority_url,
        cloud.authority_url(),
    );
    let mut required =
        |name: &'static str,
         what: &str,
         flag: Option<(&'static str, &str)>,
         env_name: &'static str,
         pick: fn(&super::config::FileSettings) -> &Option<String>| {
            match layered(flag, env_name, file, name, pick) {
                Some(found) => {
                    sources.push((name, found.from));
                    found.value
                }
                None => {
                    problems.push(Problem::new(
                        format!("no {what}: set `{env_name}`, or `{name}` in csp-onboard.toml"),
                        "or rehearse with `--emulator`".to_string(),
                    ));
                    String::new()
                }
            }
        };
    let tenant_id = required(
        "tenant_id",
        "partner tenant id",
        overrides.tenant.as_deref().map(|t| ("tenant", t)),
        "CSP_ONBOARD_TENANT_ID",
        |s| &s.tenant_id,
    );
    let client_id = required(
        "client_id",
        "client (application) id",
        overrides.client_id.as_deref().map(|c| ("client-id", c)),
        "CSP_ONBOARD_CLIENT_ID",
        |s| &s.client_id,
    );
    let secret = |env_name: &'static str,
                  key: &'static str,
                  pick: fn(&super::config::FileSettings) -> &Option<String>,
                  sources: &mut Vec<(&'static str, Source)>| {
        let found = layered(None, env_name, file, key, pick)?;
        sources.push((key, found.from));
        Some(SecretString::from(found.value))
    };
    let client_secret = secret(
        "CSP_ONBOARD_CLIENT_SECRET",
        "client_secret",
        |s| &s.client_secret,
        &mut sources,
    );
    let refresh_token = secret(
        "CSP_ONBOARD_REFRESH_TOKEN",
        "refresh_token",
        |s| &s.refresh_token,
        &mut sources,
    );
    let token_cache = env("CSP_ONBOARD_TOKEN_CACHE")
        .map(|found| Sourced {
            value: PathBuf::from(found.value),
            from: found.from,
        })
        .or_else(|| file.get("token_cache", |s| &s.token_cache))
        .unwrap_or(Sourced {
            value: crate::auth::default_cache_path(),
            from: Source::Default,
        });
    sources.push(("token_cache", token_cache.from.clone()));
    let token_key = match token_key() {
        Ok(key) => key,
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    let locale = match args
        .locale
        .clone()
        .map(|value| Sourced {
            value,
            from: Source::Flag("locale"),
        })
        .or_else(|| file.get("locale", |s| &s.locale))
    {
        Some(given) => match locale_tag(&given.value) {
            Some(tag) => {
                sources.push(("locale", given.from));
                tag
            }
            None => {
                problems.push(Problem::new(
                    format!("`{}` ({}) is not a locale", given.value, given.from),
                    "write a language tag such as `nl-NL`, `fr-FR` or `zh-TW`".to_string(),
                ));
                String::new()
            }
        },
        None => {
            let (tag, from) = environment_locale();
            sources.push(("locale", from));
            tag
        }
    };
    let profile = args.profile.clone().unwrap_or_else(|| "default".into());
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Resolution {
        connection: Connection {
            cloud,
            api_url,
            authority_url,
            tenant_id,
            client_id,
            client_secret,
            refresh_token,
            profile,
            token_cache: token_cache.value,
            token_key,
            locale,
        },
        sources,
    })
}

/// A language tag as `X-Locale` takes it: `nl-NL`, `zh-TW`, `fr`; a POSIX locale's form
/// (`nl_NL.UTF-8`, `sv_SE@euro`) is accepted and rewritten. `None` for anything else.
pub fn locale_tag(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text
        .split(['.', '@'])
        .next()
        .unwrap_or(text)
        .replace('_', "-");
    let mut parts = text.split('-');
    let language = parts.next()?;
    if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut tag = language.to_ascii_lowercase();
    for part in parts {
        if !(2..=8).contains(&part.len()) || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        tag.push('-');
        tag.push_str(&match part.len() {
            2 => part.to_ascii_uppercase(),
            4 => {
                let mut script = part.to_ascii_lowercase();
                script[..1].make_ascii_uppercase();
                script
            }
            _ => part.to_string(),
        });
    }
    Some(tag)
}

/// The locale of a rehearsal (`--emulator`, which reads no configuration): `--locale`, else the
/// environment's language.
pub fn locale_or_environment(flag: Option<&str>) -> Result<String, crate::error::Error> {
    match flag {
        Some(given) => locale_tag(given).ok_or_else(|| {
            crate::error::Error::usage(
                format!("`{given}` (--locale) is not a locale"),
                Some("write a language tag such as `nl-NL`, `fr-FR` or `zh-TW`".into()),
            )
        }),
        None => Ok(environment_locale().0),
    }
}

/// The environment's language, as POSIX orders it; `C` and `POSIX` (no language) give `en-US`.
fn environment_locale() -> (String, Source) {
    for name in ["LC_ALL", "LC_MESSAGES", "LANG"] {
        let Ok(value) = std::env::var(name) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        return match locale_tag(&value) {
            Some(tag) if !matches!(value.as_str(), "C" | "POSIX") => (tag, Source::Env(name)),
            _ => ("en-US".into(), Source::Default),
        };
    }
    ("en-US".into(), Source::Default)
}

/// The key the token cache is sealed with: `CSP_ONBOARD_TOKEN_KEY`, or the file
/// `CSP_ONBOARD_TOKEN_KEY_FILE` names (systemd's credentials).
fn token_key() -> Result<Option<CacheKey>, Problem> {
    let bad = |from: &str| {
        Problem::new(
            format!("{from} is not a token key: 32 bytes in base64 are needed"),
            "make one with `head -c 32 /dev/urandom | base64`".to_string(),
        )
    };
    if let Some(found) = env("CSP_ONBOARD_TOKEN_KEY") {
        return parse_key(&found.value)
            .map(Some)
            .ok_or_else(|| bad("`CSP_ONBOARD_TOKEN_KEY`"));
    }
    let Some(file) = env("CSP_ONBOARD_TOKEN_KEY_FILE") else {
        return Ok(None);
    };
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(&file.value).map_err(|e| {
        Problem::new(
            format!(
                "cannot read the token key `{}` (`CSP_ONBOARD_TOKEN_KEY_FILE`): {e}",
                file.value
            ),
            None,
        )
    })?);
    parse_key(&text)
        .map(Some)
        .ok_or_else(|| bad(&format!("`{}` (`CSP_ONBOARD_TOKEN_KEY_FILE`)", file.value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_are_language_tags() {
        assert_eq!(locale_tag("nl-NL").as_deref(), Some("nl-NL"));
        assert_eq!(locale_tag("nl_NL.UTF-8").as_deref(), Some("nl-NL"));
        assert_eq!(locale_tag("sv_SE@euro").as_deref(), Some("sv-SE"));
        assert_eq!(locale_tag("zh-hant-tw").as_deref(), Some("zh-Hant-TW"));
        assert_eq!(locale_tag("fr").as_deref(), Some("fr"));
        assert_eq!(locale_tag("C.UTF-8"), None);
        assert_eq!(locale_tag("Dutch"), None);
        assert_eq!(locale_tag("nl NL"), None);
    }
}
