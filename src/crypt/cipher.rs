//! ocicrypt's `AES_256_CTR_HMAC_SHA256` layer cipher as in-place stream stages.
//!
//! AES-256 in CTR mode with the 16-byte nonce as the initial counter block (the whole
//! block counts up, big-endian: Go's `cipher.NewCTR`), then HMAC-SHA256 under the same
//! key over the *ciphertext* (encrypt-then-MAC). The ciphertext is as long as the
//! plaintext; the MAC goes into the public options. RustCrypto's AES (AES-NI) and the
//! project's SHA-256 (SHA-NI) do the work; bench/RESULTS.md has their speed next to
//! OpenSSL's on this machine.

use std::io;
use std::sync::{Arc, Mutex};

use aes::cipher::{KeyIvInit, StreamCipher};
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use super::options::{LayerKey, wipe};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::pipeline::ChunkFilter;

/// Why a decrypted layer was refused (at its end, instead of end-of-file).
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    #[error(
        "could not properly decrypt byte stream; exp hmac: '{expected}', actual hmac: '{actual}' (the encrypted layer was changed or truncated)"
    )]
    Hmac { expected: String, actual: String },
    #[error("the decrypted layer has digest {actual}, but its wrapped key options say {expected}")]
    Digest { expected: Digest, actual: Digest },
}

impl From<DecryptError> for io::Error {
    fn from(e: DecryptError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

type Ctr = ctr::Ctr128BE<aes::Aes256>;

fn ctr(key: &LayerKey) -> Ctr {
    Ctr::new(&key.symkey.into(), &key.nonce.into())
}

/// HMAC-SHA256 (RFC 2104) on the project's SHA-256.
struct HmacSha256 {
    inner: sha2::Sha256,
    outer_pad: [u8; 64],
}

impl HmacSha256 {
    fn new(key: &[u8; 32]) -> HmacSha256 {
        let mut inner_pad = [0x36u8; 64];
        let mut outer_pad = [0x5cu8; 64];
        for (i, k) in key.iter().enumerate() {
            inner_pad[i] ^= k;
            outer_pad[i] ^= k;
        }
        let mut inner = sha2::Sha256::new();
        inner.update(inner_pad);
        wipe(&mut inner_pad);
        HmacSha256 { inner, outer_pad }
    }

    fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    fn finish(&mut self) -> [u8; 32] {
        let inner = std::mem::take(&mut self.inner).finalize();
        let mut outer = sha2::Sha256::new();
        outer.update(self.outer_pad);
        outer.update(inner);
        outer.finalize().into()
    }
}

impl Drop for HmacSha256 {
    fn drop(&mut self) {
        wipe(&mut self.outer_pad);
    }
}

/// What an encryption left to record once the stream ended.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub hmac: [u8; 32],
    /// The digest of the plaintext that was encrypted.
    pub digest: Digest,
    pub size: u64,
}

/// Where an `Encryptor` leaves its `Sealed` at end of stream.
pub type SealedSlot = Arc<Mutex<Option<Sealed>>>;

/// The plaintext's digest: known already (the source's verified digest, bytes unchanged)
/// or computed on the way.
enum PlainDigest {
    Known(Digest),
    Hashing(Hasher),
    Done,
}

/// Encrypts a layer in place.
pub struct Encryptor {
    ctr: Ctr,
    mac: HmacSha256,
    plain: PlainDigest,
    size: u64,
    slot: SealedSlot,
}

impl Encryptor {
    /// `plain_digest`: the plaintext's digest when already known (verified upstream).
    pub fn new(key: &LayerKey, plain_digest: Option<Digest>) -> (Encryptor, SealedSlot) {
        let slot = SealedSlot::default();
        let enc = Encryptor {
            ctr: ctr(key),
            mac: HmacSha256::new(&key.symkey),
            plain: match plain_digest {
                Some(d) => PlainDigest::Known(d),
                None => PlainDigest::Hashing(Algorithm::Sha256.hasher()),
            },
            size: 0,
            slot: slot.clone(),
        };
        (enc, slot)
    }
}

impl ChunkFilter for Encryptor {
    fn apply(&mut self, chunk: &mut [u8]) -> io::Result<()> {
        if let PlainDigest::Hashing(h) = &mut self.plain {
            h.update(chunk);
        }
        self.ctr.apply_keystream(chunk);
        self.mac.update(chunk);
        self.size += chunk.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let digest = match std::mem::replace(&mut self.plain, PlainDigest::Done) {
            PlainDigest::Known(d) => d,
            PlainDigest::Hashing(h) => h.finish(),
            PlainDigest::Done => return Ok(()),
        };
        let sealed = Sealed {
            hmac: self.mac.finish(),
            digest,
            size: self.size,
        };
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(sealed);
        Ok(())
    }
}

/// What decrypting one layer checks, from its options.
pub struct Expected {
    pub hmac: Vec<u8>,
    pub digest: Digest,
    /// Also accept `digest` as the digest of the *decompressed* plaintext. containers/image
    /// records the digest of the blob it was given, so a layer it compressed on the way
    /// to encryption carries its uncompressed digest (its diff ID); set when the recorded
    /// digest is the layer's diff ID.
    pub or_uncompressed: bool,
}

/// Decrypts a layer in place; its verdict (HMAC, then plaintext digest) comes at the end.
pub struct Decryptor {
    ctr: Ctr,
    mac: HmacSha256,
    expected: Expected,
    plain: Option<Hasher>,
    unpacked: Option<Unpacked>,
}

impl Decryptor {
    pub fn new(key: &LayerKey, expected: Expected) -> Decryptor {
        Decryptor {
            ctr: ctr(key),
            mac: HmacSha256::new(&key.symkey),
            unpacked: expected.or_uncompressed.then_some(Unpacked::Undecided),
            expected,
            plain: Some(Algorithm::Sha256.hasher()),
        }
    }
}

impl ChunkFilter for Decryptor {
    fn apply(&mut self, chunk: &mut [u8]) -> io::Result<()> {
        self.mac.update(chunk);
        self.ctr.apply_keystream(chunk);
        if let Some(h) = self.plain.as_mut() {
            h.update(chunk);
        }
        if let Some(u) = self.unpacked.as_mut() {
            u.update(chunk);
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let actual = self.mac.finish();
        // Constant-time comparison (false for another length).
        if !bool::from(actual.as_slice().ct_eq(&self.expected.hmac)) {
            return Err(DecryptError::Hmac {
                expected: hex::encode(&self.expected.hmac),
                actual: hex::encode(actual),
            }
            .into());
        }
        let Some(plain) = self.plain.take() else {
            return Ok(());
        };
        let digest = plain.finish();
        if digest == self.expected.digest {
            return Ok(());
        }
        if let Some(u) = self.unpacked.take()
            && u.finish().as_ref() == Some(&self.expected.digest)
        {
            return Ok(());
        }
        Err(DecryptError::Digest {
            expected: self.expected.digest.clone(),
            actual: digest,
        }
        .into())
    }
}

/// The digest of the decompressed plaintext, computed alongside (only for layers whose
/// recorded digest is their diff ID).
enum Unpacked {
    Undecided,
    Gzip(Box<flate2::write::MultiGzDecoder<HashSink>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, HashSink>>),
    /// Not compressed, or not decodable: nothing to add to the plain digest.
    Nothing,
}

struct HashSink(Hasher);

impl io::Write for HashSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.update(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Unpacked {
    fn update(&mut self, chunk: &[u8]) {
        use crate::pipeline::{Compression, detect};
        use std::io::Write;
        if matches!(self, Unpacked::Undecided) {
            let sink = HashSink(Algorithm::Sha256.hasher());
            *self = match detect(chunk) {
                Some(Compression::Gzip) => {
                    Unpacked::Gzip(Box::new(flate2::write::MultiGzDecoder::new(sink)))
                }
                Some(Compression::Zstd) => match zstd::stream::write::Decoder::new(sink) {
                    Ok(d) => Unpacked::Zstd(Box::new(d)),
                    Err(_) => Unpacked::Nothing,
                },
                _ => Unpacked::Nothing,
            };
        }
        let written = match self {
            Unpacked::Gzip(d) => d.write_all(chunk),
            Unpacked::Zstd(d) => d.write_all(chunk),
            _ => Ok(()),
        };
        if written.is_err() {
            *self = Unpacked::Nothing;
        }
    }

    fn finish(self) -> Option<Digest> {
        use std::io::Write;
        let sink = match self {
            Unpacked::Gzip(d) => d.finish().ok()?,
            Unpacked::Zstd(mut d) => {
                d.flush().ok()?;
                d.into_inner()
            }
            Unpacked::Undecided | Unpacked::Nothing => return None,
        };
        Some(sink.0.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LayerKey {
        LayerKey {
            symkey: *b"0123456789abcdef0123456789abcdef",
            nonce: [0xff; 16],
        }
    }

    fn encrypt(data: &[u8], chunk: usize) -> (Vec<u8>, Sealed) {
        let (mut enc, slot) = Encryptor::new(&key(), None);
        let mut out = data.to_vec();
        for c in out.chunks_mut(chunk) {
            enc.apply(c).unwrap();
        }
        enc.finish().unwrap();
        let sealed = slot.lock().unwrap().clone().unwrap();
        (out, sealed)
    }

    fn decrypt(cipher: &[u8], expected: Expected) -> io::Result<Vec<u8>> {
        let mut dec = Decryptor::new(&key(), expected);
        let mut out = cipher.to_vec();
        for c in out.chunks_mut(1000) {
            dec.apply(c)?;
        }
        dec.finish()?;
        Ok(out)
    }

    #[test]
    fn is_gos_ctr_and_the_hmac_of_the_ciphertext_across_chunks() {
        let data: Vec<u8> = (0..100_003u32).map(|i| (i * 7 % 256) as u8).collect();
        let (a, sealed_a) = encrypt(&data, 4096);
        let (b, sealed_b) = encrypt(&data, 777);
        assert_eq!(a, b);
        // The nonce of all 0xff bytes wraps the whole 128-bit counter, as Go's CTR does:
        // the second block's counter is all zeros. One block of AES-256 by hand:
        use aes::cipher::{BlockEncrypt, KeyInit};
        let k = key();
        let aes = aes::Aes256::new(&k.symkey.into());
        for (block, counter) in [(0usize, [0xffu8; 16]), (1, [0u8; 16])] {
            let mut pad = counter.into();
            aes.encrypt_block(&mut pad);
            let at = block * 16;
            let plain: Vec<u8> = a[at..at + 16]
                .iter()
                .zip(pad.iter())
                .map(|(c, p)| c ^ p)
                .collect();
            assert_eq!(plain, data[at..at + 16]);
        }
        // RFC 4231 test case 2 checks the HMAC construction; here: HMAC of the ciphertext.
        let mut mac = HmacSha256::new(&k.symkey);
        mac.update(&a);
        assert_eq!(sealed_a.hmac, mac.finish());
        assert_eq!(sealed_a.hmac, sealed_b.hmac);
        assert_eq!(sealed_a.digest, Digest::sha256_of(&data));
        assert_eq!(sealed_a.size, data.len() as u64);
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1 uses a 20-byte key; HmacSha256 takes 32: test case 1's key padded
        // with zeros is the same key for HMAC (keys shorter than a block are zero-padded).
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        let mut mac = HmacSha256::new(&key);
        mac.update(b"Hi There");
        assert_eq!(
            hex::encode(mac.finish()),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn decryption_checks_the_hmac_and_the_digest() {
        let data = vec![42u8; 50_000];
        let (cipher, sealed) = encrypt(&data, 4096);
        let expected = |hmac: &[u8], digest: &Digest| Expected {
            hmac: hmac.to_vec(),
            digest: digest.clone(),
            or_uncompressed: false,
        };
        let plain = decrypt(&cipher, expected(&sealed.hmac, &sealed.digest)).unwrap();
        assert_eq!(plain, data);
        let mut tampered = cipher.clone();
        tampered[100] ^= 1;
        let err = decrypt(&tampered, expected(&sealed.hmac, &sealed.digest)).unwrap_err();
        assert!(
            err.to_string()
                .contains("could not properly decrypt byte stream"),
            "{err}"
        );
        let err = decrypt(&cipher[..40_000], expected(&sealed.hmac, &sealed.digest)).unwrap_err();
        assert!(err.to_string().contains("exp hmac"), "{err}");
        let other = Digest::sha256_of(b"other");
        let err = decrypt(&cipher, expected(&sealed.hmac, &other)).unwrap_err();
        assert!(err.to_string().contains("wrapped key options say"), "{err}");
        assert!(decrypt(&cipher, expected(&sealed.hmac[..31], &sealed.digest)).is_err());
    }

    #[test]
    fn a_recorded_diff_id_is_checked_on_the_decompressed_plaintext() {
        use std::io::Write;
        let tar = vec![9u8; 70_000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gzipped = gz.finish().unwrap();
        let (cipher, sealed) = encrypt(&gzipped, 4096);
        let diff_id = Digest::sha256_of(&tar);
        let check = |or_uncompressed| {
            decrypt(
                &cipher,
                Expected {
                    hmac: sealed.hmac.to_vec(),
                    digest: diff_id.clone(),
                    or_uncompressed,
                },
            )
        };
        assert_eq!(check(true).unwrap(), gzipped);
        assert!(check(false).is_err());
    }
}
