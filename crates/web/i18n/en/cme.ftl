# mycme: the CME record on My Page (1 credit status, 2 training attendance, 3 e-learning and journal quiz, 4 records and totals) and the credits API
mycme-status-title = Credit status
mycme-training-title = Training attendance
mycme-learning-title = E-learning and journal quiz
mycme-records-title = Records of units and curriculum codes
mycme-nav-label = Your CME record
mycme-back-to-mypage = Back to My Page
mycme-unverified-title = Your identity is not verified yet
mycme-unverified-body = Only doctors whose identity has been verified can see their CME units and records. Please complete identity verification on My Page (medical register number and the other details). If your request is being reviewed, please wait for the notice that it is done.
mycme-card-unverified = Once your identity is verified, your credit status and records appear here.
mycme-card-line = Toward the certificate, { $range }: { $total } / { $threshold }
mycme-doctor = Dr { $name } (medical register number { $iseki })
mycme-as-of = As of { $date }
mycme-fy = FY{ $year }
mycme-fy-range = FY{ $from }–FY{ $to }
mycme-list-separator = {", "}
mycme-source-training = Training session
mycme-source-e-learning = JMA e-learning
mycme-source-journal-quiz = JMA journal quiz
mycme-source-declaration = Declaration
mycme-source-staff-adjustment = Correction by association staff
mycme-source-prior-system = Imported from the prior system
mycme-window-certified = Certified
mycme-window-achieved = Certificate due
mycme-window-fell-short = Fell short
mycme-window-pending = Not decided yet
mycme-window-prior-system = Judged under the prior system
mycme-prior-year-total = { $year }: { $total }
mycme-next-title = Toward your next certificate
mycme-gauge-label = Progress toward the certificate: { $total } / { $threshold } ({ $pct }%)
mycme-explain-window = { $range }: { $units } units + { $codes } codes = { $total }.
mycme-explain-short = { " " }{ $shortfall } more to reach the certificate.
mycme-explain-reached = { " " }You have reached { $threshold }. The window is decided on { $date }.
mycme-explain-achieved = { " " }A certificate is due for this window.
mycme-achieved-line = { $range }: a certificate is due for this window.
mycme-what-if-new = The least that brings you to { $threshold }: 0.5 units in { $codes ->
        [1] one curriculum code
        [2] each of two curriculum codes
        [3] each of three curriculum codes
        [4] each of four curriculum codes
        [5] each of five curriculum codes
       *[other] each of { $codes } curriculum codes
    } you have not earned yet, { $units ->
        [one] { $units } unit
       *[other] { $units } units
    } in all (a new code adds 1 for the code on top of its units). In codes you have already earned you would need { $only ->
        [one] { $only } unit
       *[other] { $only } units
    }.
mycme-what-if-new-extra = The least that brings you to { $threshold }: 0.5 units in { $codes ->
        [1] one curriculum code
        [2] each of two curriculum codes
        [3] each of three curriculum codes
        [4] each of four curriculum codes
        [5] each of five curriculum codes
       *[other] each of { $codes } curriculum codes
    } you have not earned yet and { $extra ->
        [one] { $extra } more unit
       *[other] { $extra } more units
    } in codes you have already earned, { $units ->
        [one] { $units } unit
       *[other] { $units } units
    } in all. In codes you have already earned only you would need { $only ->
        [one] { $only } unit
       *[other] { $only } units
    }.
mycme-what-if-earned = The least that brings you to { $threshold }: { $units ->
        [one] { $units } more unit
       *[other] { $units } more units
    } in curriculum codes you have already earned.
mycme-years-title = Units by fiscal year
mycme-years-empty = No units are recorded yet.
mycme-capped = Units above a method's yearly cap (not counted)
mycme-certificates-title = Certificates
mycme-certificates-empty = No certificates are recorded yet.
mycme-windows-title = Certificate windows
mycme-windows-lead = When units plus distinct curriculum codes over three consecutive fiscal years reach 60, a JMA CME certificate is issued. Each window is decided on 1 December after its last fiscal year.
mycme-grid-title = Curriculum codes earned
mycme-grid-caption = Codes earned in { $range }: { $codes } of 84
mycme-grid-caption-none = There is no certificate window yet.
mycme-grid-earned = Earned
mycme-grid-missing = Not earned yet
mycme-col-date = Date
mycme-col-fy = Fiscal year
mycme-col-source = Method
mycme-col-code = Curriculum code
mycme-col-units = Units
mycme-col-codes = Codes
mycme-col-total = Units + codes
mycme-col-by-source = Units by method
mycme-col-note = Details
mycme-col-number = Certificate number
mycme-col-window = Window
mycme-col-issued = Issued on
mycme-col-status = Decision
mycme-col-decision = Decided on
mycme-col-years-earned = Fiscal years earned
mycme-reversal = Reversal
mycme-reversed = Reversed
mycme-training-lead = Units earned by attending training sessions, newest first. Details show the session's title.
mycme-training-empty = No training attendance is recorded yet. Sessions whose attendance is kept in MAMIS appear here once you attend.
mycme-learning-lead = Units earned through JMA e-learning and the JMA journal quiz, newest first.
mycme-learning-empty = No e-learning or journal quiz units yet. You can take them on the CME portal.
mycme-learning-members-only = JMA e-learning and the JMA journal quiz are learning methods for members of the Japan Medical Association only, so this page is shown to members only.
mycme-learning-members-only-more = Units from training sessions and declarations are open to everyone; see "Credit status" and "Records of units and curriculum codes". To join, please ask your prefectural or local medical association.
mycme-learning-portal-link = About the CME portal
mycme-records-lead = Every record of units, with totals by fiscal year and by curriculum code. Narrow them down by year, code or method.
mycme-filter-any = All
mycme-filter-submit = Filter
mycme-filter-clear = Clear the filter
mycme-filter-bad-fy = Give the fiscal year (fy) as a four-digit year such as 2025.
mycme-filter-bad-code = Give the curriculum code (code) as a number from 0 to 83.
mycme-filter-bad-source = Give the method (source) as one of training, e_learning, journal_quiz, declaration, staff_adjustment or prior_system.
mycme-filter-unknown = Only the fiscal year (fy), curriculum code (code) and method (source) can be used as filters; check the address.
mycme-records-entries = Records
mycme-records-empty = No records match the filter.
mycme-records-sum = Total units of the records shown
mycme-records-per-year = Totals by fiscal year
mycme-records-per-code = Totals by curriculum code
mycme-api-login-required = Log in to My Page first (this API uses the My Page login).
mycme-api-not-verified = Only the account of a doctor whose identity is verified can use this.
mycme-api-session-cannot-write = Corrections and reversals need an API token (Authorization: Bearer); a My Page login cannot change credits.
mycme-api-bad-json = The body could not be read as a JSON object.
mycme-api-unknown-field = The body has a field that is not accepted; check the API description for the fields.
mycme-api-bad-date = Give date as an ISO date such as 2025-06-01.
mycme-api-negative-net = This adjustment is refused: it would take the net of curriculum code { $code } in FY{ $year } below zero (net now { $total }, adjustment { $extra }; by method: { $detail }). To cancel an entry, reverse it instead.
mycme-api-bad-entry-id = Give the entry id as a UUID.
mycme-credit-zero = units must not be 0.
mycme-credit-bad-amount = Give units as a multiple of 0.5 from -100 to 100, as a number or a string such as "1.5".
mycme-credit-unknown-code = Give code as a curriculum code of the current catalogue, 0 to 83.
mycme-credit-bad-reason = Give a reason of 1 to 500 characters.
mycme-credit-future-date = date must not be in the future.
mycme-credit-reversal-of-reversal = A reversal cannot be reversed; add a new correction instead.
mycme-credit-already-reversed = This entry is already reversed.
