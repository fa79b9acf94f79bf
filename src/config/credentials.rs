//! The credentials model: what an auth file entry or a credential helper yields for one
//! registry. Shared by the auth-file reader (`authfile`) and the lookup (`auth`).

use std::fmt;

/// Credentials for one registry. `Debug` never prints secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Username and password (HTTP basic, or the token-server request).
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken` in an auth file, or a helper's
    /// `"<token>"` username). Auth-file entries also carry the `auth` username
    /// and password, which c/image still uses for `Basic` challenges.
    IdentityToken {
        username: Option<String>,
        password: Option<String>,
        token: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &format_args!("<redacted>"))
                .finish(),
            Credentials::IdentityToken { username, .. } => f
                .debug_struct("IdentityToken")
                .field("username", username)
                .field("password", &format_args!("<redacted>"))
                .field("token", &format_args!("<redacted>"))
                .finish(),
        }
    }
}
