# admin
admin-clients-title = Connected services (OpenID clients)
admin-clients-lead = The services that log people in with MAMIS_ID. A disabled service can neither log anyone in nor use its tokens.
admin-client-name = Name
admin-client-kind = Kind
admin-client-redirects = Redirect URIs (one per line, exact match)
admin-client-post-logout = After-logout addresses (one per line)
admin-client-state = State
admin-confidential = Confidential client
admin-public = Public client (PKCE only)
admin-first-party = Association service (no consent page)
admin-allow-iseki = May receive the medical register number
admin-alg = ID-token signature
admin-disable = Disable
admin-enabled = Enabled
admin-disabled = Disabled
admin-save = Save
admin-client-invalid = Not saved: { $detail }
