//! Accounts in a real browser: sign up, enrol an authenticator app by reading the key off the
//! page, then sign in with password + code; a code works once, a recovery code works once.

use once_crypto::totp::{TotpPolicy, TotpSecret};
use once_server::config::Signup;

use crate::harness::{Browser, Catalog, Opts, Site, assert_absent, within};

const EMAIL: &str = "alice@example.com";
const PASSWORD: &str = "correct horse battery staple";

fn now() -> u64 {
    use once_core::Clock;
    u64::try_from(once_core::SystemClock.now()).expect("after 1970")
}

async fn sign_in_with_password(b: &Browser, site: &Site, t: &Catalog) {
    b.visit(&site.url("/signin")).await;
    b.type_into("#email", EMAIL).await;
    b.type_into("#password", PASSWORD).await;
    b.click("form[action='/signin'] button[type=submit]").await;
    b.wait_text_in("h1", t.t("code-title")).await;
}

async fn enter_code(b: &Browser, code: &str) {
    b.type_into("#code", code).await;
    b.click("form[action='/signin/code'] button[type=submit]").await;
}

async fn sign_out(b: &Browser, site: &Site, t: &Catalog) {
    b.visit(&site.url("/account")).await;
    b.wait_text_in("h1", t.t("account-title")).await;
    b.click("form[action='/signout'] button[type=submit]").await;
    b.wait_css("#secret").await;
}

#[tokio::test]
async fn sign_up_enrol_totp_then_a_code_signs_in_once_and_a_recovery_code_once() {
    within(async {
        let site = Site::spawn_with(None, |c| c.auth.signup = Signup::Open).await;
        let t = Catalog::get("en");
        let b = Browser::open(Opts::default()).await;

        // Sign up from the sign-in page's link; it signs in.
        b.visit(&site.url("/signin")).await;
        b.click("a[href='/signup']").await;
        fill_sign_up(&b, &t, EMAIL).await;
        assert!(b.text("#two-factor").await.contains(t.t("account-2fa-off")));

        // Enrol: read the key off the page, compute the code here, as an app would.
        b.click("a[href='/account/2fa']").await;
        b.wait_text_in("h1", t.t("totp-title")).await;
        assert!(b.css(".qr svg").await.html(false).await.expect("qr").contains("<path"), "a QR code");
        let key: String = b.text("#totp-key").await.split_whitespace().collect();
        assert_eq!(key.len(), 32, "160 bits in base32: {key}");
        let secret = TotpSecret::from_base32(&key).expect("a base32 key");
        let policy = TotpPolicy::default();
        b.type_into("#code", &policy.code_at(&secret, now()).expect("code")).await;
        b.click("form[action='/account/2fa'] button[type=submit]").await;
        b.wait_text_in("h1", t.t("recovery-title")).await;
        let mut codes = Vec::new();
        for el in b.find_all(fantoccini::Locator::Css("#recovery-codes code")).await.expect("codes") {
            codes.push(el.text().await.expect("code"));
        }
        assert_eq!(codes.len(), 10, "{codes:?}");
        b.click("a.button[href='/account']").await;
        b.wait_text_in("h1", t.t("account-title")).await;
        assert!(!b.text("#two-factor").await.contains(t.t("account-2fa-off")), "2FA is on");
        sign_out(&b, &site, &t).await;

        // Password, then a code. The next step's code: the one that confirmed enrolment is spent.
        let code = policy.code_at(&secret, now() + 30).expect("code");
        sign_in_with_password(&b, &site, &t).await;
        enter_code(&b, &code).await;
        b.wait_text_in("h1", t.t("account-title")).await;
        sign_out(&b, &site, &t).await;

        // The same code again fails.
        sign_in_with_password(&b, &site, &t).await;
        enter_code(&b, &code).await;
        b.wait_text_in(".alert", t.t("code-error")).await;
        assert_eq!(b.text("h1").await, t.t("code-title"));

        // A recovery code works (from the same form), once.
        enter_code(&b, &codes[0]).await;
        b.wait_text_in("h1", t.t("account-title")).await;
        sign_out(&b, &site, &t).await;
        sign_in_with_password(&b, &site, &t).await;
        enter_code(&b, &codes[0]).await;
        b.wait_text_in(".alert", t.t("code-error")).await;
        enter_code(&b, &codes[1]).await;
        b.wait_text_in("h1", t.t("account-title")).await;
        b.close().await;

        // The database holds neither the key nor any recovery code in the clear.
        let db = site.db_bytes();
        assert_absent("the SQLite files", &db, &key);
        for c in &codes {
            assert_absent("the SQLite files", &db, c);
            assert_absent("the SQLite files", &db, &c.replace('-', ""));
        }
    })
    .await;
}

/// Signs up in `b` (which lands on the account page).
async fn sign_up(b: &Browser, site: &Site, t: &Catalog, email: &str) {
    b.visit(&site.url("/signup")).await;
    fill_sign_up(b, t, email).await;
}

/// On the sign-up page: fills it in and sends it; lands on the account page.
async fn fill_sign_up(b: &Browser, t: &Catalog, email: &str) {
    b.wait_text_in("h1", t.t("signup-title")).await;
    b.type_into("#email", email).await;
    b.type_into("#password", PASSWORD).await;
    b.type_into("#password_again", PASSWORD).await;
    b.click("form[action='/signup'] button[type=submit]").await;
    b.wait_text_in("h1", t.t("account-title")).await;
}

#[tokio::test]
async fn a_zero_knowledge_secret_only_for_bob_waits_through_his_sign_in() {
    within(async {
        let site = Site::spawn_with(None, |c| c.auth.signup = Signup::Open).await;
        let t = Catalog::get("en");
        let bob = Browser::open(Opts::default()).await;
        sign_up(&bob, &site, &t, "bob@example.com").await;
        sign_out(&bob, &site, &t).await;

        // Alice makes a zero-knowledge secret only bob may open.
        let alice = Browser::open(Opts::default()).await;
        sign_up(&alice, &site, &t, EMAIL).await;
        alice.visit(&site.url("/")).await;
        alice.wait_text("mode", t.t("mode-zk")).await;
        alice.type_into("#secret", "for bob's eyes").await;
        alice.click("details.only-for summary").await;
        alice.click("#only_signed_in").await;
        alice.type_into("#only_email", "bob@example.com").await;
        alice.click("#create button[type=submit]").await;
        alice.wait_css("#zk-result:not([hidden]) #zk-secret-url").await;
        let link = crate::flows::ZkLink::parse(&site, &alice.value("#zk-secret-url").await);
        // Alice herself is not bob.
        alice.visit(&link.url).await;
        alice.wait_text_in("h1", t.t("recipient-only-title")).await;
        alice.close().await;

        // Bob opens it signed out: sign in first; the link's key survives the round trip.
        bob.visit(&link.url).await;
        bob.wait_text_in("h1", t.t("recipient-only-title")).await;
        bob.click("a.button[href^='/signin?next=']").await;
        bob.wait_text_in("h1", t.t("signin-title")).await;
        bob.type_into("#email", "bob@example.com").await;
        bob.type_into("#password", PASSWORD).await;
        bob.click("form[action='/signin'] button[type=submit]").await;
        bob.wait_css("form#zk-reveal").await;
        assert_eq!(bob.text("h1").await, t.t("preview-title"));
        bob.click("#zk-reveal button[type=submit]").await;
        let value = bob.wait_css("#zk-revealed:not([hidden]) #zk-value").await;
        assert_eq!(value.prop("value").await.expect("value").as_deref(), Some("for bob's eyes"));
        bob.close().await;

        // The key never went to the server, not even through the sign-in.
        assert_absent("the bytes sent to the server", &site.recorded(), &link.fragment);
    })
    .await;
}
