//! ocicrypt-compatible layer encryption, as skopeo's `--encryption-key`,
//! `--encrypt-layer` and `--decryption-key` use it (containers/ocicrypt).
//!
//! Each encrypted layer gets a fresh AES-256 key and nonce; its bytes go through
//! `cipher` (AES-256-CTR, then HMAC-SHA256 of the ciphertext) as a stream stage. What a
//! recipient needs (key, nonce, plaintext digest: the *private options*) is encrypted
//! for every recipient by a key wrapper (`keywrap`: JWE, PKCS7, OpenPGP) and stored in
//! the layer's annotations with the *public options* (cipher and HMAC), see `options`.
//! `keys` reads the key material the command line names; `error` has [`CryptError`].

pub mod cipher;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod keyfile;
mod keys;
mod keywrap;
mod options;
#[cfg(test)]
mod test_keys;

pub use cipher::{DecryptError, Decryptor, Encryptor, Expected, Sealed, SealedSlot};
pub use error::CryptError;
pub use keys::{DecryptionKeys, Recipients, parse_decryption_keys, parse_recipients};
pub use options::{ANNOTATION_PREFIX, LayerKey, PUBOPTS, PrivateOptions, PublicOptions, Scheme};

/// What decrypting one layer needs, read from its annotations with the keys given.
#[derive(Debug)]
pub struct LayerSecrets {
    pub private: PrivateOptions,
    pub public: PublicOptions,
}

/// Opens a layer's wrapped key with the first key that fits, and reads its options.
/// `annotation` looks up the layer's annotations.
pub fn open_layer<'a>(
    keys: &DecryptionKeys,
    annotation: impl Fn(&str) -> Option<&'a str>,
) -> Result<LayerSecrets, CryptError> {
    let mut json = keywrap::unwrap(keys, &annotation)?;
    let private = PrivateOptions::from_json(&json);
    options::wipe(&mut json);
    let private = private?;
    let public = PublicOptions::from_annotation(annotation(PUBOPTS))?;
    Ok(LayerSecrets { private, public })
}

/// The annotations of a layer encrypted with `key`: the private options wrapped for every
/// recipient, and the public options (with the HMAC the encryption produced).
pub fn seal_layer(
    recipients: &Recipients,
    key: LayerKey,
    sealed: &Sealed,
) -> Result<Vec<(String, String)>, CryptError> {
    let private = PrivateOptions {
        key,
        digest: sealed.digest.clone(),
    };
    let mut json = private.to_json();
    let wrapped = keywrap::wrap(recipients, &json);
    options::wipe(&mut json);
    let mut annotations = wrapped?;
    let public = PublicOptions {
        hmac: sealed.hmac.to_vec(),
    };
    annotations.push((PUBOPTS.to_string(), public.to_annotation()));
    Ok(annotations)
}
