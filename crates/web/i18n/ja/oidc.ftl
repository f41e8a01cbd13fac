# oidc
oidc-error-title = ログイン連携のエラー
oidc-unknown-client = 連携先のサービスが登録されていないか、停止されています。サービスの提供者にお問い合わせください。
oidc-bad-redirect = 連携先のサービスの戻り先アドレスが登録と一致しません。安全のため処理を中止しました。
consent-title = { $client } への情報提供
consent-lead = { $client } が、あなたの MAMIS_ID で次の情報を利用しようとしています。よろしければ「許可する」を押してください。
consent-allow = 許可する
consent-deny = 許可しない
scope-openid = MAMIS_ID でのログイン（利用者の識別子）
scope-profile = 氏名（漢字・カナ）
scope-email = メールアドレス
scope-mamis = 医師会の会員情報（日医会員かどうか、会員種別、所属医師会、本人確認の状態）
scope-iseki = 医籍登録番号
scope-offline_access = ログアウト後も継続して利用すること（更新トークン）
oidc-repeated-parameter = 連携先のサービスからの要求に同じ項目が二度含まれていました。安全のため処理を中止しました。サービスの提供者にお問い合わせください。
oidc-logout-title = ログアウトしますか
oidc-logout-lead = 連携先のサービスから MAMIS_ID のログアウトを求められました。ログアウトすると、MAMIS_ID でログインしているすべてのサービスから、このブラウザーでの再ログインが必要になります。
oidc-logout-submit = ログアウトする
