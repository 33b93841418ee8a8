//! The token cache: the one secret kept readable on the machine, because the nightly job must use
//! it without a person — the refresh token of each sign-in, with when the sign-in happened and
//! when it was last used (a refresh token dies 90 days after its last use).
//!
//! One file (mode 0600, default `~/.local/state/csp-onboard/tokens.json`), one entry per profile,
//! authority, tenant and client, so the sign-ins of several partner tenants live side by side. It
//! is rewritten whole, atomically (a 0600 temp file renamed over it), under an `flock` on a
//! `.lock` file beside it, so two runs rotating tokens at once do not lose each other's.
//!
//! With a key from the environment (`CSP_ONBOARD_TOKEN_KEY`, or `CSP_ONBOARD_TOKEN_KEY_FILE` —
//! what systemd's `LoadCredential=` hands a service) the entries are sealed with
//! XChaCha20-Poly1305; the file then says only that it is sealed. A sealed cache without its key
//! is an error, never read as empty: the sign-in would look gone when it is only locked.
//!
//! Version 1 caches (a flat map of `authority|tenant|client` to a token) are read as the default
//! profile's and rewritten in this format at the next write.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::AuthError;

/// The key a cache is sealed with: 32 bytes, shared (never copied).
pub type CacheKey = Arc<SecretBox<[u8; 32]>>;

/// Reads a cache key: base64 of 32 bytes (`head -c 32 /dev/urandom | base64`).
pub fn parse_key(text: &str) -> Option<CacheKey> {
    let bytes = Zeroizing::new(STANDARD.decode(text.trim()).ok()?);
    let key: [u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(Arc::new(SecretBox::new(Box::new(key))))
}

/// One sign-in, as the cache keeps it.
#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    refresh_token: String,
    /// When `login` made it (unknown for a token that came from the environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signed_in: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_used: Option<DateTime<Utc>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.refresh_token);
    }
}

/// A sign-in read from the cache.
pub struct SignIn {
    pub refresh_token: SecretString,
    pub signed_in: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
}

/// The file as written (version 2): the entries, or the entries sealed.
#[derive(Serialize, Deserialize)]
struct File2 {
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sign_ins: Option<BTreeMap<String, Entry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
}

/// Where one sign-in lives in one cache file.
pub struct TokenCache {
    path: PathBuf,
    key: Option<CacheKey>,
    /// `profile|authority|tenant|client`.
    entry: String,
    /// The version 1 key of the same sign-in (default profile only).
    legacy: Option<String>,
}

impl TokenCache {
    pub fn new(
        path: PathBuf,
        key: Option<CacheKey>,
        profile: &str,
        authority_url: &str,
        tenant_id: &str,
        client_id: &str,
    ) -> TokenCache {
        let sign_in = format!(
            "{}|{tenant_id}|{client_id}",
            authority_url.trim_end_matches('/')
        );
        TokenCache {
            path,
            key,
            entry: format!("{profile}|{sign_in}"),
            legacy: (profile == "default").then_some(sign_in),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the cache is sealed with a key.
    pub fn sealed(&self) -> bool {
        self.key.is_some()
    }

    /// This sign-in, if the cache holds it.
    pub fn sign_in(&self) -> Result<Option<SignIn>, AuthError> {
        let entries = self.read()?;
        let found = entries
            .get(&self.entry)
            .or_else(|| self.legacy.as_ref().and_then(|l| entries.get(l)));
        Ok(found.map(|e| SignIn {
            refresh_token: SecretString::from(e.refresh_token.clone()),
            signed_in: e.signed_in,
            last_used: e.last_used,
        }))
    }

    /// Keeps a refresh token for this sign-in, used now; `fresh` when it comes from a new sign-in.
    pub fn store(&self, refresh_token: &SecretString, fresh: bool) -> Result<(), AuthError> {
        let now = Utc::now();
        self.update(|entries| {
            let before = entries
                .remove(&self.entry)
                .or_else(|| self.legacy.as_ref().and_then(|l| entries.remove(l)));
            let signed_in = if fresh {
                Some(now)
            } else {
                before.as_ref().and_then(|e| e.signed_in)
            };
            entries.insert(
                self.entry.clone(),
                Entry {
                    refresh_token: refresh_token.expose_secret().to_string(),
                    signed_in,
                    last_used: Some(now),
                },
            );
        })
    }

    /// Forgets this sign-in; says whether there was one.
    pub fn forget(&self) -> Result<bool, AuthError> {
        let mut found = false;
        self.update(|entries| {
            found |= entries.remove(&self.entry).is_some();
            if let Some(legacy) = &self.legacy {
                found |= entries.remove(legacy).is_some();
            }
        })?;
        Ok(found)
    }

    fn error(&self, message: String) -> AuthError {
        AuthError::Cache {
            path: self.path.clone(),
            message,
        }
    }

    fn read(&self) -> Result<BTreeMap<String, Entry>, AuthError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.error(e.to_string())),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(BTreeMap::new());
        }
        if let Ok(file) = serde_json::from_slice::<File2>(&bytes)
            && file.version == 2
        {
            return match (file.sign_ins, file.sealed) {
                (_, Some(sealed)) => self.open(&sealed),
                (Some(entries), None) => Ok(entries),
                (None, None) => Ok(BTreeMap::new()),
            };
        }
        // Version 1: `authority|tenant|client` → token.
        let legacy: BTreeMap<String, String> = serde_json::from_slice(&bytes)
            .map_err(|_| self.error("it is not a token cache csp-onboard wrote".into()))?;
        Ok(legacy
            .into_iter()
            .map(|(key, refresh_token)| {
                let entry = Entry {
                    refresh_token,
                    signed_in: None,
                    last_used: None,
                };
                (key, entry)
            })
            .collect())
    }

    fn open(&self, sealed: &str) -> Result<BTreeMap<String, Entry>, AuthError> {
        let Some(key) = &self.key else {
            return Err(AuthError::CacheSealed {
                path: self.path.clone(),
            });
        };
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| self.error("its sealed part is damaged".into()))?;
        if bytes.len() < 24 {
            return Err(self.error("its sealed part is damaged".into()));
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new(key.expose_secret().into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(XNonce::from_slice(nonce), ciphertext)
                .map_err(|_| AuthError::CacheKeyWrong {
                    path: self.path.clone(),
                })?,
        );
        serde_json::from_slice(&plain).map_err(|_| self.error("its sealed part is damaged".into()))
    }

    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, Entry>)) -> Result<(), AuthError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.error(e.to_string()))?;
        }
        let mut lock_path = self.path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(PathBuf::from(lock_path))
            .map_err(|e| self.error(e.to_string()))?;
        lock.lock().map_err(|e| self.error(e.to_string()))?;
        let mut entries = self.read()?;
        change(&mut entries);
        let file = match &self.key {
            None => File2 {
                version: 2,
                sign_ins: Some(entries),
                sealed: None,
            },
            Some(key) => {
                let plain = Zeroizing::new(
                    serde_json::to_vec(&entries).map_err(|e| self.error(e.to_string()))?,
                );
                let cipher = XChaCha20Poly1305::new(key.expose_secret().into());
                let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
                let sealed = cipher
                    .encrypt(&nonce, plain.as_slice())
                    .map_err(|_| self.error("cannot seal it".into()))?;
                let mut bytes = nonce.to_vec();
                bytes.extend(sealed);
                File2 {
                    version: 2,
                    sign_ins: None,
                    sealed: Some(STANDARD.encode(bytes)),
                }
            }
        };
        let bytes =
            Zeroizing::new(serde_json::to_vec(&file).map_err(|e| self.error(e.to_string()))?);
        drop(file);
        let temp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let written = (|| {
            let mut out = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            out.write_all(&bytes)?;
            out.sync_all()?;
            std::fs::rename(&temp, &self.path)
        })();
        let _ = lock.unlock();
        written.map_err(|e| self.error(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, key: Option<CacheKey>, profile: &str) -> TokenCache {
        TokenCache::new(
            dir.join("tokens.json"),
            key,
            profile,
            "https://login.example/",
            "tenant",
            "client",
        )
    }

    fn key() -> CacheKey {
        parse_key(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn profiles_keep_their_own_sign_ins_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let nl = cache(dir.path(), None, "nl");
        let se = cache(dir.path(), None, "se");
        nl.store(&SecretString::from("rt-nl"), true).unwrap();
        se.store(&SecretString::from("rt-se"), true).unwrap();
        let read = nl.sign_in().unwrap().unwrap();
        assert_eq!(read.refresh_token.expose_secret(), "rt-nl");
        assert!(read.signed_in.is_some() && read.last_used.is_some());
        assert!(nl.forget().unwrap());
        assert!(nl.sign_in().unwrap().is_none());
        assert_eq!(
            se.sign_in().unwrap().unwrap().refresh_token.expose_secret(),
            "rt-se"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(nl.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_rotated_token_keeps_the_time_of_its_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), None, "default");
        cache.store(&SecretString::from("first"), true).unwrap();
        let signed_in = cache.sign_in().unwrap().unwrap().signed_in;
        cache.store(&SecretString::from("rotated"), false).unwrap();
        let read = cache.sign_in().unwrap().unwrap();
        assert_eq!(read.refresh_token.expose_secret(), "rotated");
        assert_eq!(read.signed_in, signed_in);
    }

    #[test]
    fn a_sealed_cache_holds_no_token_in_the_clear_and_needs_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let sealed = cache(dir.path(), Some(key()), "default");
        sealed
            .store(&SecretString::from("very-secret-rt"), true)
            .unwrap();
        let text = std::fs::read_to_string(sealed.path()).unwrap();
        assert!(
            !text.contains("very-secret-rt") && text.contains("sealed"),
            "{text}"
        );
        assert_eq!(
            sealed
                .sign_in()
                .unwrap()
                .unwrap()
                .refresh_token
                .expose_secret(),
            "very-secret-rt"
        );
        let keyless = cache(dir.path(), None, "default");
        assert!(matches!(
            keyless.sign_in(),
            Err(AuthError::CacheSealed { .. })
        ));
        let wrong = parse_key(&STANDARD.encode([9u8; 32])).unwrap();
        let wrong = cache(dir.path(), Some(wrong), "default");
        assert!(matches!(
            wrong.sign_in(),
            Err(AuthError::CacheKeyWrong { .. })
        ));
    }

    #[test]
    fn a_version_1_cache_is_the_default_profiles() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tokens.json"),
            r#"{"https://login.example|tenant|client": "old-rt"}"#,
        )
        .unwrap();
        let cache = cache(dir.path(), None, "default");
        assert_eq!(
            cache
                .sign_in()
                .unwrap()
                .unwrap()
                .refresh_token
                .expose_secret(),
            "old-rt"
        );
        cache.store(&SecretString::from("new-rt"), false).unwrap();
        let text = std::fs::read_to_string(cache.path()).unwrap();
        assert!(
            text.contains("\"version\":2") && !text.contains("old-rt"),
            "{text}"
        );
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        assert!(parse_key(&STANDARD.encode([1u8; 32])).is_some());
        assert!(parse_key(&STANDARD.encode([1u8; 16])).is_none());
        assert!(parse_key("not base64!").is_none());
    }
}
