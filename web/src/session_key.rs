//! The server's session signing key: `ARENA_SESSION_KEY` (64 hex) or `session.key` in the data
//! dir, created on first use. Its own module so that the context holding it does not depend on
//! the session extractors (which need the context).

use rand::RngCore;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The server's signing key.
#[derive(Clone)]
pub struct SessionKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// `ARENA_SESSION_KEY` (servers behind one load balancer share it), else the data dir's
    /// `session.key`, created with mode 0600 when missing.
    pub fn load(data_dir: &Path) -> std::io::Result<SessionKey> {
        if let Ok(hex_key) = std::env::var("ARENA_SESSION_KEY")
            && let Some(key) = parse_key(&hex_key)
        {
            return Ok(SessionKey(key));
        }
        let path = data_dir.join("session.key");
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Some(key) = parse_key(&text)
        {
            return Ok(SessionKey(key));
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        write_private(&path, &hex::encode(key))?;
        // Another process may have won the race: its key is the one on disk.
        let text = std::fs::read_to_string(&path)?;
        Ok(SessionKey(parse_key(&text).unwrap_or(key)))
    }

    /// HMAC-SHA256 (RFC 2104) of `msg`.
    pub fn mac(&self, msg: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, msg)
    }
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => f.write_all(text.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

pub fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}
