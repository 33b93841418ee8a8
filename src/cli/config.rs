//! The configuration: `csp-onboard.toml` with its profiles, the environment, and where each value
//! came from.
//!
//! Precedence: flags, then the environment (names in CONTRACTS.md), then the file — the selected
//! profile's `[profiles.NAME]` table, then the file's top level. The file is the first that exists
//! of `--config F`, `./csp-onboard.toml` and `$XDG_CONFIG_HOME/csp-onboard/config.toml`.
//!
//! Every value keeps its [`Source`], so that a message (and `doctor`) can say where a wrong value
//! came from. Secrets (client secret, refresh token) come only from the environment or a file —
//! never from argv, where any user of the machine can read them — and a file that other users may
//! change, or that holds a secret and other users may read, is refused as ssh refuses its own.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The settings a file (or one of its profiles) may hold.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub cloud: Option<String>,
    pub api_url: Option<String>,
    pub authority_url: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub recipient: Option<String>,
    pub token_cache: Option<PathBuf>,
    pub rate_limit: Option<String>,
    pub locale: Option<String>,
    pub concurrency: Option<usize>,
    pub max_attempts: Option<u32>,
    pub request_timeout_s: Option<f64>,
    pub reconcile_patience_s: Option<f64>,
    /// Per reseller (by its tenant id): the `age1...` key its credential bundle is sealed to.
    pub resellers: Option<BTreeMap<String, ResellerSettings>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResellerSettings {
    pub recipient: Option<String>,
}

impl FileSettings {
    fn holds_secret(&self) -> bool {
        self.refresh_token.is_some() || self.client_secret.is_some()
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File {
        path: PathBuf,
        profile: Option<String>,
        key: &'static str,
    },
    /// The cloud's own address.
    Cloud(&'static str),
    /// The last run's (for `resume`).
    LastRun,
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "`--{flag}`"),
            Source::Env(name) => write!(f, "`{name}`"),
            Source::File {
                path,
                profile: Some(profile),
                key,
            } => write!(
                f,
                "`{key}` in `[profiles.{profile}]` of `{}`",
                path.display()
            ),
            Source::File {
                path,
                profile: None,
                key,
            } => write!(f, "`{key}` in `{}`", path.display()),
            Source::Cloud(cloud) => write!(f, "the {cloud} cloud's default"),
            Source::LastRun => f.write_str("the last run"),
            Source::Default => f.write_str("the default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub value: T,
    pub from: Source,
}

/// The configuration file, read, with the profile selected.
#[derive(Debug, Default)]
pub struct ConfigFile {
    pub path: Option<PathBuf>,
    base: FileSettings,
    profiles: BTreeMap<String, FileSettings>,
    /// The selected profile (its name), if any.
    pub profile: Option<String>,
}

impl ConfigFile {
    /// The first config file that exists, in precedence order, read and parsed, with `profile`
    /// selected (which must then exist in it).
    pub fn discover(explicit: Option<&Path>, profile: Option<&str>) -> Result<ConfigFile, Error> {
        let candidates: Vec<PathBuf> = match explicit {
            Some(path) => vec![path.to_path_buf()],
            None => [
                Some(PathBuf::from("csp-onboard.toml")),
                dirs::config_dir().map(|d| d.join("csp-onboard").join("config.toml")),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        let mut file = ConfigFile::default();
        for path in candidates {
            if !path.exists() {
                if explicit.is_some() {
                    return Err(Error::usage(
                        format!("config file `{}` does not exist", path.display()),
                        None,
                    ));
                }
                continue;
            }
            file = ConfigFile::read(&path)?;
            break;
        }
        if let Some(name) = profile {
            if !file.profiles.contains_key(name) {
                let known = file
                    .profiles
                    .keys()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>();
                let message = match &file.path {
                    Some(path) => format!(
                        "no profile `{name}` in `{}`{}",
                        path.display(),
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!("; its profiles are {}", known.join(", "))
                        }
                    ),
                    None => format!("no profile `{name}`: no configuration file was found"),
                };
                return Err(Error::usage(
                    message,
                    Some(format!(
                        "add a `[profiles.{name}]` table to `csp-onboard.toml`"
                    )),
                ));
            }
            file.profile = Some(name.to_string());
        }
        Ok(file)
    }

    fn read(path: &Path) -> Result<ConfigFile, Error> {
        let unreadable = |e: std::io::Error| {
            Error::usage(
                format!("cannot read config file `{}`: {e}", path.display()),
                None,
            )
        };
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let invalid = |message: String| {
            Error::usage(
                format!("config file `{}`: {message}", path.display()),
                Some("see the README for the settings".into()),
            )
        };
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| invalid(e.message().into()))?;
        let mut profiles = BTreeMap::new();
        if let Some(value) = table.remove("profiles") {
            let toml::Value::Table(tables) = value else {
                return Err(invalid(
                    "`profiles` must be a table of `[profiles.NAME]` tables".into(),
                ));
            };
            for (name, settings) in tables {
                let settings: FileSettings =
                    settings.try_into().map_err(|e: toml::de::Error| {
                        invalid(format!("[profiles.{name}]: {}", e.message()))
                    })?;
                profiles.insert(name, settings);
            }
        }
        let base: FileSettings = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.message().into()))?;
        let file = ConfigFile {
            path: Some(path.to_path_buf()),
            base,
            profiles,
            profile: None,
        };
        file.check_permissions(path)?;
        Ok(file)
    }

    /// As ssh does with its own files: a configuration anyone else may change could send the
    /// customers' data (and the sign-in) elsewhere, and one holding a secret that anyone else may
    /// read has given it away.
    fn check_permissions(&self, path: &Path) -> Result<(), Error> {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| {
                Error::usage(
                    format!("cannot read config file `{}`: {e}", path.display()),
                    None,
                )
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o022 != 0 {
            return Err(Error::usage(
                format!(
                    "config file `{}` can be changed by other users (mode {mode:04o}): it is not used",
                    path.display()
                ),
                Some(format!("`chmod go-w {}`", path.display())),
            ));
        }
        let holds_secret =
            self.base.holds_secret() || self.profiles.values().any(FileSettings::holds_secret);
        if holds_secret && mode & 0o044 != 0 {
            return Err(Error::usage(
                format!(
                    "config file `{}` holds a secret and can be read by other users (mode {mode:04o}): it is not used",
                    path.display()
                ),
                Some(format!(
                    "`chmod 600 {}`, and replace the secret: others may have read it",
                    path.display()
                )),
            ));
        }
        Ok(())
    }

    /// The resellers' own recipients (reseller id → `age1...`): the file's, then the profile's.
    pub fn reseller_recipients(&self) -> BTreeMap<String, String> {
        let mut recipients = BTreeMap::new();
        let tables = std::iter::once(&self.base).chain(
            self.profile
                .as_ref()
                .and_then(|name| self.profiles.get(name)),
        );
        for settings in tables {
            for (id, reseller) in settings.resellers.iter().flatten() {
                if let Some(recipient) = &reseller.recipient {
                    recipients.insert(id.to_lowercase(), recipient.clone());
                }
            }
        }
        recipients
    }

    /// A setting from the file: the selected profile's, else the file's own.
    pub fn get<T: Clone>(
        &self,
        key: &'static str,
        pick: impl Fn(&FileSettings) -> &Option<T>,
    ) -> Option<Sourced<T>> {
        let path = self.path.clone()?;
        let profile = self.profile.as_ref().and_then(|name| {
            pick(&self.profiles[name]).clone().map(|value| Sourced {
                value,
                from: Source::File {
                    path: path.clone(),
                    profile: Some(name.clone()),
                    key,
                },
            })
        });
        profile.or_else(|| {
            pick(&self.base).clone().map(|value| Sourced {
                value,
                from: Source::File {
                    path,
                    profile: None,
                    key,
                },
            })
        })
    }
}

/// An environment variable's value, if it is set and not blank.
pub fn env(name: &'static str) -> Option<Sourced<String>> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|value| Sourced {
            value,
            from: Source::Env(name),
        })
}

/// The first of a flag, the environment and the file that has a value.
pub fn layered(
    flag: Option<(&'static str, &str)>,
    env_name: &'static str,
    file: &ConfigFile,
    key: &'static str,
    pick: impl Fn(&FileSettings) -> &Option<String>,
) -> Option<Sourced<String>> {
    flag.map(|(name, value)| Sourced {
        value: value.to_string(),
        from: Source::Flag(name),
    })
    .or_else(|| env(env_name))
    .or_else(|| file.get(key, pick))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("csp-onboard.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn a_profile_wins_over_the_files_own_values_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "tenant_id = \"base\"\nclient_id = \"app\"\n[profiles.nl]\ntenant_id = \"nl-tenant\"\n",
        );
        let file = ConfigFile::discover(Some(&path), Some("nl")).unwrap();
        let tenant = file.get("tenant_id", |s| &s.tenant_id).unwrap();
        assert_eq!(tenant.value, "nl-tenant");
        assert_eq!(
            tenant.from.to_string(),
            format!("`tenant_id` in `[profiles.nl]` of `{}`", path.display())
        );
        let client = file.get("client_id", |s| &s.client_id).unwrap();
        assert_eq!(client.value, "app");
        assert_eq!(
            client.from.to_string(),
            format!("`client_id` in `{}`", path.display())
        );
        let unknown = ConfigFile::discover(Some(&path), Some("se")).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            format!(
                "no profile `se` in `{}`; its profiles are `nl`",
                path.display()
            )
        );
    }

    #[test]
    fn unknown_settings_are_named_even_in_a_profile() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[profiles.nl]\ntennant_id = \"x\"\n");
        let error = ConfigFile::discover(Some(&path), None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[profiles.nl]: unknown field `tennant_id`"),
            "{error}"
        );
    }
}
