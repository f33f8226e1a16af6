//! Request signing for Bybit v5: HMAC-SHA256 over the exact bytes sent, as lowercase hex.
//!
//! - REST: `timestamp + api_key + recv_window + payload`, where the payload is the query string
//!   of a GET as sent (no leading `?`) or the raw JSON body of a POST; it goes in the
//!   `X-BAPI-SIGN` header beside `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP` and `X-BAPI-RECV-WINDOW`.
//! - WebSocket auth (private and trade streams): `"GET/realtime" + expires`, `expires` a future
//!   time in ms.
//!
//! A [`Signer`] holds the API key and the secret's HMAC key; signing allocates nothing, so the
//! hot thread signs its own auth requests. The secret is never kept as text and never printed:
//! [`Signer`]'s `Debug` shows the key's first characters only.

use std::fmt;

use ring::hmac;

/// Why credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The API key is empty.
    #[error("the API key is empty")]
    EmptyKey,
    /// The API key holds a space, a control character, a quote, a backslash or non-ASCII text
    /// (a header value and a JSON string take it verbatim).
    #[error("the API key holds characters other than printable ASCII (or a quote or backslash)")]
    BadKey,
    /// The API key is longer than [`MAX_KEY_LEN`].
    #[error("the API key is longer than {MAX_KEY_LEN} characters")]
    KeyTooLong,
    /// The secret is empty.
    #[error("the API secret is empty")]
    EmptySecret,
}

/// The longest API key accepted (Bybit's are 18 characters).
pub const MAX_KEY_LEN: usize = 64;

/// A signature: 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    /// The hex text.
    pub fn as_str(&self) -> &str {
        // Only the ASCII hex digits `hex` writes.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    fn hex(tag: &[u8]) -> Signature {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0; 64];
        for (pair, byte) in text.chunks_exact_mut(2).zip(tag) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        Signature(text)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.as_str())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key and its secret, ready to sign.
#[derive(Clone)]
pub struct Signer {
    api_key: crate::text::InlineStr<MAX_KEY_LEN>,
    key: hmac::Key,
}

impl Signer {
    /// Credentials from their text; the secret is turned into an HMAC key at once and not
    /// kept.
    pub fn new(api_key: &str, secret: &str) -> Result<Signer, CredentialsError> {
        if api_key.is_empty() {
            return Err(CredentialsError::EmptyKey);
        }
        if !api_key
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && byte != b'"' && byte != b'\\')
        {
            return Err(CredentialsError::BadKey);
        }
        if secret.is_empty() {
            return Err(CredentialsError::EmptySecret);
        }
        let api_key =
            crate::text::InlineStr::new(api_key).map_err(|_| CredentialsError::KeyTooLong)?;
        Ok(Signer {
            api_key,
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        })
    }

    /// The API key (public: it is sent in every request).
    pub fn api_key(&self) -> &str {
        self.api_key.as_str()
    }

    /// The API key as it is shown to people: its first four characters (never more).
    pub fn key_shown(&self) -> String {
        mask_key(self.api_key.as_str())
    }

    /// `text` with every occurrence of the API key masked ([`Signer::key_shown`]): for what the
    /// venue answers, which may echo it (a 10004 echoes the whole string it signed).
    pub fn masked(&self, text: &str) -> String {
        text.replace(self.api_key.as_str(), &self.key_shown())
    }

    /// The `X-BAPI-SIGN` of a REST request sent at `timestamp_ms` with `recv_window_ms`, whose
    /// payload (query string or body, exactly as sent) is `payload`.
    pub fn sign_rest(&self, timestamp_ms: u64, recv_window_ms: u64, payload: &[u8]) -> Signature {
        let mut context = hmac::Context::with_key(&self.key);
        let mut digits = [0; 20];
        context.update(decimal(timestamp_ms, &mut digits));
        context.update(self.api_key.as_str().as_bytes());
        context.update(decimal(recv_window_ms, &mut digits));
        context.update(payload);
        Signature::hex(context.sign().as_ref())
    }

    /// The signature of a WebSocket `auth` request that expires at `expires_ms`.
    pub fn sign_ws_auth(&self, expires_ms: u64) -> Signature {
        let mut context = hmac::Context::with_key(&self.key);
        let mut digits = [0; 20];
        context.update(b"GET/realtime");
        context.update(decimal(expires_ms, &mut digits));
        Signature::hex(context.sign().as_ref())
    }
}

impl fmt::Debug for Signer {
    /// The key's first four characters; never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signer {{ api_key: \"{}\", secret: <redacted> }}",
            self.key_shown()
        )
    }
}

/// An API key as it is shown to people: its first four characters and an ellipsis.
pub fn mask_key(api_key: &str) -> String {
    format!("{}…", api_key.get(..4).unwrap_or_default())
}

/// `value` in decimal, written into the end of `buf`.
pub(crate) fn decimal(mut value: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buf[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_exactly() {
        let mut buf = [0; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(1_700_000_000_000, &mut buf), b"1700000000000");
        assert_eq!(decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }

    #[test]
    fn bad_credentials_are_refused_by_name() {
        assert_eq!(Signer::new("", "s").err(), Some(CredentialsError::EmptyKey));
        assert_eq!(
            Signer::new("key with space", "s").err(),
            Some(CredentialsError::BadKey)
        );
        assert_eq!(
            Signer::new(&"k".repeat(65), "s").err(),
            Some(CredentialsError::KeyTooLong)
        );
        assert_eq!(
            Signer::new("key", "").err(),
            Some(CredentialsError::EmptySecret)
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let signer = Signer::new("ABCDEFGH12345678", "topsecretvalue").unwrap();
        let shown = format!("{signer:?}");
        assert_eq!(shown, "Signer { api_key: \"ABCD…\", secret: <redacted> }");
        assert!(!shown.contains("topsecret"));
    }
}
