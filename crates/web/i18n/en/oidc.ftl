# oidc
oidc-error-title = Login connection error
oidc-unknown-client = The service asking you to log in is not registered or has been disabled. Please contact its provider.
oidc-bad-redirect = The service's return address does not match its registration. The request was stopped for your safety.
consent-title = Sharing with { $client }
consent-lead = { $client } would like to use the following with your MAMIS_ID. Press "Allow" if you agree.
consent-allow = Allow
consent-deny = Do not allow
scope-openid = Logging in with your MAMIS_ID (your identifier)
scope-profile = Your name (kanji and kana)
scope-email = Your e-mail address
scope-mamis = Your medical association membership (JMA member or not, class, associations, identity check)
scope-iseki = Your medical register number (医籍登録番号)
scope-offline_access = Continued access after you log out (refresh tokens)
oidc-repeated-parameter = The service's request named the same parameter twice. It was stopped for your safety; please contact the service's provider.
oidc-logout-title = Log out?
oidc-logout-lead = A connected service asks to log you out of MAMIS_ID. After logging out, every service you use with MAMIS_ID will ask you to log in again in this browser.
oidc-logout-submit = Log out
