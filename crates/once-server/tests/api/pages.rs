//! The web pages over real HTTP (no JavaScript): headers, CSRF, the server-side flow, GET-only
//! crawlers, languages. The browser (zero-knowledge) flow is driven by a real browser elsewhere.

use std::collections::BTreeSet;

use once_crypto::zk;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::json;

use crate::helpers::{Backend, TestApp};

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().expect("client")
}

/// Checks the headers every page has and that the HTML has no inline script or style (the admin
/// pages' tests use it too).
pub(crate) async fn html(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status, "{}", resp.url());
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    let body = resp.text().await.expect("body");
    assert!(body.starts_with("<!doctype html>"));
    // Well-formed per the HTML5 parsing algorithm: the parser reports no error.
    let doc = scraper::Html::parse_document(&body);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    assert!(!body.contains(" style=") && !body.contains("<style"), "inline style");
    for script in body.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or("");
        assert!(tag.contains("src=\"/assets/"), "inline script: {tag}");
    }
    body
}

/// The CSRF cookie a page set and the token its forms carry.
fn csrf(resp: &reqwest::Response) -> String {
    let cookie = resp.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    cookie.split(';').next().expect("pair").trim_start_matches("once_csrf=").to_owned()
}

fn hidden_token(body: &str) -> &str {
    let at = body.find("name=\"_csrf\" value=\"").expect("csrf field") + 20;
    &body[at..at + 43]
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let a = s.find(start)? + start.len();
    let b = s[a..].find(end)? + a;
    Some(&s[a..b])
}

#[tokio::test]
async fn server_side_flow_create_receipt_preview_reveal_gone() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let http = client();
    let resp = http.get(app.url("/")).send().await.expect("home");
    let token = csrf(&resp);
    let body = html(resp, StatusCode::OK).await;
    assert_eq!(hidden_token(&body), token);
    assert!(body.contains("<html lang=\"en\">") && body.contains("Create link"));

    let cookie = format!("once_csrf={token}");
    let form = [
        ("secret", "PAGE-CANARY <b>&"),
        ("ttl", "3600"),
        ("views", "1"),
        ("passphrase", ""),
        ("_csrf", &token),
    ];
    let resp = http.post(app.url("/")).header("cookie", &cookie).form(&form).send().await.expect("create");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let receipt_path = resp.headers()["location"].to_str().expect("location").to_owned();
    assert!(receipt_path.starts_with("/receipt/"));

    // The receipt shows the secret link (and its QR code) the first time only.
    let body = html(http.get(app.url(&receipt_path)).send().await.expect("receipt"), StatusCode::OK).await;
    let secret_url = between(&body, "id=\"secret-url\" value=\"", "\"").expect("secret link").to_owned();
    assert!(secret_url.starts_with(&format!("{}/secret/", app.base)));
    assert!(body.contains("<svg") && body.contains("Not read yet"));
    let body = html(http.get(app.url(&receipt_path)).send().await.expect("receipt"), StatusCode::OK).await;
    assert!(!body.contains(&secret_url), "the link is shown once");

    // A GET-only crawler and `curl -I` consume nothing.
    let secret_path = secret_url.trim_start_matches(&app.base).to_owned();
    for _ in 0..20 {
        let resp = http.get(app.url(&secret_path)).send().await.expect("preview");
        let body = html(resp, StatusCode::OK).await;
        assert!(body.contains("Someone sent you a secret") && !body.contains("PAGE-CANARY"));
        let head = http.head(app.url(&secret_path)).send().await.expect("head");
        assert_eq!(head.status(), StatusCode::OK);
    }

    let form = [("_csrf", token.as_str())];
    let resp =
        http.post(app.url(&secret_path)).header("cookie", &cookie).form(&form).send().await.expect("reveal");
    let body = html(resp, StatusCode::OK).await;
    assert!(body.contains("PAGE-CANARY &#60;b&#62;&#38;") && !body.contains("<b>"), "shown, escaped");
    assert!(body.contains("This secret is now gone"));
    let resp =
        http.post(app.url(&secret_path)).header("cookie", &cookie).form(&form).send().await.expect("again");
    let body = html(resp, StatusCode::NOT_FOUND).await;
    assert!(body.contains("This secret is not here") && !body.contains("PAGE-CANARY"));
    let body =
        html(http.get(app.url(&secret_path)).send().await.expect("preview"), StatusCode::NOT_FOUND).await;
    assert!(body.contains("This secret is not here"));
    let body = html(http.get(app.url(&receipt_path)).send().await.expect("receipt"), StatusCode::OK).await;
    assert!(body.contains("state-received"));
}

#[tokio::test]
async fn passphrase_and_burn_through_the_pages() {
    let app = TestApp::spawn(Backend::Memory).await;
    let http = client();
    let token = csrf(&http.get(app.url("/")).send().await.expect("home"));
    let cookie = format!("once_csrf={token}");
    let form = [
        ("secret", "s3"),
        ("ttl", "custom"),
        ("ttl_custom", "2"),
        ("ttl_unit", "days"),
        ("views", "2"),
        ("passphrase", "pw"),
        ("_csrf", &token),
    ];
    let resp = http.post(app.url("/")).header("cookie", &cookie).form(&form).send().await.expect("create");
    let receipt_path = resp.headers()["location"].to_str().expect("location").to_owned();
    let body = html(http.get(app.url(&receipt_path)).send().await.expect("receipt"), StatusCode::OK).await;
    let secret_path = between(&body, "id=\"secret-url\" value=\"", "\"")
        .expect("link")
        .trim_start_matches(&app.base)
        .to_owned();
    assert!(body.contains("0 / 2"));

    let body = html(http.get(app.url(&secret_path)).send().await.expect("preview"), StatusCode::OK).await;
    assert!(body.contains("id=\"passphrase\""));
    let wrong = [("passphrase", "nope"), ("_csrf", token.as_str())];
    let resp =
        http.post(app.url(&secret_path)).header("cookie", &cookie).form(&wrong).send().await.expect("wrong");
    let body = html(resp, StatusCode::OK).await;
    assert!(body.contains("Check the passphrase") && !body.contains("s3<"));
    let right = [("passphrase", "pw"), ("_csrf", token.as_str())];
    let resp =
        http.post(app.url(&secret_path)).header("cookie", &cookie).form(&right).send().await.expect("right");
    let body = html(resp, StatusCode::OK).await;
    assert!(body.contains(">s3</textarea>") && body.contains("1 more time"));

    let body = html(http.get(app.url(&receipt_path)).send().await.expect("receipt"), StatusCode::OK).await;
    assert!(body.contains("1 / 2"));
    let burn = format!("{receipt_path}/burn");
    // Without the token, or from another site: refused, nothing burned.
    let resp = http.post(app.url(&burn)).form(&[("_csrf", token.as_str())]).send().await.expect("no cookie");
    html(resp, StatusCode::FORBIDDEN).await;
    let resp = http
        .post(app.url(&burn))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .expect("cross-site");
    html(resp, StatusCode::FORBIDDEN).await;
    let resp = http
        .post(app.url(&burn))
        .header("cookie", &cookie)
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .expect("burn");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let body = html(http.get(app.url(&receipt_path)).send().await.expect("receipt"), StatusCode::OK).await;
    assert!(body.contains("state-burned") && body.contains("by the sender") && !body.contains("Burn now"));
    let resp =
        http.post(app.url(&secret_path)).header("cookie", &cookie).form(&right).send().await.expect("gone");
    html(resp, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_form_without_its_token_keeps_what_was_typed() {
    let app = TestApp::spawn(Backend::Memory).await;
    let http = client();
    let resp = http
        .post(app.url("/"))
        .form(&[("secret", "typed text"), ("ttl", "3600"), ("views", "1")])
        .send()
        .await
        .expect("post");
    let body = html(resp, StatusCode::FORBIDDEN).await;
    assert!(body.contains(">typed text</textarea>") && body.contains("The form expired"));
    let token = csrf(&http.get(app.url("/")).send().await.expect("home"));
    let cookie = format!("once_csrf={token}");
    for (form, says) in [
        (vec![("secret", " "), ("ttl", "3600"), ("views", "1")], "Write the secret"),
        (vec![("secret", "x"), ("ttl", "-1"), ("views", "1")], "between 1 minute and 30 days"),
        (vec![("secret", "x"), ("ttl", "1e3"), ("views", "1")], "whole number"),
        (vec![("secret", "x"), ("ttl", "10"), ("views", "1")], "between 1 minute and 30 days"),
        (
            vec![
                ("secret", "x"),
                ("ttl", "custom"),
                ("ttl_custom", "99999999999999999"),
                ("ttl_unit", "days"),
                ("views", "1"),
            ],
            "whole number",
        ),
        (vec![("secret", "x"), ("ttl", "3600"), ("views", "0")], "between 1 and 100"),
    ] {
        let mut form = form;
        form.push(("_csrf", &token));
        let resp = http.post(app.url("/")).header("cookie", &cookie).form(&form).send().await.expect("post");
        let body = html(resp, StatusCode::BAD_REQUEST).await;
        assert!(body.contains(says), "{says}");
    }
}

#[tokio::test]
async fn korean_by_accept_language_and_by_the_switcher() {
    let app = TestApp::spawn(Backend::Memory).await;
    let http = client();
    let resp =
        http.get(app.url("/")).header("accept-language", "ko-KR,ko;q=0.9,en;q=0.8").send().await.expect("ko");
    assert_eq!(resp.headers()["content-language"], "ko");
    let body = html(resp, StatusCode::OK).await;
    assert!(body.contains("<html lang=\"ko\">") && body.contains("비밀 공유하기") && body.contains("30일"));

    let resp = http.get(app.url("/lang/ko?next=/about")).send().await.expect("switch");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/about");
    let cookie = resp.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(cookie.starts_with("lang=ko;") && cookie.contains("Max-Age=31536000"));
    let resp = http
        .get(app.url("/about"))
        .header("accept-language", "en")
        .header("cookie", "lang=ko")
        .send()
        .await
        .expect("about");
    let body = html(resp, StatusCode::OK).await;
    assert!(body.contains("보안 모델"), "the remembered choice beats Accept-Language");

    for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"] {
        let resp = http.get(app.url("/lang/en")).query(&[("next", evil)]).send().await.expect("switch");
        assert_eq!(resp.headers()["location"], "/", "{evil}");
    }
    let resp = http
        .get(app.url("/nowhere"))
        .header("accept", "text/html")
        .header("cookie", "lang=ko")
        .send()
        .await
        .expect("404");
    let body = html(resp, StatusCode::NOT_FOUND).await;
    assert!(body.contains("페이지를 찾을 수 없습니다"));
}

#[tokio::test]
async fn zero_knowledge_links_need_the_script_and_a_form_post_burns_nothing() {
    let app = TestApp::spawn(Backend::Memory).await;
    let k = zk::FragmentKey::generate();
    let (blob, proof) = zk::seal(&k, None, b"zk page").expect("seal");
    let req = json!({"ciphertext": data_encoding::BASE64URL_NOPAD.encode(&blob), "key_proof": proof.to_base64url()});
    let c: serde_json::Value = app
        .http
        .post(app.url("/api/v2/secrets"))
        .json(&req)
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let path = format!("/secret/{}", c["secret_key"].as_str().expect("key"));
    let http = client();
    let resp = http.get(app.url(&path)).send().await.expect("preview");
    let token = csrf(&resp);
    let body = html(resp, StatusCode::OK).await;
    assert!(body.contains("id=\"zk-reveal\"") && body.contains("<noscript>"));
    let cookie = format!("once_csrf={token}");
    for _ in 0..3 {
        let resp = http
            .post(app.url(&path))
            .header("cookie", &cookie)
            .form(&[("_csrf", token.as_str())])
            .send()
            .await
            .expect("post");
        html(resp, StatusCode::OK).await;
    }
    // The receipt never offers a zero-knowledge secret's link: without its fragment it is useless.
    let receipt = format!("/receipt/{}", c["receipt_key"].as_str().expect("receipt key"));
    let body = html(http.get(app.url(&receipt)).send().await.expect("receipt"), StatusCode::OK).await;
    assert!(!body.contains("secret-url") && body.contains("state-viewed"));
    let again = zk::key_proof(&k, None);
    let v: serde_json::Value = app
        .http
        .post(app.url(&format!("/api/v2/secrets/{}/reveal", c["secret_key"].as_str().expect("key"))))
        .json(&json!({"key_proof": again.to_base64url()}))
        .send()
        .await
        .expect("reveal")
        .json()
        .await
        .expect("json");
    assert_eq!(v["mode"], "zero_knowledge");
}

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let value = c.strip_prefix(name)?.strip_prefix('=')?.split(';').next()?.to_owned();
        Some((value, c.to_owned()))
    })
}

#[tokio::test]
async fn sign_in_sign_out_and_sign_out_everywhere() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.add_user("alice@example.com").await;
    app.set_password("alice@example.com", "correct horse battery staple").await;
    let http = client();

    let resp = http.get(app.url("/account")).send().await.expect("account");
    assert_eq!(
        (resp.status(), resp.headers()["location"].to_str().ok()),
        (StatusCode::SEE_OTHER, Some("/signin"))
    );
    let resp = http.get(app.url("/signin")).send().await.expect("form");
    let token = csrf(&resp);
    html(resp, StatusCode::OK).await;
    let csrf_cookie = format!("once_csrf={token}");

    let sign_in = |password: &'static str| {
        http.post(app.url("/signin"))
            .header("cookie", &csrf_cookie)
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0")
            .form(&[("email", "Alice@Example.com"), ("password", password), ("_csrf", token.as_str())])
            .send()
    };
    for (who, password) in
        [("alice", "wrong horse battery staple"), ("nobody", "correct horse battery staple")]
    {
        let resp = if who == "alice" {
            sign_in(password).await.expect("sign in")
        } else {
            http.post(app.url("/signin"))
                .header("cookie", &csrf_cookie)
                .form(&[("email", "nobody@example.com"), ("password", password), ("_csrf", token.as_str())])
                .send()
                .await
                .expect("sign in")
        };
        assert!(cookie_value(&resp, "once_session").is_none());
        let body = html(resp, StatusCode::UNAUTHORIZED).await;
        assert!(body.contains("The e-mail address or the password is wrong."), "{who}: the same answer");
        assert!(!body.contains(password));
    }

    let resp = sign_in("correct horse battery staple").await.expect("sign in");
    assert_eq!(
        (resp.status(), resp.headers()["location"].to_str().ok()),
        (StatusCode::SEE_OTHER, Some("/account"))
    );
    let (session, set) = cookie_value(&resp, "once_session").expect("session cookie");
    assert_eq!(session.len(), 43);
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
    let cookies = format!("{csrf_cookie}; once_session={session}");
    let body = html(
        http.get(app.url("/account")).header("cookie", &cookies).send().await.expect("account"),
        StatusCode::OK,
    )
    .await;
    assert!(
        body.contains("alice@example.com")
            && body.contains("Firefox · Linux")
            && body.contains("this browser")
    );
    // Signed in, the sign-in page goes to the account.
    let resp = http.get(app.url("/signin")).header("cookie", &cookies).send().await.expect("signin");
    assert_eq!(resp.headers()["location"], "/account");

    // Sign out: the cookie is cleared and the session is over, even if the cookie is replayed.
    let resp = http
        .post(app.url("/signout"))
        .header("cookie", &cookies)
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .expect("out");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (cleared, set) = cookie_value(&resp, "once_session").expect("cleared");
    assert!(cleared.is_empty() && set.contains("Max-Age=0"), "{set}");
    let resp = http.get(app.url("/account")).header("cookie", &cookies).send().await.expect("account");
    assert_eq!(resp.headers()["location"], "/signin", "the old cookie is worth nothing");

    // Two browsers; signing out everywhere from one ends both.
    let a = cookie_value(&sign_in("correct horse battery staple").await.expect("a"), "once_session")
        .expect("a")
        .0;
    let b = cookie_value(&sign_in("correct horse battery staple").await.expect("b"), "once_session")
        .expect("b")
        .0;
    assert_ne!(a, b);
    let with = |s: &str| format!("{csrf_cookie}; once_session={s}");
    let body = html(
        http.get(app.url("/account")).header("cookie", with(&a)).send().await.expect("a"),
        StatusCode::OK,
    )
    .await;
    let sessions = between(&body, "<ul class=\"sessions\">", "</ul>").expect("sessions list");
    assert_eq!(sessions.matches("<li>").count(), 2, "both sessions listed");
    let refused = http
        .post(app.url("/account/signout-everywhere"))
        .header("cookie", with(&a))
        .header("sec-fetch-site", "cross-site")
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .expect("cross-site");
    html(refused, StatusCode::FORBIDDEN).await;
    let resp = http
        .post(app.url("/account/signout-everywhere"))
        .header("cookie", with(&a))
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .expect("everywhere");
    assert_eq!(resp.headers()["location"], "/signin");
    for s in [&a, &b] {
        let resp = http.get(app.url("/account")).header("cookie", with(s)).send().await.expect("account");
        assert_eq!(resp.headers()["location"], "/signin");
    }
}

#[tokio::test]
async fn the_combine_page_is_clean_in_both_languages() {
    let app = TestApp::spawn(Backend::Memory).await;
    for lang in ["en", "ko"] {
        let resp =
            client().get(app.url("/combine")).header("accept-language", lang).send().await.expect("get");
        assert_eq!(resp.headers()["content-language"], lang);
        let body = html(resp, StatusCode::OK).await;
        assert!(body.contains("<script type=\"module\" src=\"/assets/js/combine.js\"></script>"));
        // The form's fields have no names: nothing in them could ever be posted.
        let doc = scraper::Html::parse_document(&body);
        let names = scraper::Selector::parse("#combine [name]").expect("selector");
        assert_eq!(doc.select(&names).count(), 0);
    }
}

#[test]
fn every_message_exists_in_english_and_korean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let keys = |lang: &str| -> BTreeSet<String> {
        let text = std::fs::read_to_string(dir.join(format!("locales/{lang}/main.ftl"))).expect("catalog");
        text.lines()
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k))
            .filter(|k| {
                !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
            .map(str::to_owned)
            .collect()
    };
    let (en, ko) = (keys("en"), keys("ko"));
    assert!(en.len() > 80, "{}", en.len());
    assert_eq!(en.difference(&ko).collect::<Vec<_>>(), Vec::<&String>::new(), "missing in ko");
    assert_eq!(ko.difference(&en).collect::<Vec<_>>(), Vec::<&String>::new(), "missing in en");

    // Every key the templates and the page code ask for, and the ones built from states.
    let mut used = BTreeSet::new();
    let mut sources = vec![std::fs::read_to_string(dir.join("src/pages.rs")).expect("pages.rs")];
    for entry in std::fs::read_dir(dir.join("src/pages")).expect("src/pages") {
        let src = std::fs::read_to_string(entry.expect("entry").path()).expect("page module");
        // Not the unit tests (they ask for keys that are missing on purpose).
        sources.push(src.split("#[cfg(test)]").next().unwrap_or_default().to_owned());
    }
    for entry in std::fs::read_dir(dir.join("templates")).expect("templates") {
        sources.push(std::fs::read_to_string(entry.expect("entry").path()).expect("template"));
    }
    for src in &sources {
        for call in [".t(\"", ".t_n(\"", ".t_s(\"", ".t_with(\""] {
            for rest in src.split(call).skip(1) {
                used.insert(rest.split('"').next().unwrap_or("").to_owned());
            }
        }
    }
    for s in ["new", "viewed", "received", "burned", "expired"] {
        used.insert(format!("state-{s}"));
    }
    used.extend(["burn-reason-sender".to_owned(), "burn-reason-passphrase-failures".to_owned()]);
    used.extend(
        ["duration-seconds", "duration-minutes", "duration-hours", "duration-days"].map(str::to_owned),
    );
    let missing: Vec<_> = used.difference(&en).collect();
    assert!(missing.is_empty(), "used but not in the catalogs: {missing:?}");
}
