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

signin-no-account = No account yet?
signup-title = Create an account
signup-button = Create account
signup-have-account = Already have an account?
signup-closed = This instance does not take sign-ups. Ask its administrator for an account.
signup-refused = Addresses like this one can't sign up here.
signup-domains = Only addresses at { $domains } can sign up.
signup-taken = An account with this e-mail address exists already. Sign in instead.
signup-mismatch = The two passwords are not the same.
signup-bad-email = That is not a valid e-mail address.
signup-password-help = At least 12 characters. Long phrases are easiest to remember.
field-new-password = New password
field-password-again = New password again
password-too-short = The password must have at least { $min } characters.
password-too-long = The password must not be longer than { $max } bytes.
password-context = The password must not contain your e-mail address or the name of this site.
password-repetitive = The password is too repetitive (like "aaaa", "abcd" or "1234").
password-common = The password is too common or too easy to guess.
code-title = Two-factor sign-in
field-code = Code
code-help = The 6-digit code from your authenticator app, or one of your recovery codes.
code-button = Verify
code-error = That code is not right, or it was used already. Wait for the next code and try again.
code-locked = Too many wrong codes. Two-factor sign-in for this account is locked until { $time }.
account-2fa-title = Two-factor sign-in
account-2fa-off = Off. Signing in needs only your password.
account-2fa-setup = Set up an authenticator app
account-2fa-on = On since { $since }.
account-2fa-codes-left = { $count ->
    [one] One recovery code left.
   *[other] { $count } recovery codes left.
}
account-2fa-new-codes = New recovery codes
account-2fa-replace = Move to another authenticator app
account-2fa-disable-password = Password, to turn it off
account-2fa-disable = Turn off two-factor sign-in
totp-title = Set up two-factor sign-in
totp-replacing = This replaces the authenticator app you use now, and your recovery codes.
totp-scan = Scan this code with an authenticator app (Google Authenticator, Authy, 1Password, …).
totp-qr-label = QR code with the key for your authenticator app
totp-manual = Or type this key into the app:
totp-manual-details = Time-based, 6 digits, every 30 seconds (SHA-1).
totp-confirm-label = The code the app shows now
totp-confirm-button = Turn on
totp-wrong-code = That code is not right. Check that the time on your phone is correct, then type the current code.
totp-expired = This setup page has expired. Start again.
totp-required = This instance requires two-factor sign-in; it can't be turned off.
totp-disable-wrong-password = The password is wrong; two-factor sign-in is still on.
recovery-title = Your recovery codes
recovery-lead = Two-factor sign-in is on. Save these codes somewhere safe now: they are shown only this once.
recovery-help = Each code works once, instead of a code from the app, if you lose your phone.
recovery-done = I have saved them
dashboard-title = Your secrets
dashboard-new = Share a new secret
dashboard-empty = Secrets you share while signed in appear here, newest first.
dashboard-no-more = No older secrets.
dashboard-actions = Actions
dashboard-receipt = Receipt
dashboard-no-link = link not available (password reset)
dashboard-newest = Newest
dashboard-older = Older
keys-title = API keys
keys-lead = For scripts and the command-line client. Each key does only what its scopes allow.
key-name = Name
key-scopes = Scopes
scope-share = share: create secrets
scope-read = read: receipts and the list of secrets
scope-burn = burn: destroy secrets
scope-admin = admin: instance administration
key-expiry = Expires
key-never = never
key-create = Create key
key-created = created
key-last-used = last used
key-expires = expires
key-active = active
key-expired = expired
key-revoked = revoked
key-revoke = Revoke
key-invalid = A key needs a name (up to 64 characters) and at least one scope.
key-admin-only = Only admins can create keys with the admin scope.
key-new-title = Your new API key
key-new-lead = Copy it now: it is shown only this once. Only a hash of it is stored.
key-new-label = API key
password-title = Password
password-current = Current password
password-change = Change password
password-change-help = You stay signed in here; every other session ends.
password-changed = Your password was changed. Every other session was signed out.
password-wrong-current = The current password is wrong; nothing was changed.
admin-title = Administration
admin-forbidden = Only administrators can open this page.
admin-network-denied = The admin pages can't be reached from this network.
admin-usage-title = Usage
admin-usage-lead = Receipts stored, by the UTC day they were created on and their state now.
admin-usage-as-of = As of { $time }.
admin-usage-empty = Nothing is stored.
admin-usage-day = Day (UTC)
admin-state-new = New
admin-state-viewed = Receipt opened
admin-state-received = Read
admin-state-burned = Burned
admin-state-expired = Expired
admin-usage-receipts = All receipts
admin-usage-bytes = Live secrets
admin-usage-total = Total
admin-usage-help = Receipts count until the sweeper removes them after they expire. The last column is the space taken by secrets that can still be revealed.
admin-keys-title = Master keys
admin-key-id = Key
admin-key-state = State
admin-key-created = Created
admin-keys-help = Manage the keys with `once keys` on the server. Key material is never shown.
admin-locked-title = Locked two-factor sign-ins
admin-locked-none = No account is locked.
admin-locked-until = locked until
admin-users-title = Users
admin-users-search = Search by e-mail address
admin-users-search-button = Search
admin-users-none = No users found.
admin-user-role = Role
admin-user-status = Status
admin-user-2fa = Two-factor sign-in
admin-user-created = Created
admin-user-actions = Actions
admin-role-admin = Administrator
admin-role-user = User
admin-user-enabled = Active
admin-user-disabled = Disabled
admin-2fa-on = On
admin-2fa-off = Off
admin-user-you = This is you
admin-user-enable = Enable
admin-user-disable = Disable
admin-users-pages = Pages of users
admin-users-first = First page
admin-users-next = Next page
admin-user-invalid = That user can't be changed: there is no such user, or it is your own account.
only-title = Only for a signed-in recipient
only-signed-in = Only someone signed in here can open the link
only-email = Their e-mail address (optional)
only-email-help = Leave it empty for anyone with an account here.
only-2fa = And only after signing in with two-factor sign-in
error-only-email = The recipient's e-mail address is not valid.
recipient-only-title = Sign in to view
recipient-only-body = This secret is only for a signed-in recipient. Sign in as them to see it; it is still there, and nothing was used up.
recipient-only-other-account = You are signed in, but not as the recipient (or not with two-factor sign-in, if the sender asked for it).
totp-replace-password = Your password, to replace the authenticator app
totp-replace-wrong-password = The password is wrong; your authenticator app was not replaced.
error-rate-limited-title = Too many requests
error-rate-limited = Too many requests from your address. Try again in { $secs } seconds.
admin-audit-title = Audit trail
admin-audit-lead = Security events, newest first. `once audit verify` checks that none was altered; `once audit export` writes them for a SIEM.
admin-audit-empty = No events recorded yet.
admin-audit-time = Time
admin-audit-event = Event
admin-audit-outcome = Outcome
admin-audit-actor = Who
admin-audit-client = Address
admin-audit-record = Record
admin-audit-detail = Detail
access-title = Where and when it can be opened
access-help = Every limit you fill in must hold when the link is opened. Outside them the recipient sees a neutral page and nothing is used up.
access-networks = Only from these networks
access-networks-help = Addresses or CIDR ranges, separated by commas, e.g. your office's 203.0.113.0/24.
access-countries = Only from these countries
access-countries-help = Two-letter country codes, e.g. KR, JP.
access-not-before = Not before
access-tz = Time zone
access-tz-help = For "not before" and the opening hours, e.g. Asia/Seoul.
access-hours = Only during these hours
access-hours-help = Days and times, several separated by ";", e.g. mon-fri 09:00-18:00; sat 10:00-13:00.
error-access = Check the access limits.
error-access-countries = This server has no country database, so a secret can't be limited to countries.
access-denied-title = Not available here or now
access-denied-body = The sender limited where or when this secret can be opened, and this visit is outside those limits. Nothing was used up: the link still works where and when the sender allowed it.
receipt-view-log = Reveals
receipt-view-log-time = When
receipt-view-log-network = From network
receipt-view-log-unknown = unknown
receipt-view-log-help = Networks are shown coarsely (the first three parts of an IPv4 address, the first three groups of an IPv6 one), never the recipient's full address.
# File secrets (always zero-knowledge: the page's script encrypts and decrypts them).
file-field = Or share a file
file-help = Up to { $max }. Your browser encrypts the file and its name; the server sees neither.
file-remove = Remove the file
file-too-large = This file is too large ({ $size }). Files can be up to { $max }.
file-uploading = Uploading…
progress-label = Progress
size-kb = { $n } KB
size-mb = { $n } MB
size-gb = { $n } GB
preview-file-title = Someone sent you a file
preview-file-lead = A file ({ $size }) was shared with you. Your browser decrypts it; then you can save it.
reveal-file-button = Get the file
file-ready-title = Your file is ready
file-ready-lead = Your browser decrypted it. Save it now:
file-gone = This file is now gone from the server. Save it before you leave this page.
# Split secrets (`once share --split`): a link of one, and the page that combines them.
split-link-title = One link of a split secret
split-link-body = This is one of { $n } links of a split secret: any { $k } of them together rebuild it. Alone it reveals nothing, and opening it has used nothing up.
split-link-combine = Combine links
split-link-help = On the next page, add the other links you received. Your browser combines them; the server never sees their keys.
combine-title = Combine the links of a split secret
combine-lead = A split secret comes as several links, and any few of them together open it (3 of 5, for example). Paste the links you received: your browser checks them, opens only as many as it needs and puts the secret back together.
combine-needs-js = Links are combined in your browser, so that their keys never reach the server. Turn on JavaScript to use this page, or combine them with the command-line client (below).
combine-links = Links, one per line
combine-links-help = A link you open with “Combine links” is added here. The list stays in this browser tab until the secret is shown.
combine-passphrase = Passphrase
combine-passphrase-help = The sender protected these links with a passphrase. Type the one they gave you.
combine-button = Combine and reveal
combine-working = Working…
combine-note = Nothing is used up until your browser knows the secret can be rebuilt: first it checks that the links belong together and still work. Then it opens only as many as needed; each of those works once.
combine-line = line { $n }
combine-error-empty = Paste the links you received first.
combine-error-not-link = Line { $line } is not a link. Paste whole links, one per line.
combine-error-other-server = The link on line { $line } is for another server ({ $host }). This page combines only links of this server.
combine-error-not-secret = The link on line { $line } does not lead to a secret.
combine-error-no-key = The link on line { $line } has no key: the part after “#” is missing. Copy the whole link.
combine-error-ordinary = The link on line { $line } is an ordinary secret, not a link of a split secret. Open it on its own.
combine-error-damaged = The link on line { $line } is damaged: its part after “#” is not that of a split secret's link. Copy the whole link.
combine-error-conflict = The links on lines { $a } and { $b } lead to the same secret with different parts after “#”.
combine-error-mixed = These links belong to different split secrets. Give links of one split only. Nothing was used up.
combine-error-too-few = This secret needs { $k } different links of its { $n }, and you gave { $have }. Nothing was used up.
combine-error-not-split = The link on line { $line } is not a link of a split secret. Nothing was used up.
combine-error-gone = The secret needs { $k } links that still work, and only { $live } of yours do (gone: { $list }). Nothing was used up.
combine-need-passphrase = These links need the passphrase the sender gave you. Type it, then press the button again. Nothing was used up.
combine-error-passphrase = Wrong passphrase. Nothing was used up, but too many wrong tries burn a link.
combine-error-short = Only { $have } of the { $k } links needed could be opened, so the secret can't be rebuilt.
combine-error-failed = The links were opened but do not rebuild the secret: they are damaged or were not made together.
combine-used = Used up and gone now: { $list }.
combine-unused = Not needed and still working: { $list }.
combine-revealed-gone = The links used to rebuild it are gone now. Copy the secret before you leave this page.
combine-mode = Combined in your browser: the server never had the links' keys or the secret.
combine-cli-title = On the command line
combine-cli-help = The command-line client checks the links the same way before it uses any. It also reads them from a file, one a line: once combine - < links.txt
