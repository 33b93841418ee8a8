//! Sealing the one-time admin credentials Partner Center returns, so the journal never holds a
//! readable password.
//!
//! Credentials are encrypted with age to an X25519 recipient (`age1...`, a public key). Opening
//! them (`export --credentials`) needs the identity (the private key), which need not live on the
//! machine that runs the nightly job. `keygen` writes identities in the format `age-keygen` writes,
//! and identities made by `age-keygen` work too.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::x25519::{Identity, Recipient};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("`{0}` is not an age X25519 recipient (`age1...`)")]
    BadRecipient(String),
    #[error("cannot read identity file `{}`: {message}", path.display())]
    Identity { path: PathBuf, message: String },
    #[error("cannot write `{}`: {source}", path.display())]
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

    /// The age ciphertext of `{"userName": ..., "password": ...}`.
    pub fn seal(
        &self,
        user_name: &str,
        password: &SecretString,
    ) -> Result<Vec<u8>, CredentialError> {
        let plaintext = serde_json::to_vec(&Plain {
            user_name: user_name.to_string(),
            password: password.expose_secret().to_string(),
        })
        .map_err(|e| CredentialError::Seal(e.to_string()))?;
        age::encrypt(&self.recipient, &plaintext).map_err(|e| CredentialError::Seal(e.to_string()))
    }
}

#[derive(Serialize, Deserialize)]
struct Plain {
    #[serde(rename = "userName")]
    user_name: String,
    password: String,
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

    /// Returns (user name, password).
    pub fn open(
        &self,
        domain: &str,
        sealed: &[u8],
    ) -> Result<(String, SecretString), CredentialError> {
        let error = |message: String| CredentialError::Open {
            domain: domain.to_string(),
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
        let mut plaintext = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut plaintext)
            .map_err(|e| error(e.to_string()))?;
        let plain: Plain = serde_json::from_slice(&plaintext).map_err(|e| error(e.to_string()))?;
        Ok((plain.user_name, SecretString::from(plain.password)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_with_the_identity_only() {
        let dir = tempfile::tempdir().unwrap();
        let (contents, recipient) = generate_identity();
        let path = dir.path().join("key.txt");
        write_private_file(&path, contents.expose_secret().as_bytes()).unwrap();
        let sealer = Sealer::new(&recipient).unwrap();
        let sealed = sealer
            .seal("admin", &SecretString::from("S3cret!pass"))
            .unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("S3cret!pass"));

        let (user, password) = Opener::from_file(&path)
            .unwrap()
            .open("x", &sealed)
            .unwrap();
        assert_eq!(user, "admin");
        assert_eq!(password.expose_secret(), "S3cret!pass");

        let (other, _) = generate_identity();
        let other_path = dir.path().join("other.txt");
        write_private_file(&other_path, other.expose_secret().as_bytes()).unwrap();
        assert!(
            Opener::from_file(&other_path)
                .unwrap()
                .open("x", &sealed)
                .is_err()
        );
    }
}
