#!/usr/bin/env python3
"""Issue 14's browser tests: the web console in headless Chromium through WebDriver.

Started by Tests/KakuninWebTests/ConsoleBrowserTests.swift (part of the README's test command),
which provisions the database, the people and `kakunin serve`, and passes what it made as one
JSON argument. Uses Debian's chromium, chromium-driver and python3-selenium (.ci/run installs
them); nothing is downloaded. Exits 0 when every step passes, 1 naming the step that failed.
"""
import base64
import json
import re
import shutil
import sys
import tempfile
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

cfg = json.loads(sys.argv[1])
BASE = cfg["base"].rstrip("/")
SHOTS = cfg.get("shots")


def browser():
    opts = Options()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1100", "--lang=ja", f"--user-data-dir={tempfile.mkdtemp(prefix='kakunin-chrome-')}"]:
        opts.add_argument(a)
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    d = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    d.implicitly_wait(2)
    return d


def shot(d, name, print_media=False):
    """A screenshot of the whole page (the window grown to its height); `print_media` as printed."""
    if SHOTS:
        if print_media:
            d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        height = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(1280, min(max(height, 1100), 8000))
        d.save_screenshot(f"{SHOTS}/{name}.png")
        d.set_window_size(1280, 1100)
        if print_media:
            d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def navigating(d, action):
    """Does `action` (a click, a key, a script) and waits until the next page has replaced this one."""
    old = d.find_element(By.TAG_NAME, "html").id
    action()
    WebDriverWait(d, 10).until(lambda d: d.find_element(By.TAG_NAME, "html").id != old)


def click(d, by, what):
    element = d.find_element(by, what)
    navigating(d, element.click)


def text(d):
    return d.find_element(By.TAG_NAME, "body").text


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def member_page_fits(d):
    """The 受付日 field shows its whole placeholder; short headings, ids and numbers of the member
    page's tables stay on one line (they wrapped one character per line)."""
    d.find_element(By.XPATH, "//summary[contains(., '申請を受け付ける')]").click()
    text_width, room = d.execute_script("""
        const i = document.getElementById('received_on'), s = getComputedStyle(i);
        const c = document.createElement('canvas').getContext('2d'); c.font = s.font;
        return [c.measureText(i.placeholder).width, i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)];""")
    expect(text_width <= room, f"受付日's placeholder ({text_width:.0f}px) fits its field ({room:.0f}px)")
    for width in [1280, 860]:
        d.set_window_size(width, 1100)
        columns_fit(d, width)
    d.set_window_size(1280, 1100)


def columns_fit(d, width):
    """At `width` pixels: no heading, id or number wrapped, no cell one character per line."""
    wrapped = d.execute_script("""
        const lines = e => { const r = document.createRange(); r.selectNodeContents(e);
            return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; };
        const one = [...document.querySelectorAll('table.list th, table.list td.nowrap')].filter(e => e.textContent.trim() && lines(e) > 1);
        const text = e => e.textContent.trim();
        const narrow = [...document.querySelectorAll('table.list td')].filter(e => text(e).length > 1 && lines(e) >= text(e).length);
        return one.concat(narrow).map(text);""")
    expect(not wrapped, f"member page at {width}px: headings, ids and numbers on one line, no cell one character per line: {wrapped}")


def print_view_bar(d):
    """The certificate's print view: a 印刷 button and the way back on screen, neither on paper
    (still one sheet)."""
    bar = d.find_element(By.ID, "print-bar")
    expect(d.find_element(By.ID, "print-button").text == "印刷" and "ブラウザの印刷（Ctrl+P）で印刷できます" in bar.text,
           "the print view says how to print")
    pdf = base64.b64decode(d.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True,
                                                                "displayHeaderFooter": False})["data"])
    pages = len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf))
    expect(pages == 1, f"the print view with its bar prints on one sheet ({pages})")
    if SHOTS:
        with open(f"{SHOTS}/print-card.pdf", "wb") as f:
            f.write(pdf)
    click(d, By.ID, "print-back")
    expect(d.find_elements(By.ID, "member-id"), "the print view's link leads back to the member page")


def login(d, user, password, keyboard=False):
    d.get(BASE + "/login")
    name = d.find_element(By.ID, "username")
    name.clear()
    if keyboard:
        # Keyboard only: the name field has focus; Tab to the password, Enter submits.
        navigating(d, lambda: d.switch_to.active_element.send_keys(user, Keys.TAB, password, Keys.ENTER))
    else:
        name.send_keys(user)
        d.find_element(By.ID, "password").send_keys(password)
        click(d, By.CSS_SELECTOR, "form button[type=submit]")


def post_form(d, action, fields):
    """Submits a form the page does not have (as a forged or hand-made request would)."""
    navigating(d, lambda: d.execute_script("""
        const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
        for (const [k, v] of Object.entries(arguments[1])) {
            const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit();""", action, fields))


def logout(d):
    click(d, By.CSS_SELECTOR, "form.logout button")


steps = []


def step(fn):
    steps.append(fn)
    return fn


P = cfg["passwords"]
CLERK_MEMBER = cfg["issue_member"]
OTHER_MEMBER = cfg["other_insurer_member"]


@step
def counter_work(d):
    login(d, "clerk", P["clerk"], keyboard=True)
    expect("ログアウト" in text(d), "keyboard login of the counter person")
    expect(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja", 'lang="ja"')
    shot(d, "search-empty")
    # Search by kana prefix (half-width input is normalised).
    q = d.find_element(By.ID, "q")
    q.send_keys(cfg["kana"])
    navigating(d, lambda: q.send_keys(Keys.ENTER))
    links = d.find_elements(By.CSS_SELECTOR, "table.list a[href^='/members/131016/']")
    expect(len(links) > 0, "kana search finds members")
    shot(d, "search-results")
    navigating(d, links[0].click)
    expect("窓口での手続" in text(d), "member page opens from the results")
    # Record an application (its form sits in a <details>).
    d.get(f"{BASE}/members/131016/{CLERK_MEMBER}")
    d.find_element(By.XPATH, "//summary[contains(., '申請を受け付ける')]").click()
    d.find_element(By.CSS_SELECTOR, "#kind option[value='card_renewing']").click()
    d.find_element(By.ID, "received_on").send_keys("20261201")
    click(d, By.CSS_SELECTOR, "#application-form button[type=submit]")
    click(d, By.ID, "confirm-record")
    expect("申請を記録しました" in d.find_element(By.ID, "done").text, "application recorded")
    expect("マイナンバーカードの更新中" in text(d), "the application is listed")
    shot(d, "member")
    member_page_fits(d)
    # Counter issue: confirmation, then the certificate and its print view.
    click(d, By.ID, "issue-link")
    expect(d.find_element(By.ID, "confirm-outcome").text, "confirmation shows the decision")
    shot(d, "issue-confirm")
    click(d, By.ID, "confirm-issue")
    first = d.find_element(By.ID, "issued-number").text
    expect(first.isdigit(), "certificate number shown after issuing")
    click(d, By.ID, "print-card")
    page = text(d)
    expect("資格確認書" in page and "令和" in page and "有効期限" in page, "print view with SPEC 5.1 fields and era dates")
    shot(d, "print-card")
    print_view_bar(d)
    # Reissue (lost card): recorded as an approved application, then issued again.
    d.get(f"{BASE}/members/131016/{CLERK_MEMBER}")
    d.find_element(By.XPATH, "//summary[contains(., '再交付')]").click()
    d.find_element(By.ID, "reissue_note").send_keys("紛失")
    click(d, By.CSS_SELECTOR, "#reissue-form button[type=submit]")
    click(d, By.ID, "confirm-record")
    click(d, By.ID, "confirm-issue")
    second = d.find_element(By.ID, "issued-number").text
    expect(second.isdigit() and second != first, "reissue gives a new number")
    d.get(f"{BASE}/members/131016/{CLERK_MEMBER}")
    expect("無効" in d.find_element(By.ID, f"cert-{first}").text, "the replaced certificate is voided")
    # A POST without the CSRF token is refused.
    post_form(d, f"/members/131016/{CLERK_MEMBER}/applications", {"kind": "card_lost", "received_on": "2026-11-01", "status": "pending"})
    expect("有効期限が切れています" in text(d), "POST without the CSRF token refused")
    # Logout ends the session: the pages ask for a login again.
    d.get(BASE + "/members")
    logout(d)
    d.get(BASE + "/members")
    expect("/login" in d.current_url, "after logout, pages redirect to the login")


TRAP_MEMBER = cfg.get("trap_member")
NOTICE_MEMBER = cfg.get("notice_member")
MAILED_MEMBER = cfg.get("mailed_member")
MAILED_CERT = cfg.get("mailed_cert")


def member_page(member):
    return f"{BASE}/members/131016/{member}"


def open_details(d, label, within=None):
    (within or d).find_element(By.XPATH, f".//summary[contains(., '{label}')]").click()


@step
def trap_application_form(d):
    """Issue 32: no default kind; the basis required (browser and server); dates typed as text."""
    login(d, "clerk", P["clerk"])
    d.get(member_page(TRAP_MEMBER))
    before = len(d.find_elements(By.CSS_SELECTOR, "tr[id^='app-']"))
    open_details(d, "申請を受け付ける")
    kind = d.find_element(By.ID, "kind")
    expect(Select(kind).first_selected_option.get_attribute("value") == "", "no kind is chosen by default")
    # One Enter in the memo field records nothing: the kind and the date are required.
    d.find_element(By.ID, "note").send_keys(Keys.ENTER)
    expect(not d.find_elements(By.ID, "done") and d.find_element(By.ID, "application-form"), "Enter alone records nothing")
    shot(d, "trap-application-empty")
    # The server refuses a special-consideration application without a basis (a hand-made POST).
    token = d.find_element(By.CSS_SELECTOR, "form.logout input[name=csrf]").get_attribute("value")
    post_form(d, f"/members/131016/{TRAP_MEMBER}/applications", {"csrf": token, "kind": "special_consideration", "received_on": "20261201"})
    expect("配慮が必要な理由" in d.find_element(By.ID, "basis-error").text, "the server requires the basis")
    expect(len(d.find_elements(By.CSS_SELECTOR, "tr[id^='app-']")) == before, "nothing recorded without a basis")
    shot(d, "trap-basis-required")
    # A date typed in era form; arrow keys do not change it; shown back in era form before recording.
    d.get(member_page(TRAP_MEMBER))
    open_details(d, "申請を受け付ける")
    Select(d.find_element(By.ID, "kind")).select_by_value("special_consideration")
    Select(d.find_element(By.ID, "basis")).select_by_value("disability")
    received = d.find_element(By.ID, "received_on")
    expect(received.get_attribute("type") == "text", "the date is a plain text field")
    received.send_keys("令和8年12月2日", Keys.ARROW_UP, Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    expect(received.get_attribute("value") == "令和8年12月2日", "arrow keys leave the date as typed")
    click(d, By.CSS_SELECTOR, "#application-form button[type=submit]")
    rows = d.find_element(By.ID, "confirm-rows").text
    expect("令和8年12月2日（2026-12-02）" in rows and "障害のある方" in rows, "confirmation shows the date in era form and the basis")
    shot(d, "confirm-application")
    click(d, By.ID, "confirm-record")
    done = d.find_element(By.ID, "done").text
    expect("申請番号" in done and "令和8年12月2日" in done and "障害のある方" in done, f"the record is shown after recording: {done}")
    shot(d, "member-after-application")
    # 20261203 is read as a date too; going back from the confirmation records nothing.
    open_details(d, "申請を受け付ける")
    Select(d.find_element(By.ID, "kind")).select_by_value("card_lost")
    d.find_element(By.ID, "received_on").send_keys("20261203")
    click(d, By.CSS_SELECTOR, "#application-form button[type=submit]")
    expect("令和8年12月3日（2026-12-03）" in d.find_element(By.ID, "confirm-rows").text, "20261203 read as 令和8年12月3日")
    click(d, By.ID, "confirm-back")
    expect("マイナンバーカードの紛失" not in d.find_element(By.ID, "app-h").find_element(By.XPATH, "..").text, "going back recorded nothing")


@step
def trap_decision(d):
    """A decision is confirmed before it is recorded; a rejection without a reason is refused in Japanese."""
    d.get(member_page(TRAP_MEMBER))
    row = d.find_elements(By.CSS_SELECTOR, "tr[id^='app-']")[-1]
    app = row.get_attribute("id")[4:]
    click(d, By.CSS_SELECTOR, f"#app-{app} button[value=reject]")
    page = text(d)
    expect("却下するには理由が必要です" in page and "--reason" not in page, "a rejection without a reason: Japanese, no command-line advice")
    shot(d, "trap-reject-no-reason")
    d.get(member_page(TRAP_MEMBER))
    d.find_element(By.ID, f"rej-{app}").send_keys("診断書の提出がない")
    click(d, By.CSS_SELECTOR, f"#app-{app} button[value=reject]")
    expect("却下" in d.find_element(By.ID, "confirm-rows").text and "診断書の提出がない" in text(d), "confirmation of the rejection")
    shot(d, "confirm-decision")
    click(d, By.ID, "confirm-record")
    expect("却下" in d.find_element(By.ID, "done").text and "診断書の提出がない" in d.find_element(By.ID, "done").text, "the decision is shown after recording")


@step
def trap_notice_return(d):
    """Returning a notice takes a date and a memo, is confirmed, and its memo is shown."""
    d.get(member_page(NOTICE_MEMBER))
    section = d.find_element(By.ID, "notice-h").find_element(By.XPATH, "..")
    open_details(d, "返戻を記録", section)
    form = section.find_element(By.CSS_SELECTOR, "form.notice-return")
    form.find_element(By.NAME, "on").send_keys("令和8年12月3日")
    form.find_element(By.NAME, "note").send_keys("転居先不明")
    navigating(d, lambda: form.find_element(By.CSS_SELECTOR, "button[type=submit]").click())
    rows = d.find_element(By.ID, "confirm-rows").text
    expect("令和8年12月3日（2026-12-03）" in rows and "転居先不明" in rows, "confirmation of the notice's return")
    shot(d, "confirm-notice-return")
    click(d, By.ID, "confirm-record")
    expect("転居先不明" in d.find_element(By.ID, "done").text, "the memo is in the message after recording")
    expect("転居先不明" in d.find_element(By.ID, "returns").text, "the memo is shown in the returns")
    shot(d, "member-after-notice-return")
    section = d.find_element(By.ID, "notice-h").find_element(By.XPATH, "..")
    expect(not section.find_elements(By.XPATH, ".//summary[contains(., '返戻を記録')]"), "a returned notice is not offered for a return again")


@step
def trap_certificate_return(d):
    """A mailed certificate's return is confirmed and its memo shown; one handed over at the counter offers no return."""
    d.get(member_page(MAILED_MEMBER))
    row = d.find_element(By.ID, f"cert-{MAILED_CERT}")
    open_details(d, "返戻を記録", row)
    row.find_element(By.NAME, "note").send_keys("あて所に尋ねあたりません")
    navigating(d, lambda: row.find_element(By.XPATH, ".//button[contains(., '確認へ進む')]").click())
    expect("あて所に尋ねあたりません" in d.find_element(By.ID, "confirm-rows").text, "confirmation of the certificate's return")
    click(d, By.ID, "confirm-record")
    expect("あて所に尋ねあたりません" in d.find_element(By.ID, "returns").text, "the return's memo is shown")
    shot(d, "member-after-certificate-return")
    row = d.find_element(By.ID, f"cert-{MAILED_CERT}")
    expect(not row.find_elements(By.XPATH, ".//summary[contains(., '返戻を記録')]"), "a returned certificate is not offered for a return again")
    d.get(member_page(CLERK_MEMBER))
    counter_rows = [r for r in d.find_elements(By.CSS_SELECTOR, "tr[id^='cert-']") if "窓口で手渡し" in r.text]
    expect(counter_rows, "the counter's certificates are listed as handed over")
    for r in counter_rows:
        expect(not r.find_elements(By.XPATH, ".//summary[contains(., '返戻を記録')]"), "no 返戻を記録 for a certificate handed over at the counter")


extra_steps = []


def extra_step(fn):
    """A step only run when the configuration names it in "steps" (it needs a fixture of its own)."""
    extra_steps.append(fn)
    return fn


def return_certificate(d, member, cert, memo):
    """Records the return of a mailed certificate from the member page. Returns the 送付 cell of
    the certificate before, the confirmation's warning, the message after and the returns' rows."""
    d.get(f"{BASE}/members/06139999/{member}")
    row = d.find_element(By.ID, f"cert-{cert}")
    sent = row.find_element(By.CSS_SELECTOR, "td.delivery").text
    open_details(d, "返戻を記録", row)
    row.find_element(By.NAME, "note").send_keys(memo)
    navigating(d, lambda: row.find_element(By.XPATH, ".//button[contains(., '確認へ進む')]").click())
    warning = d.find_element(By.ID, "confirm-warning").text
    click(d, By.ID, "confirm-record")
    done = d.find_element(By.ID, "done").text
    return sent, warning, done, [r for r in d.find_elements(By.CSS_SELECTOR, "#returns tbody tr") if memo in r.text]


@extra_step
def employer_return(d):
    """Issue 31: a certificate delivered through the employer comes back: the list of returned
    mail names the establishment (送付先) and says to ask the employer; one mailed home says 自宅."""
    e = cfg["employer"]
    login(d, "koyo", P["koyo"])
    sent, warning, done, rows = return_certificate(d, e["member"], e["cert"], "事業所から返送")
    via = f"事業所経由：{e['name']}（{e['establishment']}）"
    expect(sent.startswith(via), f"the certificate's 送付 names the establishment it went through: {sent}")
    expect("事業所の住所" in warning and "事業所経由の郵送は止まります" in warning, f"the confirmation warns about the establishment: {warning}")
    expect("事業所の住所" in done and "事業所経由の郵送は止まります" in done, f"the message after it names the establishment: {done}")
    expect(len(rows) == 1, "the return is listed once")
    sent_to = rows[0].find_element(By.CSS_SELECTOR, "td.sent-to").text
    expect(sent_to == f"事業所経由：{e['name']}（{e['establishment']}）", f"送付先 names the establishment: {sent_to}")
    expect("事業所の住所が変わるまで再送しません" in rows[0].text and "事業主に確認" in rows[0].text,
           f"what to do names the establishment and the employer: {rows[0].text}")
    expect("送付先" in d.find_element(By.CSS_SELECTOR, "#returns thead").text, "the column is headed 送付先")
    shot(d, "member-after-employer-return")
    columns_fit(d, 1280)
    sent, warning, done, rows = return_certificate(d, e["home_member"], e["home_cert"], "あて所不明")
    expect(sent.startswith("郵送") and "事業所" not in sent + warning + done, f"a certificate mailed home says so: {sent} / {warning} / {done}")
    expect("住所が変わるまで、この方への郵送は止まります" in done, f"and the message after it names the member's address: {done}")
    expect(len(rows) == 1 and rows[0].find_element(By.CSS_SELECTOR, "td.sent-to").text == "自宅",
           "a certificate mailed home (任意継続 or no known establishment) came back from home")
    expect("住所が変わるまで再送しません：住所を確認" in rows[0].text and "事業" not in rows[0].text, "and says to confirm the address")
    logout(d)


@step
def trap_void(d):
    """Voiding is confirmed (going back changes nothing) and the record shown afterwards."""
    d.get(member_page(CLERK_MEMBER))
    row = [r for r in d.find_elements(By.CSS_SELECTOR, "tr[id^='cert-']") if r.find_elements(By.XPATH, ".//summary[contains(., '無効にする')]")][0]
    number = row.get_attribute("id")[5:]
    open_details(d, "無効にする", row)
    row.find_element(By.NAME, "reason").send_keys("誤って交付")
    navigating(d, lambda: row.find_element(By.XPATH, ".//button[contains(., '確認へ進む')]").click())
    expect("誤って交付" in d.find_element(By.ID, "confirm-rows").text and d.find_element(By.ID, "confirm-warning"), "confirmation of the void")
    shot(d, "confirm-void")
    click(d, By.ID, "confirm-back")
    expect("有効" in d.find_element(By.ID, f"cert-{number}").text, "going back leaves the certificate active")
    row = d.find_element(By.ID, f"cert-{number}")
    open_details(d, "無効にする", row)
    row.find_element(By.NAME, "reason").send_keys("誤って交付")
    navigating(d, lambda: row.find_element(By.XPATH, ".//button[contains(., '確認へ進む')]").click())
    click(d, By.ID, "confirm-record")
    expect("誤って交付" in d.find_element(By.ID, "done").text and "無効" in d.find_element(By.ID, f"cert-{number}").text, "the void is shown after recording")
    shot(d, "member-after-void")
    member_page_fits(d)
    logout(d)


@step
def other_insurer(d):
    login(d, "other", P["other"])
    d.get(f"{BASE}/members?q={CLERK_MEMBER}")
    expect(d.find_elements(By.ID, "no-result"), "no result for another insurer's member id")
    d.get(f"{BASE}/members/131016/{CLERK_MEMBER}")
    expect("見つかりません" in text(d) and "山" not in d.title, "typed URL of another insurer's member: not found")
    logout(d)


@step
def auditor(d):
    login(d, "audi", P["audi"])
    shot(d, "runs")
    click(d, By.CSS_SELECTOR, "a[href='/runs/1']")
    expect("実行報告書" in text(d), "run report opens")
    shot(d, "report")
    shot(d, "report-print", print_media=True)
    if SHOTS:
        d.get(BASE + "/runs/1#checks")
        d.save_screenshot(f"{SHOTS}/report-checks.png")
        d.get(BASE + "/runs/1")
    click(d, By.CSS_SELECTOR, "a[href*='/runs/1/members?kind=outcome']")
    rows = d.find_elements(By.CSS_SELECTOR, "table.list a[href^='/members/']")
    expect(rows, "drill-down lists members")
    shot(d, "drill")
    navigating(d, rows[0].click)
    expect("判定の履歴と説明" in text(d), "member page from the drill-down")
    shot(d, "member-auditor")
    click(d, By.PARTIAL_LINK_TEXT, "なぜこの判定か")
    expect("判定の手順" in text(d), "explanation from the member page")
    shot(d, "explain")
    # An auditor's POST to a counter action, with a valid token: refused, nothing changes.
    d.get(BASE + "/runs")
    token = d.find_element(By.CSS_SELECTOR, "form.logout input[name=csrf]").get_attribute("value")
    post_form(d, f"/members/131016/{CLERK_MEMBER}/issue", {"csrf": token})
    expect("権限がありません" in text(d), "auditor's POST to a counter action refused")
    d.get(BASE + "/audit?verify=1")
    expect("検証成功" in text(d), "audit log verified against the latest checkpoint")
    shot(d, "audit")
    # A NUL in an address: an error page in Japanese, nothing of the database's (issue 30: a
    # member id of the wrong form is refused by its rule before any look-up).
    d.get(BASE + "/members/131016/x%00y")
    expect("加入者IDの形が正しくありません" in text(d)
           and not any(w in d.page_source for w in ["SQL", "PostgreSQL", "22021", "SELECT"]), "error page without internals")
    shot(d, "error")
    logout(d)


@step
def operator(d):
    login(d, "ops", P["ops"])
    expect("運用状況" in text(d), "operator lands on operations")
    shot(d, "operations")
    # Issue 32: a status line per insurer, in words as well as colour.
    line = d.find_element(By.ID, "health-131016")
    expect(any(w in line.text for w in ["正常", "注意", "要対応"]), "status line in words")
    # Held members are ids the operator can read, never links to pages refused to them.
    expect(not d.find_elements(By.CSS_SELECTOR, "a[href*='/members/']"), "no member links for the operator")
    hrefs = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "main a[href]")]
    for href in hrefs[:30]:
        d.get(href)
        expect("権限がありません" not in text(d) and "見つかりません" not in text(d), f"operator may open {href}")
    d.get(BASE + "/runs/1")
    shot(d, "report-operator")
    d.get(BASE + "/operations")
    logout(d)


@step
def admin(d):
    login(d, "boss", P["boss"])
    d.get(BASE + "/users")
    expect("窓口" in text(d) and "--role" not in text(d), "people page in Japanese, no command line")
    shot(d, "users")
    d.get(BASE + "/operations")
    shot(d, "operations-admin")
    logout(d)


@step
def throttle(d):
    for _ in range(5):
        login(d, "boss", "not-the-password")
        expect("違います" in text(d), "wrong password refused")
    login(d, "boss", P["boss"])
    expect("ログインできません" in text(d) and "ログアウト" not in text(d), "sixth attempt throttled even with the right password")


failed = 0
d = browser()
try:
    for s in [s for s in steps + extra_steps if s.__name__ in cfg["steps"]] if "steps" in cfg else steps:
        try:
            s(d)
            print(f"ok   {s.__name__}")
        except Exception:
            failed += 1
            print(f"FAIL {s.__name__} at {d.current_url}")
            traceback.print_exc()
            shot(d, f"failed-{s.__name__}")
            d.delete_all_cookies()
finally:
    d.quit()
sys.exit(1 if failed else 0)
