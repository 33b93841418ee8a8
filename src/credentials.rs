//! Sealing the one-time admin credentials Partner Center returns, so the journal never holds a
//! readable password.
//!
//! Credentials are encrypted with age to an X25519 recipient (`age1...`, a public key). Opening
//! them (`export --credentials`) needs the identity (the private key), which need not live on the
//! machine that runs the nightly job. `keygen` writes identities in the format `age-keygen` writes,
//! and identities made by `age-keygen` work too.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::x25519::{Identity, Recipient};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("`{0}` is not an age X25519 recipient (`age1...`)")]
    BadRecipient(String),
    #[error("cannot read identity file `{}`: {message}", path.display())]
    Identity { path: PathBuf, message: String },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot seal credentials: {0}")]
    Seal(String),
    #[error("cannot open the credentials of `{domain}` with this identity: {message}")]
    Open { domain: String, message: String },
}

/// `plaintext` sealed to `recipient` (an `age1...` public key): an age file.
pub fn seal_to(recipient: &str, plaintext: &[u8]) -> Result<Vec<u8>, CredentialError> {
    let parsed = Recipient::from_str(recipient.trim())
        .map_err(|_| CredentialError::BadRecipient(recipient.trim().to_string()))?;
    age::encrypt(&parsed, plaintext).map_err(|e| CredentialError::Seal(e.to_string()))
}

/// A new customer's credentials on their way to being sealed (never written anywhere as they are).
pub struct Unsealed {
    pub row_id: i64,
    pub user_name: String,
    pub password: SecretString,
}

/// An age file holding the credentials of several customers.
pub struct SealedBatch {
    pub ciphertext: Vec<u8>,
    pub recipient: String,
}

/// Encrypts credentials to one recipient.
#[derive(Clone)]
pub struct Sealer {
    recipient: Recipient,
    text: String,
}

impl Sealer {
    pub fn new(recipient: &str) -> Result<Sealer, CredentialError> {
        let text = recipient.trim().to_string();
        let parsed =
            Recipient::from_str(&text).map_err(|_| CredentialError::BadRecipient(text.clone()))?;
        Ok(Sealer {
            recipient: parsed,
            text,
        })
    }

    pub fn recipient(&self) -> &str {
        &self.text
    }

    /// One age file for many customers: `[{"row": id, "userName": ..., "password": ...}, ...]`.
    /// A file per customer would cost an X25519 key exchange each, which at full speed is more
    /// than everything else the client does for a row. The plaintext is wiped once sealed.
    pub fn seal_batch(&self, credentials: &[Unsealed]) -> Result<SealedBatch, CredentialError> {
        let entries: Vec<BatchEntry<'_>> = credentials
            .iter()
            .map(|c| BatchEntry {
                row: c.row_id,
                user_name: &c.user_name,
                password: c.password.expose_secret(),
            })
            .collect();
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&entries).map_err(|e| CredentialError::Seal(e.to_string()))?,
        );
        let ciphertext = age::encrypt(&self.recipient, &plaintext)
            .map_err(|e| CredentialError::Seal(e.to_string()))?;
        Ok(SealedBatch {
            ciphertext,
            recipient: self.text.clone(),
        })
    }
}

#[derive(Serialize)]
struct BatchEntry<'a> {
    row: i64,
    #[serde(rename = "userName")]
    user_name: &'a str,
    password: &'a str,
}

#[derive(Deserialize)]
struct OpenedEntry {
    row: i64,
    #[serde(rename = "userName")]
    user_name: String,
    password: SecretString,
}

/// Journals made before credentials were sealed in batches hold one age file per customer with
/// this plaintext.
#[derive(Deserialize)]
struct Plain {
    #[serde(rename = "userName")]
    user_name: String,
    password: SecretString,
}

/// Decrypts sealed credentials with the identities of an identity file.
pub struct Opener {
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
}

impl Opener {
    pub fn from_file(path: &Path) -> Result<Opener, CredentialError> {
        let error = |message: String| CredentialError::Identity {
            path: path.to_path_buf(),
            message,
        };
        let file = age::IdentityFile::from_file(path.display().to_string())
            .map_err(|e| error(e.to_string()))?;
        let identities = file.into_identities().map_err(|e| error(e.to_string()))?;
        if identities.is_empty() {
            return Err(error("it holds no identity".into()));
        }
        Ok(Opener { identities })
    }

    /// The credentials of a batch, by row id. `context` names the batch in errors.
    pub fn open_batch(
        &self,
        context: &str,
        sealed: &[u8],
    ) -> Result<HashMap<i64, (String, SecretString)>, CredentialError> {
        let plaintext = self.decrypt(context, sealed)?;
        let entries: Vec<OpenedEntry> =
            serde_json::from_slice(&plaintext).map_err(|e| CredentialError::Open {
                domain: context.to_string(),
                message: e.to_string(),
            })?;
        Ok(entries
            .into_iter()
            .map(|e| (e.row, (e.user_name, e.password)))
            .collect())
    }

    /// One customer's credentials sealed on their own (journals from before batches).
    /// Returns (user name, password).
    pub fn open(
        &self,
        domain: &str,
        sealed: &[u8],
    ) -> Result<(String, SecretString), CredentialError> {
        let plaintext = self.decrypt(domain, sealed)?;
        let plain: Plain =
            serde_json::from_slice(&plaintext).map_err(|e| CredentialError::Open {
                domain: domain.to_string(),
                message: e.to_string(),
            })?;
        Ok((plain.user_name, plain.password))
    }

    fn decrypt(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
        let error = |message: String| CredentialError::Open {
            domain: context.to_string(),
            message,
        };
        let decryptor = age::Decryptor::new_buffered(sealed).map_err(|e| error(e.to_string()))?;
        let mut reader = decryptor
            .decrypt(
                self.identities
                    .iter()
                    .map(|i| i.as_ref() as &dyn age::Identity),
            )
            .map_err(|e| error(e.to_string()))?;
        let mut plaintext = Zeroizing::new(Vec::new());
        std::io::Read::read_to_end(&mut reader, &mut plaintext)
            .map_err(|e| error(e.to_string()))?;
        Ok(plaintext)
    }
}

/// A new identity in `age-keygen`'s format; returns (file contents, recipient).
pub fn generate_identity() -> (SecretString, String) {
    let identity = Identity::generate();
    let recipient = identity.to_public().to_string();
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let contents = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    (SecretString::from(contents), recipient)
}

/// Writes a file only its owner can read (refusing to overwrite one that exists).
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), CredentialError> {
    let error = |source| CredentialError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(error)?;
    file.write_all(contents).map_err(error)?;
    file.sync_all().map_err(error)
}

/// The recipient (public key) of the first identity in an identity file.
pub fn recipient_of(path: &Path) -> Result<String, CredentialError> {
    let error = |message: String| CredentialError::Identity {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .ok_or_else(|| error("no `AGE-SECRET-KEY-` line".into()))?;
    let identity = Identity::from_str(line).map_err(|e| error(e.to_string()))?;
    Ok(identity.to_public().to_string())
}

/// A new identity file `name` in `dir`; returns its path and recipient.
#[cfg(test)]
pub(crate) fn key_file(dir: &Path, name: &str) -> (PathBuf, String) {
    let (contents, recipient) = generate_identity();
    let path = dir.join(name);
    write_private_file(&path, contents.expose_secret().as_bytes()).unwrap();
    (path, recipient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_batch_opens_with_the_identity_only() {
        let dir = tempfile::tempdir().unwrap();
        let (key, recipient) = key_file(dir.path(), "key.txt");
        let staged = vec![
            Unsealed {
                row_id: 7,
                user_name: "admin@one.onmicrosoft.com".into(),
                password: SecretString::from("S3cret!pass-one"),
            },
            Unsealed {
                row_id: 9,
                user_name: "admin@two.onmicrosoft.com".into(),
                password: SecretString::from("S3cret!pass-two"),
            },
        ];
        let sealed = Sealer::new(&recipient)
            .unwrap()
            .seal_batch(&staged)
            .unwrap();
        assert_eq!(sealed.recipient, recipient);
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("S3cret!pass"));

        let opened = Opener::from_file(&key)
            .unwrap()
            .open_batch("batch 1", &sealed.ciphertext)
            .unwrap();
        assert_eq!(opened.len(), 2);
        assert_eq!(opened[&7].0, "admin@one.onmicrosoft.com");
        assert_eq!(opened[&9].1.expose_secret(), "S3cret!pass-two");

        let (other, _) = key_file(dir.path(), "other.txt");
        let refused = Opener::from_file(&other)
            .unwrap()
            .open_batch("batch 1", &sealed.ciphertext);
        assert!(refused.is_err());
    }

    #[test]
    fn credentials_sealed_one_per_file_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let (key, recipient) = key_file(dir.path(), "key.txt");
        let recipient = Recipient::from_str(&recipient).unwrap();
        let sealed = age::encrypt(
            &recipient,
            br#"{"userName":"admin@old.onmicrosoft.com","password":"Old!pass-1"}"#,
        )
        .unwrap();
        let (user, password) = Opener::from_file(&key)
            .unwrap()
            .open("old.example", &sealed)
            .unwrap();
        assert_eq!(user, "admin@old.onmicrosoft.com");
        assert_eq!(password.expose_secret(), "Old!pass-1");
    }
}

/// A new admin password for a reset: 16 characters from a CSPRNG, with upper and lower case, a
/// digit and a symbol (Partner Center wants three of the four kinds). No `=`, `+`, `-` or `@`, and
/// never a symbol first: a password pasted into a spreadsheet must not read as a formula. No
/// look-alikes (`O`/`0`, `l`/`1`/`I`): it may be read aloud over the phone.
pub fn new_admin_password() -> SecretString {
    use rand::Rng;
    use rand::seq::SliceRandom;
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"!#$%&*?";
    const LETTERS: [&[u8]; 3] = [UPPER, LOWER, DIGITS];
    let mut rng = rand::rng();
    let pick =
        |rng: &mut rand::rngs::ThreadRng, class: &[u8]| class[rng.random_range(0..class.len())];
    let mut rest: Vec<u8> = vec![
        pick(&mut rng, LOWER),
        pick(&mut rng, DIGITS),
        pick(&mut rng, SYMBOLS),
    ];
    while rest.len() < 15 {
        let class = LETTERS[rng.random_range(0..LETTERS.len())];
        rest.push(pick(&mut rng, class));
    }
    rest.shuffle(&mut rng);
    let mut password = Zeroizing::new(String::with_capacity(16));
    password.push(pick(&mut rng, UPPER) as char);
    password.extend(rest.iter().map(|&b| b as char));
    rest.fill(0);
    SecretString::from(password.as_str().to_string())
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn new_passwords_are_strong_distinct_and_never_a_formula() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let password = new_admin_password();
            let p = password.expose_secret();
            assert_eq!(p.chars().count(), 16);
            assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_lowercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
            assert!(p.chars().any(|c| "!#$%&*?".contains(c)), "{p}");
            assert!(p.starts_with(|c: char| c.is_ascii_uppercase()), "{p}");
            assert!(
                !p.contains(['=', '+', '-', '@', 'O', '0', 'l', '1', 'I']),
                "{p}"
            );
            assert!(seen.insert(p.to_string()));
        }
    }
}
