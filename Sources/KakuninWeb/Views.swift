import Foundation
import Mustache

/// The console's pages: mustache templates compiled into the binary (the console needs no
/// files beside it), one layout, one stylesheet. `{{x}}` escapes HTML; `{{{x}}}` is used only
/// for HTML the server made itself (the layout's body, the auditors' report).
struct Views: Sendable {
    let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        for (name, text) in Self.templates { try library.register(text, named: name) }
        self.library = library
    }

    /// Renders page `name` inside the layout.
    func render(_ name: String, _ data: [String: Any], title: String, person: Person?, flash: String? = nil) -> String {
        let body = library.render(Self.withoutEmpty(data), withTemplate: name) ?? ""
        return layout(body: body, title: title, person: person, flash: flash)
    }

    func layout(body: String, title: String, person: Person?, flash: String? = nil) -> String {
        var page: [String: Any] = ["title": title, "body": body]
        if let flash { page["flash"] = flash }
        if let person {
            var nav: [[String: Any]] = []
            switch person.role {
            case .counter:
                nav = [["href": "/members", "label": "加入者検索"]]
            case .auditor:
                nav = [["href": "/runs", "label": "実行一覧"], ["href": "/members", "label": "加入者検索"], ["href": "/audit", "label": "監査ログ"]]
            case .operator:
                nav = [["href": "/operations", "label": "運用状況"], ["href": "/runs", "label": "実行一覧"]]
            case .admin:
                nav = [["href": "/runs", "label": "実行一覧"], ["href": "/operations", "label": "運用状況"], ["href": "/members", "label": "加入者検索"],
                       ["href": "/audit", "label": "監査ログ"], ["href": "/users", "label": "利用者"]]
            }
            page["person"] = ["name": person.name, "roleName": person.role.japanese, "csrf": person.csrf, "nav": nav,
                              "insurers": person.insurers.joined(separator: "・")]
        }
        return library.render(Self.withoutEmpty(page), withTemplate: "layout") ?? ""
    }

    /// Mustache treats "" as true in `{{#x}}`: empty strings are dropped, so a section shows
    /// only when there is something to show.
    static func withoutEmpty(_ value: Any) -> Any {
        if let d = value as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, v) in d where !((v as? String)?.isEmpty ?? false) { out[k] = withoutEmpty(v) }
            return out
        }
        if let a = value as? [[String: Any]] { return a.map { withoutEmpty($0) } }
        return value
    }

    func error(title: String, message: String, fix: String?, person: Person?) -> String {
        render("error", ["title": title, "message": message, "fix": fix ?? ""], title: title, person: person)
    }

    func login(csrf: String, error: String?, username: String?, next: String?) -> String {
        render("login", ["csrf": csrf, "error": error ?? "", "username": username ?? "", "next": next ?? ""], title: "ログイン", person: nil)
    }

    static let templates: [String: String] = [
        "layout": """
            <!DOCTYPE html>
            <html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{{title}} — kakunin 資格確認書</title><link rel="stylesheet" href="/static/console.css"></head>
            <body><a class="skip" href="#main">本文へ移動</a>
            <header class="top"><span class="brand">kakunin 資格確認書</span>
            {{#person}}<nav aria-label="メニュー">{{#nav}}<a href="{{href}}">{{label}}</a>{{/nav}}</nav>
            <form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="{{csrf}}">
            <span class="who">{{name}}（{{roleName}}{{#insurers}}・保険者 {{insurers}}{{/insurers}}）</span>
            <button type="submit" class="secondary">ログアウト</button></form>{{/person}}
            </header>
            <main id="main">{{#flash}}<p class="flash" role="status">{{flash}}</p>{{/flash}}
            {{{body}}}</main></body></html>
            """,
        "error": """
            <h1>{{title}}</h1><div class="error" role="alert"><p>{{message}}</p>{{#fix}}<p class="fix">対処：{{fix}}</p>{{/fix}}</div>
            <p><a href="/">最初の画面へ</a></p>
            """,
        "login": """
            <h1>ログイン</h1>
            <form method="post" action="/login" class="narrow">
            <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="next" value="{{next}}">
            {{#error}}<p class="error" role="alert" id="login-error">{{error}}</p>{{/error}}
            <label for="username">ユーザー名</label>
            <input id="username" name="username" value="{{username}}" autocomplete="username" required autofocus>
            <label for="password">パスワード</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required>
            <button type="submit" class="primary">ログイン</button>
            </form>
            """,
        "members": """
            <h1>加入者検索</h1>
            <form method="get" action="/members" class="search" role="search">
            <div class="field"><label for="q">加入者ID・カナ氏名（前方一致）・郵便番号</label>
            <input id="q" name="q" value="{{q}}" placeholder="例：ヤマダ タロウ／加入者ID／100-0001" autofocus>
            {{#errors.q}}<p class="field-error" id="q-error">{{errors.q}}</p>{{/errors.q}}</div>
            <div class="field"><label for="birth">生年月日（任意）</label><input id="birth" name="birth" type="text" autocomplete="off" value="{{birth}}" placeholder="例：昭和25年4月1日">
            {{#errors.birth}}<p class="field-error">{{errors.birth}}</p>{{/errors.birth}}</div>
            <div class="field"><label for="insurer">保険者</label><select id="insurer" name="insurer">
            {{#insurerChoices}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/insurerChoices}}</select></div>
            <button type="submit" class="primary">検索</button></form>
            {{#searched}}
            {{^empty(hits)}}<table class="list" data-fetched="{{fetched}}"><caption>検索結果（{{resultRange}}）</caption>
            <thead><tr><th scope="col">保険者</th><th scope="col">加入者ID</th><th scope="col">氏名</th><th scope="col">カナ</th><th scope="col">生年月日</th><th scope="col">制度</th></tr></thead><tbody>
            {{/empty(hits)}}{{#hits}}<tr><td>{{insurer}}</td><td><a href="/members/{{insurer}}/{{member_id}}">{{member_id}}</a></td><td>{{name}}</td><td>{{kana}}</td><td>{{birth}}</td><td>{{scheme}}</td></tr>
            {{/hits}}{{^empty(hits)}}</tbody></table>{{/empty(hits)}}
            {{^hits}}<p class="empty" id="no-result">該当する加入者はいません。</p>{{/hits}}
            {{> pager}}
            {{/searched}}
            """,
        "pager": """
            {{#pager}}<nav class="pager" aria-label="ページ">{{#prev}}<a href="{{prev}}" rel="prev">← 前へ</a>{{/prev}}
            <span>{{page}} ページ</span>{{#next}}<a href="{{next}}" rel="next">次へ →</a>{{/next}}</nav>{{/pager}}
            """,
        "member": """
            <p class="crumbs"><a href="/members">加入者検索</a> › {{insurer}} › {{member_id}}</p>
            <h1>{{name}} <span class="kana">{{kana}}</span></h1>
            <dl class="facts">
            <dt>加入者ID</dt><dd id="member-id">{{member_id}}</dd><dt>保険者</dt><dd>{{insurer}}</dd>
            <dt>生年月日</dt><dd>{{birth}}</dd><dt>性別</dt><dd>{{sex}}</dd><dt>制度</dt><dd>{{scheme}}</dd>
            <dt>記号・番号・枝番</dt><dd>{{symbol}}・{{number}}・{{branch}}</dd>
            <dt>資格取得日</dt><dd>{{qualified_on}}</dd><dt>資格喪失日</dt><dd>{{disqualified_on}}</dd>
            <dt>住所</dt><dd id="address">{{#postal_code}}{{postal_code}} {{/postal_code}}{{address}} {{address_extra}}{{^address}}<span class="warn">（住所の記録がありません：郵送できません）</span>{{/address}}</dd><dt>世帯</dt><dd>{{household_id}}{{#is_head}}（世帯主）{{/is_head}}</dd>
            </dl>
            {{#printed}}<section aria-labelledby="printed-h" id="printed"><h2 id="printed-h">資格確認書の印字内容（本日交付の場合）</h2>
            <dl class="facts"><dt>表題</dt><dd id="printed-title">{{title}}{{#special}}<span class="warn">（特別療養費の対象世帯）</span>{{/special}}</dd>
            {{#lines}}<dt>{{label}}</dt><dd>{{text}}</dd>{{/lines}}</dl></section>{{/printed}}
            {{#done}}<p class="flash" role="status" id="done">{{done}}</p>{{/done}}
            {{#formError}}<div class="error" role="alert" id="form-error"><p>{{formError.message}}</p>{{#formError.fix}}<p class="fix">対処：{{formError.fix}}</p>{{/formError.fix}}</div>{{/formError}}
            {{#canAct}}<section class="actions" aria-labelledby="act-h"><h2 id="act-h">窓口での手続</h2>
            <p><a class="button primary" href="/members/{{insurer}}/{{member_id}}/issue" id="issue-link">資格確認書を窓口で交付する</a></p>
            <details{{#open.application}} open{{/open.application}}><summary>申請を受け付ける</summary>
            <form method="post" action="/members/{{insurer}}/{{member_id}}/applications" class="inline-form" id="application-form">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <div class="field"><label for="kind">申請の種類</label><select id="kind" name="kind" required>
            {{#kinds}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/kinds}}</select>
            {{#errors.kind}}<p class="field-error" id="kind-error">{{errors.kind}}</p>{{/errors.kind}}</div>
            <div class="field"><label for="basis">配慮が必要な理由（配慮申請では必須）</label><select id="basis" name="basis">{{#bases}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/bases}}</select>
            {{#errors.basis}}<p class="field-error" id="basis-error">{{errors.basis}}</p>{{/errors.basis}}</div>
            <div class="field"><label for="received_on">受付日</label><input id="received_on" name="received_on" type="text" inputmode="text" autocomplete="off" value="{{form.received_on}}" placeholder="例：令和8年12月6日／2026-12-06／20261206" required>
            {{#errors.received_on}}<p class="field-error" id="received_on-error">{{errors.received_on}}</p>{{/errors.received_on}}</div>
            <div class="field"><label for="status">審査</label><select id="status" name="status"><option value="pending">審査中</option><option value="approved"{{#form.approved}} selected{{/form.approved}}>承認済み</option></select></div>
            <div class="field"><label for="note">メモ（任意）</label><input id="note" name="note" value="{{form.note}}"></div>
            <button type="submit" class="primary">確認へ進む</button></form></details>
            <details{{#open.reissue}} open{{/open.reissue}}><summary>再交付（紛失・破損）</summary>
            <form method="post" action="/members/{{insurer}}/{{member_id}}/reissue" class="inline-form" id="reissue-form">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <div class="field"><label for="reissue_note">理由（紛失・破損など）</label><input id="reissue_note" name="note" required value="{{form.reissue_note}}">
            {{#errors.reissue_note}}<p class="field-error">{{errors.reissue_note}}</p>{{/errors.reissue_note}}</div>
            <button type="submit" class="primary">確認へ進む</button></form></details>
            {{#considerationActive}}<details{{#open.consideration}} open{{/open.consideration}}><summary>配慮の取扱いを終了する</summary>
            <form method="post" action="/members/{{insurer}}/{{member_id}}/consideration-end" class="inline-form">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <div class="field"><label for="end_reason">終了の理由</label><input id="end_reason" name="reason" required>
            {{#errors.end_reason}}<p class="field-error">{{errors.end_reason}}</p>{{/errors.end_reason}}</div>
            <button type="submit" class="danger">確認へ進む</button></form></details>{{/considerationActive}}
            </section>{{/canAct}}
            <section aria-labelledby="cert-h"><h2 id="cert-h">資格確認書</h2>
            {{^certificates}}<p class="empty">交付はまだありません。</p>{{/certificates}}
            {{^empty(certificates)}}<table class="list"><thead><tr><th>番号</th><th>種類</th><th>有効期間</th><th>交付日</th><th>状態</th><th>送付</th><th>手続</th></tr></thead><tbody>{{/empty(certificates)}}
            {{#certificates}}<tr id="cert-{{certificate_number}}"><td>{{certificate_number}}</td><td>{{kind}}<br>{{#reasons}}<code>{{code}}</code> <small>{{text}}</small><br>{{/reasons}}</td><td>{{valid}}</td><td>{{issued_on}}</td>
            <td>{{status}}{{#voided_on}}（{{voided_on}} {{void_reason}}）{{/voided_on}}{{#replaces_certificate_number}}<br><small>確認書 {{replaces_certificate_number}} に代わるもの</small>{{/replaces_certificate_number}}</td><td>{{delivery}}{{#what_to_do}}<br><span class="warn">{{what_to_do}}</span>{{/what_to_do}}</td>
            <td>{{#active}}{{#canAct}}<a href="/certificates/{{insurer}}/{{certificate_number}}/print">印刷</a>
            {{#mayReturn}}<details><summary>返戻を記録</summary><form method="post" action="/certificates/{{insurer}}/{{certificate_number}}/return">
            <input type="hidden" name="csrf" value="{{csrf}}"><label for="ret-{{certificate_number}}">返戻日</label><input id="ret-{{certificate_number}}" name="on" type="text" autocomplete="off" value="{{today}}" required>
            <label for="retnote-{{certificate_number}}">メモ</label><input id="retnote-{{certificate_number}}" name="note"><button type="submit">確認へ進む</button></form></details>{{/mayReturn}}
            <details><summary>無効にする</summary><form method="post" action="/certificates/{{insurer}}/{{certificate_number}}/void">
            <input type="hidden" name="csrf" value="{{csrf}}"><label for="void-{{certificate_number}}">理由</label><input id="void-{{certificate_number}}" name="reason" required>
            <button type="submit" class="danger">確認へ進む</button></form></details>{{/canAct}}{{/active}}</td></tr>
            {{/certificates}}{{^empty(certificates)}}</tbody></table>{{/empty(certificates)}}</section>
            {{#letter}}<section aria-labelledby="letter-h" id="member-letter"><h2 id="letter-h">同封のお知らせ（確認書 {{certificate_number}} に添える手紙・日本語）</h2>
            {{#paragraphs}}<p>{{.}}</p>{{/paragraphs}}
            <p><a href="/certificates/{{insurer}}/{{certificate_number}}/print?letter=member" id="letter-member">本人の言語で手紙を印刷</a>
            <a href="/certificates/{{insurer}}/{{certificate_number}}/print?letter=ja">日本語で手紙を印刷</a></p></section>{{/letter}}
            <section aria-labelledby="dec-h"><h2 id="dec-h">判定の履歴と説明</h2>
            {{^decisions}}<p class="empty">夜間処理の判定はまだありません。</p>{{/decisions}}
            {{^empty(decisions)}}<table class="list"><thead><tr><th>基準日</th><th>実行</th><th>結果</th><th>理由</th><th>有効期間</th><th>説明</th></tr></thead><tbody>{{/empty(decisions)}}
            {{#decisions}}<tr><td>{{as_of_era}}</td><td>{{run_id}}</td><td>{{outcome}}</td><td>{{#reasons}}<code>{{code}}</code> {{text}}<br>{{/reasons}}</td><td>{{valid}}</td>
            <td><a href="/members/{{insurer}}/{{member_id}}/explain?run={{run_id}}">なぜこの判定か</a></td></tr>{{/decisions}}
            {{^empty(decisions)}}</tbody></table>{{/empty(decisions)}}
            <p><a href="/members/{{insurer}}/{{member_id}}/explain">今日の判定を説明する</a></p></section>
            <section aria-labelledby="app-h"><h2 id="app-h">申請</h2>
            {{^applications}}<p class="empty">申請はありません。</p>{{/applications}}
            {{^empty(applications)}}<table class="list"><thead><tr><th>番号</th><th>種類</th><th>受付日</th><th>状態</th><th>経路</th><th>手続</th></tr></thead><tbody>{{/empty(applications)}}
            {{#applications}}<tr id="app-{{application_id}}"><td>{{application_id}}</td><td>{{kind}}{{#basis}}（{{basis_label}}）{{/basis}}</td><td>{{received_on}}</td><td>{{status}}{{#reject_reason}}（{{reject_reason}}）{{/reject_reason}}{{#fulfilled_certificate_number}}→ 確認書 {{fulfilled_certificate_number}}{{/fulfilled_certificate_number}}</td><td>{{source}}</td>
            <td>{{#pending}}{{#canAct}}<form method="post" action="/applications/{{insurer}}/{{application_id}}/decide" class="row-form"><input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" name="decision" value="approve">承認…</button>
            <label for="rej-{{application_id}}">却下の理由</label><input id="rej-{{application_id}}" name="reason"><button type="submit" name="decision" value="reject" class="danger">却下…</button></form>{{/canAct}}{{/pending}}</td></tr>{{/applications}}
            {{^empty(applications)}}</tbody></table>{{/empty(applications)}}</section>
            <section aria-labelledby="notice-h"><h2 id="notice-h">通知</h2>
            {{^notices}}<p class="empty">通知はありません。</p>{{/notices}}
            {{^empty(notices)}}<table class="list"><thead><tr><th>種類</th><th>送付日</th><th>理由</th><th>実行</th><th>手続</th></tr></thead><tbody>{{/empty(notices)}}
            {{#notices}}<tr><td>{{kind}}</td><td>{{sent_on_era}}</td><td>{{#reasons}}<code>{{code}}</code> {{text}}<br>{{/reasons}}</td><td>{{run_id}}</td><td>{{#canAct}}{{#mayReturn}}<details><summary>返戻を記録</summary>
            <form method="post" action="/members/{{insurer}}/{{member_id}}/notice-return" class="notice-return">
            <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="kind" value="{{kind_code}}"><input type="hidden" name="run" value="{{run_id}}">
            <label for="nret-{{kind_code}}-{{run_id}}">返戻日</label><input id="nret-{{kind_code}}-{{run_id}}" name="on" type="text" autocomplete="off" required placeholder="例：令和8年12月6日">
            <label for="nretnote-{{kind_code}}-{{run_id}}">メモ</label><input id="nretnote-{{kind_code}}-{{run_id}}" name="note">
            <button type="submit">確認へ進む</button></form></details>{{/mayReturn}}{{/canAct}}</td></tr>{{/notices}}
            {{^empty(notices)}}</tbody></table>{{/empty(notices)}}</section>
            <section aria-labelledby="ret-h"><h2 id="ret-h">郵便の返戻</h2>
            {{^returns}}<p class="empty">返戻はありません。</p>{{/returns}}
            {{^empty(returns)}}<table class="list" id="returns"><thead><tr><th>返戻日</th><th>書類</th><th>メモ</th><th>この後</th></tr></thead><tbody>{{/empty(returns)}}
            {{#returns}}<tr id="return-{{return_id}}"><td>{{returned_on}}</td><td>{{document}} {{certificate_number}}{{#notice_run_id}}（実行 {{notice_run_id}}）{{/notice_run_id}}</td><td>{{note}}</td><td>{{what_to_do}}</td></tr>{{/returns}}
            {{^empty(returns)}}</tbody></table>{{/empty(returns)}}</section>
            <section aria-labelledby="myna-h"><h2 id="myna-h">マイナ保険証の状況</h2>
            {{^myna}}<p class="empty">記録はありません。</p>{{/myna}}
            {{#myna}}<p>{{status_as_of}}時点：カード{{has_card}}・{{registration}}・カードの状態 {{card_state}}{{#ecert_expiry}}・電子証明書の有効期限 {{ecert_expiry}}{{/ecert_expiry}}</p>{{/myna}}</section>
            """,
        "explain": """
            <p class="crumbs"><a href="/members/{{insurer}}/{{member_id}}">加入者 {{member_id}}</a> › 判定の説明</p>
            <h1 id="explains">{{heading}}（基準日 {{as_of_era}}）</h1>
            {{#run}}<p class="note">実行 {{run_id}} が読んだ事実とその実行のパラメータで判定を説明しています（今日のデータではありません）。
            {{#stored}}<br><span class="warn">この実行が記録した判定：{{stored}}（現在のプログラムでは下記のとおり）</span>{{/stored}}</p>
            <p><a href="/members/{{insurer}}/{{member_id}}/explain">今日の判定を説明する</a></p>{{/run}}
            {{^run}}<p class="note">現在のデータと基準日に有効なパラメータによる判定です。過去の実行の判定は「判定の履歴」の各行から開いてください。</p>{{/run}}
            <p class="outcome" id="outcome">結果：<strong>{{outcome}}</strong> <code>{{outcome_code}}</code>{{#valid}}　有効期間 {{valid}}{{/valid}}</p>
            <h2>理由</h2><ul>{{#reasons}}<li><code>{{code}}</code> {{text}}</li>{{/reasons}}</ul>
            <details><summary>判定の手順（プログラムの記録）</summary><ol class="steps">{{#steps}}<li>{{#parts}}{{plain}}{{#ident}}<code>{{.}}</code>{{/ident}}{{/parts}}</li>{{/steps}}</ol></details>
            <p class="note">保険者名称：{{insurer_name}}　{{parameters}}　ハッシュ値 <code>{{sha}}</code></p>
            """,
        "issue_confirm": """
            <p class="crumbs"><a href="/members/{{insurer}}/{{member_id}}">加入者 {{member_id}}</a> › 窓口交付</p>
            <h1>窓口交付の確認</h1>
            <dl class="facts"><dt>氏名</dt><dd>{{name}}</dd><dt>基準日</dt><dd>{{as_of_era}}</dd>
            <dt>判定</dt><dd id="confirm-outcome">{{outcome}} <code>{{outcome_code}}</code></dd>{{#valid}}<dt>有効期間</dt><dd>{{valid}}</dd>{{/valid}}
            <dt>理由</dt><dd>{{#reasons}}<code>{{code}}</code> {{text}}<br>{{/reasons}}</dd>
            {{#replaces}}<dt>無効になる確認書</dt><dd>{{replaces}}</dd>{{/replaces}}</dl>
            {{#issues}}<form method="post" action="/members/{{insurer}}/{{member_id}}/issue"><input type="hidden" name="csrf" value="{{csrf}}">
            <input type="hidden" name="as_of" value="{{as_of}}">
            <p>内容を確認し、本人確認のうえ交付してください。まだ何も記録していません。</p>
            <button type="submit" class="primary" id="confirm-issue">交付する</button> <a href="/members/{{insurer}}/{{member_id}}">やめる</a></form>{{/issues}}
            {{^issues}}<p class="warn" id="nothing-to-issue">この方には今日交付するものがありません。</p>
            <details><summary>判定の手順（プログラムの記録）</summary><ol class="steps">{{#steps}}<li>{{#parts}}{{plain}}{{#ident}}<code>{{.}}</code>{{/ident}}{{/parts}}</li>{{/steps}}</ol></details><p><a href="/members/{{insurer}}/{{member_id}}">加入者の画面へ戻る</a></p>{{/issues}}
            """,
        "confirm": """
            <h1>{{title}}</h1>
            <p>次の内容で記録します。よろしければ下のボタンを押してください。まだ何も記録していません。</p>
            <dl class="facts" id="confirm-rows">{{#rows}}<dt>{{label}}</dt><dd>{{value}}</dd>{{/rows}}</dl>
            {{#warning}}<p class="warn" id="confirm-warning">{{warning}}</p>{{/warning}}
            <form method="post" action="{{action}}" id="confirm-form"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="confirm" value="1">
            {{#hidden}}<input type="hidden" name="{{name}}" value="{{value}}">{{/hidden}}
            <button type="submit" class="primary" id="confirm-record">{{button}}</button> <a href="{{back}}" id="confirm-back">やめて戻る</a></form>
            """,
        "issued": """
            <h1>交付しました</h1>
            <dl class="facts"><dt>確認書番号</dt><dd id="issued-number">{{certificate_number}}</dd><dt>氏名</dt><dd>{{name}}</dd>
            <dt>有効期限</dt><dd>{{valid_to_era}}</dd>{{#replaces}}<dt>無効にした確認書</dt><dd>{{replaces}}</dd>{{/replaces}}</dl>
            <p><a class="button primary" href="/certificates/{{insurer}}/{{certificate_number}}/print?paper=card" id="print-card">カードサイズで印刷</a>
            <a class="button" href="/certificates/{{insurer}}/{{certificate_number}}/print?paper=postcard">はがきサイズで印刷</a>
            <a class="button" href="/certificates/{{insurer}}/{{certificate_number}}/print?letter=member" id="print-letter">説明の手紙を印刷（本人の言語）</a></p>
            <p><a href="/members/{{insurer}}/{{member_id}}">加入者の画面へ戻る</a></p>
            """,
        "runs": """
            <h1>実行一覧</h1>
            <form method="get" action="/runs" class="search">
            <div class="field"><label for="insurer">保険者</label><select id="insurer" name="insurer">{{#insurerChoices}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/insurerChoices}}</select></div>
            <div class="field"><label for="from">基準日（から）</label><input id="from" name="from" type="text" autocomplete="off" value="{{from}}" placeholder="例：令和8年12月1日"></div>
            <div class="field"><label for="to">基準日（まで）</label><input id="to" name="to" type="text" autocomplete="off" value="{{to}}" placeholder="例：20261206"></div>
            <button type="submit" class="primary">絞り込む</button></form>
            {{#dateError}}<p class="field-error">{{dateError}}</p>{{/dateError}}
            {{^runs}}<p class="empty">実行はありません。</p>{{/runs}}
            {{^empty(runs)}}<table class="list"><thead><tr><th>実行</th><th>保険者</th><th>基準日</th><th>ジョブ</th><th>状態</th><th>段階</th><th>試行</th><th>開始（日本時間）</th><th>所要</th><th>件数</th></tr></thead><tbody>{{/empty(runs)}}
            {{#runs}}<tr{{#abandoned}} class="abandoned"{{/abandoned}}><td><a href="/runs/{{run_id}}">{{run_id}}</a></td><td>{{insurer}}</td><td>{{as_of}}</td><td><code>{{job}}</code></td>
            <td>{{status}}{{#abandoned}} <strong class="warn">（ロック期限切れ）</strong>{{/abandoned}}</td><td>{{phase}}</td><td>{{attempts}}</td><td>{{started}}</td><td>{{seconds}}</td><td class="n">{{decisions}}</td></tr>{{/runs}}
            {{^empty(runs)}}</tbody></table>{{/empty(runs)}}
            {{> pager}}
            """,
        "drill": """
            <p class="crumbs"><a href="/runs/{{run_id}}">実行 {{run_id}} の報告書</a> › 内訳</p>
            <h1>{{heading}}</h1>
            {{^members}}<p class="empty">該当する方はいません。</p>{{/members}}
            {{^empty(members)}}<table class="list"><thead><tr><th>加入者ID</th>{{#change}}<th>前回</th>{{/change}}<th>結果</th><th>理由</th><th>制度</th><th>説明</th></tr></thead><tbody>{{/empty(members)}}
            {{#members}}<tr><td><a href="/members/{{insurer}}/{{member}}">{{member}}</a></td>{{#change}}<td>{{previous}}</td>{{/change}}<td>{{outcome}}</td><td>{{#reasons}}<code>{{code}}</code> {{text}}<br>{{/reasons}}</td><td>{{scheme}}</td>
            <td><a href="/members/{{insurer}}/{{member}}/explain?run={{run_id}}">なぜこの判定か</a></td></tr>{{/members}}
            {{^empty(members)}}</tbody></table>{{/empty(members)}}
            {{> pager}}
            """,
        "audit": """
            <h1>監査ログ</h1>
            <dl class="facts"><dt>ログの件数</dt><dd id="log-size">{{logSize}}</dd></dl>
            <h2>最新の確認点（署名付きのログの要約）</h2>
            {{^checkpoint}}<p class="empty">確認点はまだありません。夜間処理が終わると作られます。</p>{{/checkpoint}}
            {{#checkpoint}}<dl class="facts"><dt>番号</dt><dd>{{id}}</dd><dt>対象の件数</dt><dd>{{size}}</dd><dt>作成</dt><dd>{{created}}</dd><dt>要約値</dt><dd><code>{{root}}</code></dd></dl>
            <details><summary>署名された本文</summary><pre><code>{{text}}</code></pre></details>
            {{#verifying}}<div class="warn" id="verify-running" role="status" data-job="{{number}}"><p>検証 {{number}} を実行中です（{{started}} 開始）。終わるまで新しい検証は始めません。しばらくしてから再読み込みしてください。</p></div>{{/verifying}}
            {{#verified}}<div class="{{#ok}}ok{{/ok}}{{^ok}}error{{/ok}}" id="verify-result" role="status" data-job="{{number}}"><p>{{summary}}</p>{{#detail}}<p>{{detail}}</p>{{/detail}}<p>（検証 {{number}}、{{started}} 開始）</p></div>{{/verified}}
            {{^verifying}}{{#canVerify}}<form method="get" action="/audit"><input type="hidden" name="verify" value="1"><button type="submit" class="primary" id="verify">ログ全体を検証する</button>
            <span class="note">すべての記録から要約値を計算し直し、署名と照らし合わせます。</span></form>{{/canVerify}}
            {{^canVerify}}<p class="warn">検証用の公開鍵が設定されていないため、ここでは検証できません。運用担当に設定を依頼してください。</p>{{/canVerify}}{{/verifying}}
            <h2>資格確認書がログに含まれることの証明</h2>
            <form method="get" action="/audit/proof" class="search"><div class="field"><label for="p-insurer">保険者番号</label><input id="p-insurer" name="insurer" required></div>
            <div class="field"><label for="p-cert">確認書番号</label><input id="p-cert" name="certificate" required inputmode="numeric"></div>
            <button type="submit" class="primary">証明をダウンロード</button></form>
            <p class="note">ダウンロードした証明は、公開鍵だけで（データベースを使わずに）確かめられます。手順は運用の手引きにあります。</p>{{/checkpoint}}
            """,
        "operations": """
            <h1>運用状況</h1>
            <h2>保険者ごとの状態</h2>
            {{^health}}<p class="empty">保険者が登録されていません。</p>{{/health}}
            {{#health}}<div class="health health-{{level}}" id="health-{{insurer}}" role="status"><p><strong>{{insurer}}：{{word}}</strong>　{{summary}}</p>{{#todo}}<p class="todo">対処：{{todo}}</p>{{/todo}}</div>{{/health}}
            <h2>保険者ごとの最新の実行</h2>
            {{^latest}}<p class="empty">実行はありません。</p>{{/latest}}
            {{^empty(latest)}}<table class="list"><thead><tr><th>保険者</th><th>実行</th><th>基準日</th><th>状態</th><th>段階</th><th>試行</th><th>開始（日本時間）</th><th>所要</th><th>保留</th><th>未送付</th></tr></thead><tbody>{{/empty(latest)}}
            {{#latest}}<tr{{#abandoned}} class="abandoned"{{/abandoned}}><td>{{insurer}}</td><td><a href="/runs/{{run_id}}">{{run_id}}</a></td><td>{{as_of}}</td><td>{{status}}</td><td>{{phase}}</td><td>{{attempts}}</td><td>{{started}}</td><td>{{seconds}}</td><td class="n">{{held}}</td><td class="n">{{waiting}}</td></tr>{{/latest}}
            {{^empty(latest)}}</tbody></table>{{/empty(latest)}}
            {{{trends}}}
            <h2>保留中の方（理由別）</h2>
            {{^groups}}<p class="empty">保留はありません。</p>{{/groups}}
            {{#groups}}<h3 id="held-{{insurer}}-{{code}}">{{insurer}}：<code>{{code}}</code> {{text}}（{{count}} 人）</h3><p class="waiting">待っていること：{{waiting}}</p>
            <ul class="compact">{{#members}}<li>{{#linkMembers}}<a href="/members/{{insurer}}/{{id}}">{{id}}</a>{{/linkMembers}}{{^linkMembers}}<code>{{id}}</code>{{/linkMembers}}</li>{{/members}}</ul>
            {{#more}}<p><a href="/operations?insurer={{insurer}}&amp;code={{code}}&amp;page={{nextPage}}">さらに表示 →</a></p>{{/more}}{{/groups}}
            {{> pager}}
            {{^empty(waitingDocs)}}<h2>送付ファイルに載らず職員の対応を待つ書類（最初の 50 件）</h2>
            <table class="list"><thead><tr><th>保険者</th><th>加入者ID</th><th>書類</th><th>理由</th></tr></thead><tbody>
            {{#waitingDocs}}<tr><td>{{insurer}}</td><td><code>{{member}}</code></td><td>{{document}}</td><td><code>{{problem}}</code></td></tr>{{/waitingDocs}}
            </tbody></table><p class="note">窓口担当が加入者の画面から印刷してお渡しするか、記録を訂正してください。</p>{{/empty(waitingDocs)}}
            """,
        "users": """
            <h1>利用者</h1>
            <p>利用者の追加は運用担当がサーバーで行います（パスワードはその場で本人が入力します）。</p>
            <table class="list"><thead><tr><th>ユーザー名</th><th>役割</th><th>保険者</th><th>作成（日本時間）</th><th>最終ログイン（日本時間）</th><th>状態</th><th></th></tr></thead><tbody>
            {{#users}}<tr id="user-{{name}}"><td><code>{{name}}</code></td><td>{{role}}</td><td>{{insurers}}</td><td>{{created}}</td><td>{{lastLogin}}</td><td>{{#disabled}}停止 {{disabled}}{{/disabled}}{{^disabled}}有効{{/disabled}}{{#locked}} <strong class="warn">（ログイン失敗によりロック中）</strong>{{/locked}}</td>
            <td>{{^disabled}}<form method="post" action="/users/{{name}}/disable"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger">停止する</button></form>{{/disabled}}
            {{#disabled}}<form method="post" action="/users/{{name}}/enable"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">再開する</button></form>{{/disabled}}
            {{#locked}}<form method="post" action="/users/{{name}}/unlock"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">ロックを解除する</button></form>{{/locked}}</td></tr>{{/users}}
            </tbody></table>{{> pager}}
            """,
    ]

    static let stylesheet = """
        :root { --ink: #1a1a1a; --muted: #555; --line: #c8c8c8; --accent: #0b5cad; --danger: #b3261e; --ok: #1e7b34; --bg: #fafaf7; }
        * { box-sizing: border-box; }
        body { margin: 0; font-family: "Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", "Meiryo", sans-serif; font-size: 18px; line-height: 1.6; color: var(--ink); background: var(--bg); }
        .skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 2; }
        header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 1em; background: #14365c; color: #fff; padding: .5em 1em; }
        header.top a { color: #fff; } .brand { font-weight: bold; font-size: 1.1em; } nav a { margin-right: 1em; }
        form.logout { margin-left: auto; display: flex; gap: .5em; align-items: center; } .who { font-size: .9em; }
        main { max-width: 1180px; margin: 0 auto; padding: 1em 1.2em 3em; }
        h1 { font-size: 1.6em; margin: .4em 0; } h2 { font-size: 1.25em; border-left: 5px solid var(--accent); padding-left: .4em; margin-top: 1.6em; }
        .kana { font-size: .6em; color: var(--muted); font-weight: normal; } .crumbs { color: var(--muted); font-size: .9em; }
        label { display: block; font-weight: bold; margin-top: .5em; }
        input, select, button, .button { font: inherit; font-size: 1em; padding: .45em .7em; border-radius: 6px; }
        input, select { border: 2px solid #888; background: #fff; min-width: 14em; }
        button, .button { border: 2px solid var(--accent); background: #fff; color: var(--accent); cursor: pointer; text-decoration: none; display: inline-block; }
        .primary { background: var(--accent); color: #fff; font-weight: bold; } .danger { border-color: var(--danger); color: var(--danger); }
        .secondary { border-color: #fff; background: transparent; color: #fff; }
        :focus-visible { outline: 3px solid #f5a300; outline-offset: 2px; }
        form.search, .inline-form { display: flex; flex-wrap: wrap; gap: .6em 1.2em; align-items: flex-end; margin: .6em 0; }
        .narrow { max-width: 26em; } .narrow input { width: 100%; } .narrow button { margin-top: 1em; width: 100%; }
        .row-form { display: flex; flex-wrap: wrap; gap: .3em; align-items: center; } .row-form label { display: inline; margin: 0; font-weight: normal; }
        table.list { border-collapse: collapse; width: 100%; background: #fff; margin: .5em 0; }
        table.list th, table.list td { border: 1px solid var(--line); padding: .35em .55em; text-align: left; vertical-align: top; }
        table.list th { background: #eef2f6; } td.n { text-align: right; } caption { text-align: left; color: var(--muted); }
        tr.abandoned { background: #fff4e0; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; background: #fff; padding: .8em 1em; border: 1px solid var(--line); border-radius: 8px; }
        dl.facts dt { font-weight: bold; color: var(--muted); } dl.facts dd { margin: 0; }
        .error { color: var(--danger); border: 2px solid var(--danger); background: #fdecea; padding: .4em .8em; border-radius: 6px; }
        .field-error { color: var(--danger); font-weight: bold; margin: .2em 0 0; }
        .ok { color: var(--ok); border: 2px solid var(--ok); background: #e9f6ec; padding: .4em .8em; border-radius: 6px; }
        .flash { background: #e9f6ec; border: 2px solid var(--ok); padding: .4em .8em; border-radius: 6px; }
        .warn { color: #8a5300; } .empty { color: var(--muted); } .code { font-family: monospace; font-size: .85em; } .en { color: var(--muted); font-size: .85em; }
        details { margin: .5em 0; } summary { cursor: pointer; color: var(--accent); font-weight: bold; }
        section.actions { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .2em 1em 1em; }
        .pager { display: flex; gap: 1.5em; margin: 1em 0; } ol.steps li { margin: .2em 0; } ul.compact { columns: 4; }
        pre.code { white-space: pre-wrap; background: #fff; border: 1px solid var(--line); padding: .6em; }
        .note { color: var(--muted); font-size: .9em; } code { font-family: monospace; font-size: .85em; }
        .health { border: 2px solid var(--line); border-left-width: 10px; padding: .2em .8em; margin: .5em 0; background: #fff; border-radius: 6px; }
        .health p { margin: .3em 0; } .health-green { border-color: var(--ok); } .health-amber { border-color: #d99a00; background: #fff8e1; }
        .health-red { border-color: var(--danger); background: #fdecea; }
        .trend { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; } .trend figure { margin: 0; } .trend table { font-size: .8em; }
        @media print { header.top, nav, form, .skip { display: none; } }
        """
}
