# Once — English UI messages. Every key here must also exist in ko/main.ftl (a test checks).

skip-to-content = Skip to content
nav-language = Language
nav-about = Security model
footer-tagline = Share a secret once. Then it is gone.
back-home = Create a secret
yes = Yes
no = No
copy = Copy
copied = Copied

duration-seconds = { $n ->
    [one] 1 second
   *[other] { $n } seconds
}
duration-minutes = { $n ->
    [one] 1 minute
   *[other] { $n } minutes
}
duration-hours = { $n ->
    [one] 1 hour
   *[other] { $n } hours
}
duration-days = { $n ->
    [one] 1 day
   *[other] { $n } days
}
unit-minutes = minutes
unit-hours = hours
unit-days = days

home-title = Share a secret
home-lead = Paste a password, a key or a note. You get a link that shows it once; then it is gone.
field-secret = Secret
field-secret-placeholder = What should only be seen once?
field-expiry = Expires after
field-expiry-custom = Custom…
field-expiry-custom-value = Custom expiry
field-expiry-unit = Unit
field-passphrase = Passphrase (optional)
field-passphrase-help = The recipient must type it. Send it another way than the link.
field-views = Views allowed
field-views-help = Usually 1: the link works this many times.
create-button = Create link
create-working = Encrypting…
create-another = Share another secret
mode-zk = Zero-knowledge mode: your browser encrypts the secret; the key stays in the link and never reaches the server.
mode-server = Server-side mode: the server encrypts the secret (JavaScript is off, so the browser cannot).
mode-server-used = Made in server-side mode: the server encrypted this secret.
mode-zk-used = Made in zero-knowledge mode: encrypted in the browser; the server never had the key.
mode-zk-reveal = Zero-knowledge mode: your browser decrypts this secret with the key in the link.

created-title = Your secret link
created-once-note = This link is shown only this once. Copy it now and send it to the recipient.
created-zk-note = Copy the link now: it holds the key, and Once cannot show it again.
created-secret-link = Secret link (send this)
created-receipt-link = Private receipt link (keep this: shows whether it was read, and lets you burn it)
qr-label = QR code of the secret link

preview-title = Someone sent you a secret
preview-lead = Reveal it? It can be viewed only once: after that it is gone.
preview-views-left = { $n ->
    [one] This link can be opened once.
   *[other] This link can be opened { $n } times.
}
preview-expires = It expires on
reveal-button = Reveal the secret
reveal-working = Decrypting…
zk-needs-js = This secret was encrypted in the sender's browser. Turn on JavaScript to open it.
zk-error-fragment = This link is incomplete: the part after “#” holds the key. Copy the whole link.
zk-error-insecure = This page must be opened over https to decrypt the secret in your browser.
zk-error-failed = That did not work. Check the passphrase and try again.

revealed-title = Here is your secret
revealed-label = Secret
revealed-gone = This secret is now gone. Copy it before you leave this page.
revealed-views-left = { $n ->
    [one] The link works 1 more time.
   *[other] The link works { $n } more times.
}

receipt-title = Receipt
receipt-state = State
receipt-views = Views
receipt-views-left = { $n ->
    [one] 1 view left
   *[other] { $n } views left
}
receipt-created = Created
receipt-expires = Expires
receipt-received = Read
receipt-passphrase = Passphrase
state-new = Not read yet
state-viewed = Not read yet
state-received = Read
state-burned = Burned
state-expired = Expired
burn-reason-sender = by the sender
burn-reason-passphrase-failures = after too many wrong passphrases
burn-button = Burn now
burn-help = Destroys the secret so the link shows nothing.

gone-title = This secret is not here
gone-body = It may have been read already, burned, or expired — or the link is wrong. Ask the sender for a new one.
notfound-title = Page not found
notfound-body = There is nothing at this address.

error-title = Something went wrong
error-empty = Write the secret to share first.
error-form = The form could not be read. Check the fields and try again.
error-too-large = The secret is too large.
error-ttl-number = The expiry must be a whole number.
error-ttl-range = The expiry must be between { $min } and { $max }.
error-views = Views allowed must be between 1 and { $max }.
error-csrf = The form expired. Please send it again.
error-passphrase = That did not work. Check the passphrase and try again.
error-passphrase-missing = This secret needs its passphrase.
error-unavailable = Once is briefly unavailable. Try again in a moment.
error-internal = Something went wrong on our side. Try again.

about-title = Security model
about-lead = Once keeps a secret until its link is opened once, then destroys it.
about-modes-title = Two ways to encrypt
about-mode-zk = Zero-knowledge mode (with JavaScript): your browser encrypts with AES-256-GCM. The key exists only in the link's “#” part, which browsers never send to the server, so the server stores only ciphertext it cannot read.
about-mode-server = Server-side mode (without JavaScript, and API v1): the server encrypts with AES-256-GCM under a key derived from its master key and the link itself. The database alone, or the database and the master key, open nothing without the link.
about-guarantees-title = What Once guarantees
about-once = One view means one view: concurrent requests cannot both get the secret.
about-preview = Opening the link only shows a preview. Nothing is consumed until “Reveal” is pressed, so link scanners and chat previews do not burn secrets.
about-passphrase = A passphrase is part of the key. Wrong passphrases never consume the secret; after five, it is burned.
about-storage = Only a hash of each link is stored, never the link, the passphrase or the plaintext.
about-expiry = Unread secrets are deleted when they expire. The receipt shows the sender whether and when the secret was read, and can burn it.
about-logs = Secrets, links and passphrases never appear in logs or metrics.
about-limits-title = What Once cannot do
about-limit-recipient = Once cannot stop the recipient from copying the secret. Change a password after it was shared if that matters.
about-limit-server = In zero-knowledge mode you trust the page the server sends. Use the command-line client if you want to encrypt without trusting it.

nav-account = Account
signin-title = Sign in
field-email = E-mail address
field-password = Password
signin-button = Sign in
signin-error = The e-mail address or the password is wrong.
account-title = Your account
account-role = Role
account-sessions-title = Where you are signed in
session-created = signed in
session-last-seen = last used
session-current = this browser
signout-button = Sign out
signout-everywhere-button = Sign out everywhere
signout-everywhere-help = Ends every session of this account, on every device, including this one.
