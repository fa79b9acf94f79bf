//! Layer encryption (ocicrypt) against Debian's skopeo 1.9.3, both ways: skopeo decrypts
//! what skiff encrypted and skiff decrypts what skopeo encrypted, for JWE (RSA and EC),
//! PKCS7 and OpenPGP, with one and several recipients, all layers and chosen layers, and
//! through a registry. Keys are made by openssl and gpg in each test's temp dir.
//!
//! A decrypted image must be the original again: the same manifest digest, layers whose
//! decompressed digests are the config's diff IDs. A layer that cannot be decrypted (wrong
//! key, changed or truncated ciphertext, a missing annotation) fails the copy with exit 1
//! and leaves the destination as it was.
//!
//! Needs: apt-get install -y skopeo gnupg openssl docker-registry

include!("support/encryption_env.rs");

#[test]
fn jwe_rsa_and_ec_interoperate_with_skopeo_both_ways() {
    let e = Env::new();
    let (rsa, ec) = (e.path("rsa.pem"), e.path("ec.pem"));
    let (rsa_pub, ec_pub) = (
        format!("jwe:{}", e.path("rsa.pub.pem")),
        format!("jwe:{}", e.path("ec.pub.pem")),
    );
    for (tool, other) in [(Skiff, Skopeo), (Skopeo, Skiff)] {
        let name = format!("{tool:?}-rsa");
        e.encrypt(tool, &["--encryption-key", &rsa_pub], &name);
        assert_eq!(
            encrypted_layers(&e.dir.path().join(&name), &["jwe"]),
            [true; 3]
        );
        e.decrypt(other, &["--decryption-key", &rsa], &name, "out");

        let name = format!("{tool:?}-ec");
        e.encrypt(tool, &["--encryption-key", &ec_pub], &name);
        e.decrypt(other, &["--decryption-key", &ec], &name, "out");

        // Two recipients: each key alone opens every layer.
        let name = format!("{tool:?}-both");
        e.encrypt(
            tool,
            &["--encryption-key", &rsa_pub, "--encryption-key", &ec_pub],
            &name,
        );
        for key in [&rsa, &ec] {
            e.decrypt(other, &["--decryption-key", key], &name, "out");
        }
    }
    // skiff decrypts its own output too.
    e.decrypt(Skiff, &["--decryption-key", &rsa], "Skiff-both", "out");
}

#[test]
fn pkcs7_interoperates_with_skopeo_both_ways() {
    let e = Env::new();
    let (a, b) = (
        format!("pkcs7:{}", e.path("p7a.crt")),
        format!("pkcs7:{}", e.path("p7b.crt")),
    );
    let key_and_cert = |x: &str| {
        vec![
            "--decryption-key".to_string(),
            e.path(&format!("p7{x}.key")),
            "--decryption-key".to_string(),
            e.path(&format!("p7{x}.crt")),
        ]
    };
    for (tool, other) in [(Skiff, Skopeo), (Skopeo, Skiff)] {
        let one = format!("{tool:?}-one");
        e.encrypt(tool, &["--encryption-key", &a], &one);
        assert_eq!(
            encrypted_layers(&e.dir.path().join(&one), &["pkcs7"]),
            [true; 3]
        );
        let flags = key_and_cert("a");
        e.decrypt(
            other,
            &flags.iter().map(String::as_str).collect::<Vec<_>>(),
            &one,
            "out",
        );

        let two = format!("{tool:?}-two");
        e.encrypt(
            tool,
            &["--encryption-key", &a, "--encryption-key", &b],
            &two,
        );
        for x in ["a", "b"] {
            let flags = key_and_cert(x);
            e.decrypt(
                other,
                &flags.iter().map(String::as_str).collect::<Vec<_>>(),
                &two,
                "out",
            );
        }
    }
    // skopeo needs the certificate next to the key; skiff finds the recipient without it.
    e.decrypt(
        Skiff,
        &["--decryption-key", &e.path("p7b.key")],
        "Skopeo-two",
        "out",
    );
    let key_only = e.skopeo(&[
        "--decryption-key",
        &e.path("p7b.key"),
        &e.oci("Skiff-two"),
        &e.oci("no"),
    ]);
    key_only.assert_exit1();
}

#[test]
fn pgp_recipients_from_the_keyring_interoperate_with_skopeo_both_ways() {
    let e = Env::new().with_gnupg();
    let (alice, carol) = (e.path("alice.gpg"), e.path("carol.gpg"));
    for (tool, other) in [(Skiff, Skopeo), (Skopeo, Skiff)] {
        let one = format!("{tool:?}-one");
        e.encrypt(tool, &["--encryption-key", "pgp:alice@example.com"], &one);
        assert_eq!(
            encrypted_layers(&e.dir.path().join(&one), &["pgp"]),
            [true; 3]
        );
        e.decrypt(other, &["--decryption-key", &alice], &one, "out");

        // A recipient by name and one by e-mail address.
        let two = format!("{tool:?}-two");
        e.encrypt(
            tool,
            &[
                "--encryption-key",
                "pgp:Alice Example",
                "--encryption-key",
                "pgp:carol@example.com",
            ],
            &two,
        );
        e.decrypt(other, &["--decryption-key", &alice], &two, "out");
    }
    // A passphrase-protected secret key (Debian's skopeo cannot take a passphrase).
    for src in ["Skiff-two", "Skopeo-two"] {
        e.decrypt(
            Skiff,
            &["--decryption-key", &format!("{carol}:carolpw")],
            src,
            "out",
        );
    }
    e.skiff(&[
        "--decryption-key",
        &carol,
        &e.oci("Skopeo-two"),
        &e.oci("no"),
    ])
    .assert_error()
    .assert_stderr_contains("protected by a passphrase");
    e.skiff(&[
        "--decryption-key",
        &format!("{carol}:wrong"),
        &e.oci("Skopeo-two"),
        &e.oci("no"),
    ])
    .assert_error()
    .assert_stderr_contains("wrong passphrase");
    assert!(!e.dir.path().join("no").exists());
    // Unknown recipients fail before anything is copied, in skopeo's words.
    e.skiff(&[
        "--encryption-key",
        "pgp:nobody@example.com",
        &hello(),
        &e.oci("no"),
    ])
    .assert_error()
    .assert_stderr_contains("PGP: No key found for the following recipients: nobody@example.com");
}

#[test]
fn chosen_layers_are_encrypted_and_the_rest_kept() {
    let e = Env::new();
    let key = format!("jwe:{}", e.path("rsa.pub.pem"));
    let rsa = e.path("rsa.pem");
    e.encrypt(
        Skiff,
        &[
            "--encryption-key",
            &key,
            "--encrypt-layer",
            "0",
            "--encrypt-layer",
            "-1",
        ],
        "ends",
    );
    assert_eq!(
        encrypted_layers(&e.dir.path().join("ends"), &["jwe"]),
        [true, false, true]
    );
    e.decrypt(Skopeo, &["--decryption-key", &rsa], "ends", "out");
    e.encrypt(
        Skiff,
        &["--encryption-key", &key, "--encrypt-layer", "1"],
        "middle",
    );
    assert_eq!(
        encrypted_layers(&e.dir.path().join("middle"), &["jwe"]),
        [false, true, false]
    );

    e.encrypt(
        Skopeo,
        &["--encryption-key", &key, "--encrypt-layer", "-1"],
        "last",
    );
    assert_eq!(
        encrypted_layers(&e.dir.path().join("last"), &["jwe"]),
        [false, false, true]
    );
    e.decrypt(Skiff, &["--decryption-key", &rsa], "last", "out");

    // Layers encrypted already are kept as they are (their recipients unchanged).
    let ec = format!("jwe:{}", e.path("ec.pub.pem"));
    e.skiff(&["--encryption-key", &ec, &e.oci("last"), &e.oci("more")])
        .assert_success();
    let last = load_oci(&e.dir.path().join("last"), Some("latest"));
    let more = load_oci(&e.dir.path().join("more"), Some("latest"));
    assert_eq!(more.manifest["layers"][2], last.manifest["layers"][2]);
    assert_eq!(
        encrypted_layers(&e.dir.path().join("more"), &["jwe"]),
        [true; 3]
    );

    e.skiff(&[
        "--encryption-key",
        &key,
        "--encrypt-layer",
        "3",
        &hello(),
        &e.oci("no"),
    ])
    .assert_error()
    .assert_stderr_contains(
        "when choosing layers to encrypt, layer index 3 out of range (3 layers exist)",
    );
    assert!(!e.dir.path().join("no").exists());
}

#[test]
fn encrypted_images_round_trip_through_a_registry() {
    let e = Env::new();
    let reg = Registry::start(RegistryOpts::plain());
    let key = format!("jwe:{}", e.path("ec.pub.pem"));
    let ec = e.path("ec.pem");
    let (ours, theirs) = (
        reg.docker_ref("enc/skiff:v1"),
        reg.docker_ref("enc/skopeo:v1"),
    );
    e.skiff(&[
        "--dest-tls-verify=false",
        "--encryption-key",
        &key,
        &hello(),
        &ours,
    ])
    .assert_success();
    e.skopeo(&[
        "--dest-tls-verify=false",
        "--encryption-key",
        &key,
        &hello(),
        &theirs,
    ])
    .assert_success();
    for (tool, src) in [(Skopeo, &ours), (Skiff, &ours), (Skiff, &theirs)] {
        let out = e.dir.path().join("out");
        e.tool(
            tool,
            &[
                "--src-tls-verify=false",
                "--decryption-key",
                &ec,
                src,
                &e.oci("out"),
            ],
        )
        .assert_success();
        assert_is_hello(&out, &format!("{tool:?} from {src}"));
        fs::remove_dir_all(out).unwrap();
    }
    // Without a key the encrypted image copies unchanged.
    e.skiff(&["--src-tls-verify=false", &ours, &e.oci("same")])
        .assert_success();
    assert_eq!(
        encrypted_layers(&e.dir.path().join("same"), &["jwe"]),
        [true; 3]
    );
    let raw = skopeo_inspect_raw(&format!("oci:{}:latest", e.path("same")));
    let mut c = skopeo();
    c.args([
        "--insecure-policy",
        "inspect",
        "--raw",
        "--tls-verify=false",
        &ours,
    ]);
    assert_eq!(run(&mut c).assert_success().stdout_bytes, raw);
}

#[test]
fn a_layer_that_cannot_be_decrypted_fails_the_copy_and_writes_nothing() {
    let e = Env::new();
    e.encrypt(
        Skiff,
        &[
            "--encryption-key",
            &format!("jwe:{}", e.path("rsa.pub.pem")),
        ],
        "enc",
    );
    let annotation = |key: &'static str| {
        move |_: &mut Vec<u8>, layer: &mut Value| {
            layer["annotations"].as_object_mut().unwrap().remove(key);
        }
    };
    tampered(&e, "enc", "flipped", |blob, _| blob[10] ^= 0x40);
    tampered(&e, "enc", "truncated", |blob, _| {
        blob.truncate(blob.len() - 100)
    });
    tampered(
        &e,
        "enc",
        "no-pubopts",
        annotation("org.opencontainers.image.enc.pubopts"),
    );
    tampered(
        &e,
        "enc",
        "no-keys",
        annotation("org.opencontainers.image.enc.keys.jwe"),
    );
    // The destination holds an image already: it must be left exactly as it was.
    let dest = e.dir.path().join("dest");
    e.skiff(&[&hello(), &format!("oci:{}:kept", p(&dest))])
        .assert_success();
    let before = snapshot(&dest);
    let (rsa, other) = (e.path("rsa.pem"), e.path("other.pem"));
    for (src, key, expected) in [
        (
            "enc",
            &other,
            "no suitable key unwrapper found or none of the private keys could be used for decryption",
        ),
        ("flipped", &rsa, "could not properly decrypt byte stream"),
        ("truncated", &rsa, "could not properly decrypt byte stream"),
        ("no-pubopts", &rsa, "no cipher type provided"),
        ("no-keys", &rsa, "missing private key needed for decryption"),
    ] {
        let layer =
            load_oci(&e.dir.path().join(src), Some("latest")).manifest["layers"][0]["digest"]
                .clone();
        let out = e.skiff(&[
            "--decryption-key",
            key,
            &e.oci(src),
            &format!("oci:{}:new", p(&dest)),
        ]);
        out.assert_error().assert_stderr_contains(expected);
        // The message names the layer (and, for keys, what was tried).
        out.assert_stderr_contains(layer.as_str().unwrap());
        before.assert_unchanged(src);
        assert!(skiff_temp_leftovers(&dest).is_empty());
        // skopeo fails on the same images (its wording differs for the tampered bytes).
        e.skopeo(&["--decryption-key", key, &e.oci(src), &e.oci("skopeo-out")])
            .assert_exit1();
    }
    e.skiff(&["--decryption-key", &other, &e.oci("enc"), &e.oci("no")])
        .assert_error()
        .assert_stderr_contains("tried 1 private key (RSA) on its jwe keys");
}

#[test]
fn destinations_that_cannot_describe_encrypted_layers_are_refused_before_writing() {
    let e = Env::new();
    let key = format!("jwe:{}", e.path("rsa.pub.pem"));
    let archive = e.path("out.tar");
    for (flags, dest, expected) in [
        (
            vec![],
            format!("docker-archive:{archive}:a/b:c"),
            "encryption required but the destination only supports MIME types [application/vnd.docker.distribution.manifest.v2+json], none of which support encryption",
        ),
        (
            vec!["--format", "v2s2"],
            e.oci("out"),
            "encryption required together with format application/vnd.docker.distribution.manifest.v2+json, which does not support encryption",
        ),
        (
            vec!["--preserve-digests"],
            e.oci("out"),
            "should be encrypted, but we can’t modify the manifest: Instructed to preserve digests",
        ),
    ] {
        let src = hello();
        let mut args = flags.clone();
        args.extend(["--encryption-key", &key, &src, &dest]);
        e.skiff(&args)
            .assert_error()
            .assert_stderr_contains(expected);
        assert!(!e.dir.path().join("out").exists() && !Path::new(&archive).exists());
    }
    // A destination that takes any manifest type gets OCI (skopeo: "no candidate MIME types").
    let s2 = e.dir.path().join("s2");
    e.skiff(&["--format", "v2s2", &hello(), &format!("dir:{}", p(&s2))])
        .assert_success();
    let out = e.dir.path().join("dir-enc");
    e.skiff(&[
        "--encryption-key",
        &key,
        &format!("dir:{}", p(&s2)),
        &format!("dir:{}", p(&out)),
    ])
    .assert_success();
    let l = load_dir(&out);
    assert_eq!(
        l.manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert!(
        l.layers
            .iter()
            .all(|(t, _)| t.ends_with("tar+gzip+encrypted"))
    );
    let back = e.dir.path().join("dir-dec");
    e.skopeo(&[
        "--decryption-key",
        &e.path("rsa.pem"),
        &format!("dir:{}", p(&out)),
        &format!("dir:{}", p(&back)),
    ])
    .assert_success();
    load_dir(&back).assert_consistent("skopeo decrypted skiff's dir: image");
}

#[test]
fn uncompressed_layers_encrypt_and_skopeos_recorded_diff_id_is_accepted() {
    let e = Env::new();
    let plain = format!("dir:{}", e.path("plain"));
    e.skopeo(&["--dest-decompress", &hello(), &plain])
        .assert_success();
    let key = format!("jwe:{}", e.path("rsa.pub.pem"));
    let rsa = e.path("rsa.pem");
    // skopeo gzips the layers on the way to oci: and records the digest of the tar it was
    // given (the diff ID) as the plaintext's; skiff checks it against the decompressed data.
    // skiff records the digest of what it encrypted.
    for (tool, other) in [(Skopeo, Skiff), (Skiff, Skopeo)] {
        let enc = e.oci(&format!("{tool:?}"));
        e.tool(tool, &["--encryption-key", &key, &plain, &enc])
            .assert_success();
        let encrypted = load_oci(&e.dir.path().join(format!("{tool:?}")), Some("latest"));
        assert!(
            encrypted
                .layers
                .iter()
                .all(|(t, _)| t.ends_with("tar+gzip+encrypted")),
            "{tool:?}: {:?}",
            encrypted.manifest["layers"]
        );
        e.tool(other, &["--decryption-key", &rsa, &enc, &e.oci("out")])
            .assert_success();
        let l = load_oci(&e.dir.path().join("out"), Some("latest"));
        l.assert_consistent(&format!("{tool:?} encrypted, {other:?} decrypted"));
        assert!(l.layers.iter().all(|(t, _)| t.ends_with("tar+gzip")));
        fs::remove_dir_all(e.dir.path().join("out")).unwrap();
    }
}

#[test]
fn key_errors_are_skopeos() {
    let e = Env::new();
    let dest = e.oci("no");
    let key = e.path("rsa.pem");
    for (flag, value) in [
        ("--encryption-key", "rsa.pem".to_string()),
        ("--encryption-key", format!("foo:{key}")),
        ("--encryption-key", format!("jwe:{key}")),
        (
            "--encryption-key",
            format!("pkcs7:{}", e.path("rsa.pub.pem")),
        ),
        ("--encryption-key", format!("jwe:{}", e.path("missing.pem"))),
        ("--decryption-key", e.path("missing.pem")),
    ] {
        let theirs = e.skopeo(&[flag, &value, &hello(), &dest]);
        theirs.assert_exit1();
        e.skiff(&[flag, &value, &hello(), &dest])
            .assert_error()
            .assert_stderr_contains(&theirs.skopeo_message());
    }
    assert!(!e.dir.path().join("no").exists());
}

#[test]
fn encrypted_der_and_sec1_private_keys_decrypt() {
    let e = Env::new();
    let d = e.dir.path();
    for args in [
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "rsa.pem",
            "-out",
            "rsa.p8.pem",
            "-passout",
            "pass:pw",
        ][..],
        &[
            "rsa",
            "-in",
            "rsa.pem",
            "-aes256",
            "-traditional",
            "-out",
            "rsa.legacy.pem",
            "-passout",
            "pass:pw",
        ],
        &[
            "pkey", "-in", "rsa.pem", "-outform", "DER", "-out", "rsa.der",
        ],
        &["ec", "-in", "ec.pem", "-out", "ec.sec1.pem"],
    ] {
        certs::openssl(d, args);
    }
    assert!(
        fs::read_to_string(d.join("ec.sec1.pem"))
            .unwrap()
            .contains("EC PRIVATE KEY")
    );
    let rsa = format!("jwe:{}", e.path("rsa.pub.pem"));
    let ec = format!("jwe:{}", e.path("ec.pub.pem"));
    e.encrypt(
        Skopeo,
        &["--encryption-key", &rsa, "--encryption-key", &ec],
        "enc",
    );
    for key in [
        format!("{}:pw", e.path("rsa.p8.pem")),
        format!("{}:pass=pw", e.path("rsa.legacy.pem")),
        e.path("rsa.der"),
        e.path("ec.sec1.pem"),
    ] {
        e.decrypt(Skiff, &["--decryption-key", &key], "enc", "out");
    }
    e.skiff(&[
        "--decryption-key",
        &e.path("rsa.legacy.pem"),
        &e.oci("enc"),
        &e.oci("no"),
    ])
    .assert_error()
    .assert_stderr_contains("Invalid decryption keys: Missing password for encrypted private key");
    e.skiff(&[
        "--decryption-key",
        &format!("{}:bad", e.path("rsa.p8.pem")),
        &e.oci("enc"),
        &e.oci("no"),
    ])
    .assert_error()
    .assert_stderr_contains("Wrong password: could not decrypt private key");
    assert!(!d.join("no").exists());
}

#[test]
fn every_instance_of_a_list_encrypts_and_decrypts_back_to_the_same_index() {
    let e = Env::new();
    let key = format!("jwe:{}", e.path("ec.pub.pem"));
    let ec = e.path("ec.pem");
    let src = example_ref("multiarch-oci");
    e.skiff(&["--all", "--encryption-key", &key, &src, &e.oci("enc")])
        .assert_success();
    let index = oci_index_entry(&e.dir.path().join("enc"), Some("latest"));
    assert_ne!(index["digest"], MULTI_INDEX, "the instances changed");
    // Every layer of every instance, not just one of them.
    let blob = |d: &Value| {
        let hex = d.as_str().unwrap().trim_start_matches("sha256:");
        let path = e.dir.path().join("enc/blobs/sha256").join(hex);
        serde_json::from_slice::<Value>(&fs::read(path).unwrap()).unwrap()
    };
    let instances = blob(&index["digest"])["manifests"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(instances.len(), 3);
    for instance in &instances {
        let manifest = blob(&instance["digest"]);
        let layers = manifest["layers"].as_array().unwrap();
        assert!(!layers.is_empty());
        for l in layers {
            assert!(
                l["mediaType"].as_str().unwrap().ends_with("+encrypted"),
                "{instance}: {l}"
            );
        }
    }
    for (tool, name) in [(Skopeo, "by-skopeo"), (Skiff, "by-skiff")] {
        e.tool(
            tool,
            &[
                "--all",
                "--decryption-key",
                &ec,
                &e.oci("enc"),
                &e.oci(name),
            ],
        )
        .assert_success();
        let back = oci_index_entry(&e.dir.path().join(name), Some("latest"));
        assert_eq!(back["digest"], MULTI_INDEX, "{tool:?} decrypted the list");
    }
}
