# MAMIS — English message catalogue
site-name = MAMIS Medical Association Member Information System
site-tagline = Membership, continuing medical education, certificates — and one login per doctor — for the Japan Medical Association, the prefectural and the county associations.
nav-home = Home
nav-mypage = My Page
nav-cme = CME on-line
nav-account = Account
nav-menu = Menu
nav-office = Office
lang-switch-label = Language
lang-switch-to-other = 日本語
skip-to-content = Skip to content
footer-text = MAMIS is operated jointly by the Japan Medical Association and its member associations.
home-title = Welcome to MAMIS
home-lead = MAMIS keeps medical associations' member records, continuing-medical-education credits and certificates in one place, and gives every doctor a single login: the MAMIS_ID.
home-mamis-id-title = One login: MAMIS_ID
home-mamis-id-body = Every service, including CME on-line, is entered with your MAMIS_ID. Logging in with the old 10-digit user ID (member ID) { $ended ->
    [yes] ended at the cut-over on { $date }.
   *[no] ends at the cut-over on { $date }.
  }
home-mypage-title = My Page
home-mypage-body = Your credit status, training attendance, e-learning and journal-quiz units, and certificates to download.
home-mypage-link = Go to My Page
home-cme-title = CME on-line
home-cme-body = About the JMA continuing medical education system, news, and the members' journal quiz and e-learning.
home-cme-link = Go to CME on-line
home-office-title = For association staff
home-office-body = Membership, training and attendance, and declaration approvals are handled in the office pages. Other systems connect through the API (OpenAPI 3.1).
home-api-link = API specification (OpenAPI)
pending-title = { $feature } is coming soon
pending-body = This feature has not been released yet. Once it is, you will reach it from this page.
pending-back = Back to the home page
feature-mypage = My Page
feature-cme = CME on-line
feature-office = The office pages
error-not-found-title = Page not found
error-not-found-body = The page you are looking for does not exist or has moved. Please check the address.
error-internal-title = A system error occurred
error-internal-body = We are sorry for the inconvenience. Please try again later. If you contact us, quote this reference: { $request_id }
error-forbidden-title = This is not allowed
error-forbidden-body = You do not have permission to see this. Please ask your association's office.
error-unauthenticated-title = Please log in
error-unauthenticated-body = You need to log in to continue.
error-csrf-title = This form has expired
error-csrf-body = For your safety the submission was not accepted. Reload the previous page and submit again.
error-bad-request-title = Please check your input
error-bad-request-body = { $detail }
error-unprocessable-title = A value is outside what is allowed
error-unprocessable-body = { $detail }
error-conflict-title = This has already been registered
error-conflict-body = Please check the details.
error-unavailable-title = The service is busy
error-unavailable-body = The database cannot be reached. Please try again in a moment.
problem-unauthenticated = Send a valid API token in an Authorization: Bearer header.
problem-forbidden = This is outside the scope of this token.
problem-not-found = The requested resource does not exist.
problem-bad-request = The request is invalid: { $detail }
problem-unprocessable = A value is outside what is allowed: { $detail }
problem-conflict = The same data already exists.
problem-unavailable = The database cannot be reached; retry later.
problem-internal = A system error occurred (reference { $request_id }).
invalid-iseki = Enter the medical register number (医籍登録番号) as 1 to 7 digits (第123456号 is accepted too).
invalid-member-id = Enter the member ID as exactly 10 digits.
invalid-kana = Enter the name in katakana or hiragana.
invalid-association-code = Enter an association code: JMA, P01 to P47, or a form like P13-0001.
upload-too-large = The uploaded file is too large: the limit is 20 MB. Split the file.
invalid-value = Please check the value.
invalid-limit = limit must be an integer from 1 to 500.
invalid-offset = offset must be a whole number, 0 or more.
invalid-query = The query string could not be read; check the parameter names and values.
nav-login = Log in
nav-logout = Log out
confirm-cancel = Cancel and go back
field-required = This field is required.
field-choose = Please choose one (required).
form-error-summary = Please check what you entered
form-error-count = { $n ->
    [one] There is one problem. The link takes you to the field.
   *[other] There are { $n } problems. Each link takes you to its field.
}
password-show = Show
password-hide = Hide
sex-choose = Please choose
error-busy-title = The service is busy
error-busy-body = A large import is running, so your change could not be made. Nothing was saved. Please try again in a few seconds.
problem-busy = A large import is running, so the change was not made (nothing was saved); retry after the Retry-After seconds.
nav-office-waiting = { $n ->
    [one] { $n } item waiting
   *[other] { $n } items waiting
}
