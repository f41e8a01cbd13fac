# admin
admin-clients-title = 連携サービス(OpenID クライアント)
admin-clients-lead = MAMIS_ID でログインするサービスの一覧です。停止すると、そのサービスはログインもトークンの利用もできなくなります。
admin-client-name = 名称
admin-client-kind = 種類
admin-client-redirects = 戻り先アドレス(1行に1つ、完全一致)
admin-client-post-logout = ログアウト後の戻り先(1行に1つ)
admin-client-state = 状態
admin-confidential = 機密クライアント
admin-public = 公開クライアント(PKCE のみ)
admin-first-party = 医師会のサービス(同意画面なし)
admin-allow-iseki = 医籍登録番号の提供を許可
admin-alg = ID トークンの署名方式
admin-disable = 停止する
admin-enabled = 利用中
admin-disabled = 停止中
admin-save = 保存する
admin-client-invalid = 保存できませんでした: { $detail }
