#!/usr/bin/env python3
"""An independent sigstore peer for skiff's tests (Python `cryptography` + PyNaCl, no skiff
code): it checks what skiff signs, makes cosign-format keys, and plays Fulcio, Rekor and an
OIDC issuer on loopback with a CA and log key made on the fly.

  verify --pub PUB --manifest M --reference R --sig FILE [--rekor-pub P --ca C --issuer I --email E]
      FILE is containers/image's stored form (dir: signature-N). Checks: the MIME type; the
      signature over the exact payload bytes as containers/image makes it (ECDSA P-256 or
      P-384 over SHA-256, RSA PKCS#1 v1.5 SHA-256, Ed25519) with PUB, or with the Fulcio
      certificate's key (P-256), which must chain to C; the payload's type, its manifest
      digest (sha256 of M) and identity (R); with --rekor-pub, the SET signature over the
      canonical JSON and that it records this signature, key/cert and payload hash.
  make-key PREFIX PASSPHRASE LABEL [p256|p384|rsa|ed25519]
      PREFIX.private: PKCS#8 key (P-256 unless told), scrypt (N=32768, r=8, p=1) + secretbox, PEM LABEL;
      PREFIX.pub: its public key.
  public-of PRIVATE PASSPHRASE
      Decrypts a key file and prints its public key PEM.
  answer-prompt PROMPT ANSWER COMMAND...
      Runs COMMAND on a pseudo-terminal, types ANSWER once PROMPT appears, and prints
      everything the terminal showed (so a test sees whether the answer was echoed).
  serve DIR [--expired] [--bad-set] [--issuer-name NAME]
      Runs the servers; writes DIR/info.json (URLs, CA and Rekor key paths, a static token)
      once listening. --expired: certificates valid only until an hour ago; --bad-set: SETs
      signed over other bytes; --issuer-name: the OIDC issuer Fulcio records.
"""

import base64
import hashlib
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import nacl.secret
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

SIGSTORE_MIME = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANN = "dev.cosignproject.cosign/signature"
CERT_ANN = "dev.sigstore.cosign/certificate"
CHAIN_ANN = "dev.sigstore.cosign/chain"
SET_ANN = "dev.sigstore.cosign/bundle"
ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def canonical(obj):
    # RFC 8785 for what Rekor signs: ASCII strings and integers only.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64(data):
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------

def read_stored(path):
    blob = open(path, "rb").read()
    prefix = b"\x00sigstore-json\n"
    if not blob.startswith(prefix):
        fail(f"{path}: not containers/image's stored sigstore form")
    return json.loads(blob[len(prefix):])


def verify(args):
    opts = dict(zip(args[::2], args[1::2]))
    sig = read_stored(opts["--sig"])
    if sig["mimeType"] != SIGSTORE_MIME:
        fail(f"MIME type {sig['mimeType']}")
    payload = base64.b64decode(sig["payload"])
    ann = sig["annotations"]
    signature = base64.b64decode(ann[SIG_ANN])
    if "--ca" in opts:
        cert = x509.load_pem_x509_certificate(ann[CERT_ANN].encode())
        check_chain(cert, ann.get(CHAIN_ANN, ""), opts["--ca"])
        issuer = cert.extensions.get_extension_for_oid(ISSUER_V1).value.value.decode()
        if issuer != opts["--issuer"]:
            fail(f"issuer {issuer}")
        emails = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.RFC822Name)
        if opts["--email"] not in emails:
            fail(f"emails {emails}")
        key = cert.public_key()
        key_or_cert = ann[CERT_ANN].encode()
    else:
        pem = open(opts["--pub"], "rb").read()
        key = serialization.load_pem_public_key(pem)
        key_or_cert = pem
    if "--ca" in opts and not (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"):
        fail("not a P-256 certificate key")
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp384r1"):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, payload)
        else:
            fail(f"a key containers/image does not sign with: {key}")
    except Exception:
        fail("the signature does not verify over the payload bytes")
    p = json.loads(payload)
    if sorted(p) != ["critical", "optional"] or sorted(p["critical"]) != ["identity", "image", "type"]:
        fail(f"payload shape {p}")
    if p["critical"]["type"] != "cosign container image signature":
        fail(f"type {p['critical']['type']}")
    manifest = open(opts["--manifest"], "rb").read()
    want = "sha256:" + hashlib.sha256(manifest).hexdigest()
    if p["critical"]["image"]["docker-manifest-digest"] != want:
        fail(f"digest {p['critical']['image']['docker-manifest-digest']} != {want}")
    if p["critical"]["identity"]["docker-reference"] != opts["--reference"]:
        fail(f"identity {p['critical']['identity']['docker-reference']}")
    if "--rekor-pub" in opts:
        check_set(ann[SET_ANN], opts["--rekor-pub"], signature, key_or_cert, payload)
    print("OK")


def check_chain(cert, chain_pem, ca_path):
    ca = x509.load_pem_x509_certificate(open(ca_path, "rb").read())
    blocks = chain_pem.split("-----END CERTIFICATE-----")[:-1]
    chain = [x509.load_pem_x509_certificate((b + "-----END CERTIFICATE-----\n").encode()) for b in blocks]
    issuers = chain[:-1] if len(chain) > 1 else []
    current = cert
    for issuer in issuers + [ca]:
        issuer.public_key().verify(current.signature, current.tbs_certificate_bytes, ec.ECDSA(current.signature_hash_algorithm))
        current = issuer
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        fail("no code signing usage")


def check_set(set_json, rekor_pub, signature, key_or_cert, payload):
    s = json.loads(set_json)
    rekor = serialization.load_pem_public_key(open(rekor_pub, "rb").read())
    rekor.verify(base64.b64decode(s["SignedEntryTimestamp"]), canonical(s["Payload"]), ec.ECDSA(hashes.SHA256()))
    body = json.loads(base64.b64decode(s["Payload"]["body"]))
    spec = body["spec"]
    if base64.b64decode(spec["signature"]["content"]) != signature:
        fail("SET signature mismatch")
    recorded = base64.b64decode(spec["signature"]["publicKey"]["content"])
    if x509_or_key_der(recorded) != x509_or_key_der(key_or_cert):
        fail("SET key mismatch")
    if spec["data"]["hash"]["value"] != hashlib.sha256(payload).hexdigest():
        fail("SET payload hash mismatch")


def x509_or_key_der(pem):
    lines = [l for l in pem.decode().splitlines() if l and not l.startswith("-----")]
    return base64.b64decode("".join(lines))


# ---------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------

def seal(pkcs8, passphrase):
    salt = os.urandom(32)
    key = hashlib.scrypt(passphrase, salt=salt, n=32768, r=8, p=1, maxmem=64 * 1024 * 1024, dklen=32)
    nonce = os.urandom(24)
    box = nacl.secret.SecretBox(key).encrypt(pkcs8, nonce).ciphertext
    return json.dumps({
        "kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
        "ciphertext": b64(box),
    }).encode()


def pem_block(label, data):
    text = b64(data)
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)).encode()


def make_key(prefix, passphrase, label, kind="p256"):
    key = {
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }[kind]()
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with open(prefix + ".private", "wb") as f:
        f.write(pem_block(label, seal(pkcs8, passphrase.encode())))
    with open(prefix + ".pub", "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def public_of(path, passphrase):
    text = open(path, "rb").read().decode()
    label = text.split("-----BEGIN ", 1)[1].split("-----", 1)[0]
    if label not in ("ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY"):
        fail(f"label {label}")
    sealed = json.loads(x509_or_key_der(text.encode()))
    params = sealed["kdf"]["params"]
    key = hashlib.scrypt(passphrase.encode(), salt=base64.b64decode(sealed["kdf"]["salt"]),
                         n=params["N"], r=params["r"], p=params["p"], maxmem=256 * 1024 * 1024, dklen=32)
    pkcs8 = nacl.secret.SecretBox(key).decrypt(base64.b64decode(sealed["ciphertext"]),
                                               base64.b64decode(sealed["cipher"]["nonce"]))
    private = serialization.load_der_private_key(pkcs8, None)
    sys.stdout.write(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())


# ---------------------------------------------------------------------------------------
# Fulcio, Rekor and an OIDC issuer
# ---------------------------------------------------------------------------------------

def jwt_es256(key, claims):
    header = {"alg": "ES256", "kid": "k1", "typ": "JWT"}
    enc = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=")
    signing_input = enc(header) + b"." + enc(claims)
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return (signing_input + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")).decode()


def jwt_claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class Peer:
    def __init__(self, directory, expired, bad_set, issuer_name, base):
        self.dir, self.expired, self.bad_set, self.base = directory, expired, bad_set, base
        self.issuer = base + "/oidc"
        self.issuer_name = issuer_name or self.issuer
        self.email = "signer@example.com"
        self.oidc_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.mid_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(timezone.utc)
        self.ca = self.ca_cert("skiff test Fulcio root", self.ca_key, self.ca_key, None, now)
        self.mid = self.ca_cert("skiff test Fulcio intermediate", self.mid_key, self.ca_key, self.ca, now)
        self.entries = []
        self.codes = {}
        self.lock = threading.Lock()

    def ca_cert(self, cn, key, signer, issuer, now):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        return (x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(issuer.subject if issuer else name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                .sign(signer, hashes.SHA256()))

    def token(self, client_id, nonce=None):
        claims = {"iss": self.issuer, "aud": client_id, "sub": "user-1", "email": self.email,
                  "email_verified": True, "exp": int(time.time()) + 600, "iat": int(time.time())}
        if nonce:
            claims["nonce"] = nonce
        return jwt_es256(self.oidc_key, claims)

    def issue(self, public_der, token):
        claims = jwt_claims(token)
        now = datetime.now(timezone.utc)
        start, end = (now - timedelta(hours=2), now - timedelta(hours=1)) if self.expired else (now - timedelta(minutes=1), now + timedelta(minutes=10))
        ext_v2 = b"\x0c" + bytes([len(self.issuer_name)]) + self.issuer_name.encode()
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([]))
                .issuer_name(self.mid.subject)
                .public_key(serialization.load_der_public_key(public_der))
                .serial_number(x509.random_serial_number())
                .not_valid_before(start)
                .not_valid_after(end)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(claims["email"])]), critical=True)
                .add_extension(x509.UnrecognizedExtension(ISSUER_V1, self.issuer_name.encode()), critical=False)
                .add_extension(x509.UnrecognizedExtension(ISSUER_V2, ext_v2), critical=False)
                .sign(self.mid_key, hashes.SHA256()))
        pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
        return pem(cert) + pem(self.mid) + pem(self.ca)

    def log(self, proposed):
        with self.lock:
            index = len(self.entries)
            self.entries.append(proposed)
        body = b64(json.dumps(proposed).encode())
        rekor_der = self.rekor_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        entry = {"body": body, "integratedTime": int(time.time()), "logID": hashlib.sha256(rekor_der).hexdigest(), "logIndex": index}
        signed = canonical(entry)
        if self.bad_set:
            signed = canonical(dict(entry, logIndex=index + 1000))
        set_sig = self.rekor_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        entry["verification"] = {"signedEntryTimestamp": b64(set_sig)}
        return {hashlib.sha256(body.encode()).hexdigest(): entry}


def make_handler(peer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, status, body, ctype="application/json", headers=()):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/oidc/.well-known/openid-configuration":
                b = peer.base + "/oidc"
                self.reply(200, {"issuer": peer.issuer, "authorization_endpoint": b + "/authorize",
                                 "token_endpoint": b + "/token", "jwks_uri": b + "/jwks",
                                 "device_authorization_endpoint": b + "/device",
                                 "code_challenge_methods_supported": ["S256"]})
            elif url.path == "/oidc/jwks":
                n = peer.oidc_key.public_key().public_numbers()
                enc = lambda i: base64.urlsafe_b64encode(i.to_bytes(32, "big")).rstrip(b"=").decode()
                self.reply(200, {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "x": enc(n.x), "y": enc(n.y)}]})
            elif url.path == "/oidc/authorize":
                code = b64(os.urandom(12))
                peer.codes[code] = (q["code_challenge"], q["redirect_uri"], q.get("nonce"), q["client_id"])
                target = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q["state"]})
                self.reply(302, b"", "text/plain", [("Location", target)])
            else:
                self.reply(404, {"message": "not found"})

        def do_POST(self):
            url = urllib.parse.urlparse(self.path)
            if url.path == "/oidc/device":
                form = dict(urllib.parse.parse_qsl(self.body().decode()))
                peer.codes["device-1"] = (form["code_challenge"], None, None, form["client_id"])
                self.reply(200, {"device_code": "device-1", "user_code": "ABCD-EFGH",
                                 "verification_uri": peer.base + "/oidc/verify", "interval": 1, "expires_in": 300})
            elif url.path == "/oidc/token":
                form = dict(urllib.parse.parse_qsl(self.body().decode()))
                code = form.get("device_code") or form.get("code")
                challenge, redirect, nonce, client = peer.codes.get(code, (None, None, None, None))
                verifier = form.get("code_verifier", "")
                computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if challenge is None or computed != challenge or (redirect and form.get("redirect_uri") != redirect):
                    self.reply(400, {"error": "invalid_grant"})
                    return
                self.reply(200, {"access_token": "at", "token_type": "Bearer", "id_token": peer.token(client, nonce)})
            elif url.path == "/api/v1/signingCert":
                req = json.loads(self.body())
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                try:
                    parts = token.split(".")
                    sig = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
                    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
                    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
                    peer.oidc_key.public_key().verify(der, (parts[0] + "." + parts[1]).encode(), ec.ECDSA(hashes.SHA256()))
                    claims = jwt_claims(token)
                    public_der = base64.b64decode(req["publicKey"]["content"])
                    serialization.load_der_public_key(public_der).verify(
                        base64.b64decode(req["signedEmailAddress"]), claims["email"].encode(), ec.ECDSA(hashes.SHA256()))
                except Exception as e:
                    self.reply(401, {"code": 401, "message": f"unauthorized: {e}"})
                    return
                self.reply(201, peer.issue(public_der, token), "application/pem-certificate-chain")
            elif url.path == "/api/v1/log/entries":
                proposed = json.loads(self.body())
                if proposed.get("kind") != "hashedrekord" or proposed.get("apiVersion") != "0.0.1":
                    self.reply(400, {"code": 400, "message": "unsupported entry"})
                    return
                self.reply(201, peer.log(proposed))
            else:
                self.reply(404, {"message": "not found"})

    return Handler


def serve(args):
    directory = args[0]
    flags = args[1:]
    issuer_name = flags[flags.index("--issuer-name") + 1] if "--issuer-name" in flags else None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), None)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    peer = Peer(directory, "--expired" in flags, "--bad-set" in flags, issuer_name, base)
    server.RequestHandlerClass = make_handler(peer)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    open(os.path.join(directory, "fulcio-ca.pem"), "wb").write(pem(peer.ca))
    open(os.path.join(directory, "rekor.pub"), "wb").write(peer.rekor_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    info = {"url": base, "issuer": peer.issuer, "email": peer.email, "token": peer.token("sigstore"),
            "ca": os.path.join(directory, "fulcio-ca.pem"), "rekor_pub": os.path.join(directory, "rekor.pub")}
    tmp = os.path.join(directory, "info.json.tmp")
    open(tmp, "w").write(json.dumps(info))
    os.rename(tmp, os.path.join(directory, "info.json"))
    server.serve_forever()


def answer_prompt(prompt, answer, command):
    import pty, select
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    shown, answered = b"", False
    deadline = time.time() + 60
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if fd in ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        if not answered and prompt.encode() in shown:
            os.write(fd, answer.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(shown.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(status))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "verify":
        verify(args)
    elif cmd == "make-key":
        make_key(*args)
    elif cmd == "public-of":
        public_of(*args)
    elif cmd == "answer-prompt":
        answer_prompt(args[0], args[1], args[2:])
    elif cmd == "serve":
        serve(args)
    else:
        fail(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
