//! What `--register`'s flags mean, checked before anything starts; the end-to-end behaviour is in
//! `tests/register.rs`, against stand-ins of the platforms' APIs.

use super::plan::*;
use super::session::*;
use super::*;
use crate::provider::Catalog;
use api::{Credentials, Events, Step};
use std::time::Duration;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn events_go_to_the_platform_they_belong_to_and_the_others_get_all() {
    let catalog = Catalog::builtin();
    let both = [Platform::Optiview, Platform::Millicast];
    let chosen = events_for(
        &both,
        &names(&["channel.created", "feeds", "media", "engine.error"]),
        &catalog,
    )
    .expect("known names");
    assert_eq!(
        chosen[&Platform::Optiview],
        Events::Only(names(&["channel.created", "engine.error"]))
    );
    assert_eq!(
        chosen[&Platform::Millicast],
        Events::Only(names(&["feeds", "recording"]))
    );
    let chosen = events_for(&both, &names(&["VIEWERCONNECTION", " "]), &catalog).expect("known");
    assert_eq!(chosen[&Platform::Optiview], Events::All);
    assert_eq!(
        chosen[&Platform::Millicast],
        Events::Only(names(&["viewerConnection"]))
    );
    let chosen =
        events_for(&[Platform::Optiview], &names(&["*", "channel.created"]), &catalog).expect("known");
    assert_eq!(
        chosen[&Platform::Optiview],
        Events::All,
        "* is all, whatever else is listed"
    );
    assert_eq!(
        Events::Only(names(&["feeds", "thumbnail"])).to_string(),
        "feeds, thumbnail"
    );

    let err = events_for(&both, &names(&["channel.exploded"]), &catalog).expect_err("unknown");
    assert!(
        err.to_string()
            .starts_with("--events \"channel.exploded\" is neither an OptiView event type"),
        "{err}"
    );
    let err = events_for(&[Platform::Optiview], &names(&["feeds"]), &catalog).expect_err("not registered");
    assert_eq!(
        err.to_string(),
        "--events feeds: that is millicast's, and there is no --register millicast"
    );
    let err = events_for(&both, &names(&["\u{1b}[2J"]), &catalog).expect_err("unknown");
    assert!(err.to_string().contains("\\x1b[2J"), "{err}");
}

#[test]
fn urls_are_checked_and_the_relay_channel_is_its_public_address() {
    assert_eq!(
        checked_url("https://hooks.example.com/in/"),
        Ok("https://hooks.example.com/in".into())
    );
    for bad in [
        "hooks.example.com",
        "ftp://x",
        "https://",
        "https://x/?a=1",
        "https://x/#f",
        "not a url",
    ] {
        assert!(checked_url(bad).is_err(), "{bad}");
    }
    for (relay, url) in [
        ("https://relay.example.com", "https://relay.example.com/c/dev"),
        ("wss://relay.example.com/", "https://relay.example.com/c/dev"),
        ("ws://127.0.0.1:9000", "http://127.0.0.1:9000/c/dev"),
    ] {
        assert_eq!(relay_url(relay, "dev").expect("valid"), url, "{relay}");
    }
    assert_eq!(
        parse_api_base("millicast=http://127.0.0.1:9/"),
        Ok((Platform::Millicast, "http://127.0.0.1:9".into()))
    );
    assert!(parse_api_base("stripe=http://x").is_err());
    assert!(parse_api_base("optiview").is_err());
}

#[test]
fn a_host_name_is_kept_to_safe_characters() {
    let host = host();
    assert!(!host.is_empty() && host.len() <= 63, "{host}");
    assert!(
        host.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)),
        "{host}"
    );
}

#[test]
fn credentials_come_from_the_config_file_and_their_errors_show_no_value() {
    if [
        "HOOKSCOPE_OPTIVIEW_API_KEY",
        "HOOKSCOPE_OPTIVIEW_API_SECRET",
        "HOOKSCOPE_MILLICAST_API_SECRET",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some())
    {
        return; // the environment wins over the file: nothing here to see
    }
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("hookscope.toml");
    std::fs::write(dir.path().join("secret.txt"), "FILESECRET\n").expect("write");
    std::fs::write(
        &config,
        format!(
            "[api.optiview]\nkey = \"KEYVALUE\"\nsecret = \"file:{}\"\n\n[api.millicast]\nsecret = \"env:HOOKSCOPE_TEST_SURELY_UNSET\"\n",
            dir.path().join("secret.txt").display()
        ),
    )
    .expect("write");
    let optiview = credentials(Platform::Optiview, Some(&config)).expect("from the file");
    let config_name = config.display().to_string();
    assert_eq!(
        optiview.source,
        format!("{config_name} [api.optiview] key and {config_name} [api.optiview] secret")
    );
    assert_eq!(
        optiview.authorization(),
        format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "KEYVALUE:FILESECRET")
        )
    );
    let err = credentials(Platform::Millicast, Some(&config)).expect_err("unset variable");
    assert_eq!(
        err.to_string(),
        format!(
            "{config_name} [api.millicast] secret: environment variable HOOKSCOPE_TEST_SURELY_UNSET is not set"
        )
    );
    std::fs::write(&config, "[api.optiview]\nkey = \"KEYVALUE\"\n").expect("write");
    let err = credentials(Platform::Optiview, Some(&config)).expect_err("no secret");
    assert!(
        err.to_string()
            .starts_with("no OptiView API token for optiview's webhooks: set HOOKSCOPE_OPTIVIEW_API_KEY"),
        "{err}"
    );
    assert!(!err.to_string().contains("KEYVALUE"), "{err}");
    std::fs::write(&config, "[api.optiview]\nkey = \"KEYVALUE\"\nsecrte = \"x\"\n").expect("write");
    let err = credentials(Platform::Optiview, Some(&config)).expect_err("a typo");
    assert!(err.to_string().contains("unknown field `secrte`"), "{err}");
}

/// A stand-in that accepts the connection and never answers: the call ends at the timeout, as one
/// plain line.
#[tokio::test]
async fn an_api_that_does_not_answer_is_a_timeout_naming_the_step() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        std::future::pending::<()>().await;
        drop(stream);
    });
    let entry = Entry {
        platform: Platform::Millicast,
        events: Events::All,
        credentials: Credentials::millicast("SECRETVALUE", "HOOKSCOPE_MILLICAST_API_SECRET".into()),
        base: format!("http://{addr}"),
        timeout: Duration::from_millis(200),
    };
    let Err(err) = call(
        &entry,
        Step::Delete,
        Some("7"),
        api::delete(entry.platform, &entry.base, "7"),
    )
    .await
    else {
        panic!("it answered");
    };
    assert_eq!(err.status, None);
    assert_eq!(
        err.line,
        format!(
            "deleting millicast webhook 7: DELETE http://{addr}/api/webhooks/7: no answer within 200ms: \
             check the network, or --api-base millicast=URL (now http://{addr})"
        )
    );
    held.abort();
}

/// An `https://` API is spoken to in TLS, trusting the public web roots only: a stand-in with a
/// self-signed certificate is refused, and the line says why.
#[tokio::test]
async fn an_https_api_is_reached_through_tls_with_the_web_roots() {
    let dir = tempfile::tempdir().expect("dir");
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write");
    let config = crate::tls::server_config(&cert, &key).expect("tls config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        // The handshake fails on the client's side; what matters is that there was one.
        acceptor.accept(stream).await.is_err()
    });
    let entry = Entry {
        platform: Platform::Optiview,
        events: Events::All,
        credentials: Credentials::optiview(
            "K",
            "S",
            "HOOKSCOPE_OPTIVIEW_API_KEY and HOOKSCOPE_OPTIVIEW_API_SECRET".into(),
        ),
        base: format!("https://{addr}"),
        timeout: Duration::from_secs(10),
    };
    let request = api::create(
        entry.platform,
        &entry.base,
        "n",
        "https://x/optiview",
        &Events::All,
    );
    let Err(err) = call(&entry, Step::Create, None, request).await else {
        panic!("a self-signed certificate was trusted");
    };
    assert!(
        err.line.starts_with(&format!(
            "creating the optiview webhook: POST https://{addr}/v2/webhooks: the certificate of 127.0.0.1 is not trusted"
        )),
        "{}",
        err.line
    );
    assert!(
        served.await.expect("the stand-in"),
        "the handshake was refused by the client"
    );
}
