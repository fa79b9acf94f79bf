//! [`CryptError`], the error of reading keys and of encrypting or decrypting a layer.

#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    /// Key material from the command line (ocicrypt's wording).
    #[error("{0}")]
    Key(String),
    /// A layer's options or annotations are malformed.
    #[error("{0}")]
    Options(String),
    #[error("{scheme}: {message}")]
    Wrap {
        scheme: &'static str,
        message: String,
    },
    /// No key given opens the layer.
    #[error("{0}")]
    NoKey(String),
    #[error("{0}")]
    Crypto(String),
}
