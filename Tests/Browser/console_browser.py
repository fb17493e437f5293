#!/usr/bin/env python3
"""Issue 14's browser tests: the web console in headless Chromium through WebDriver.

Started by Tests/KakuninWebTests/ConsoleBrowserTests.swift (part of the README's test command),
which provisions the database, the people and `kakunin serve`, and passes what it made as one
JSON argument. Uses Debian's chromium, chromium-driver and python3-selenium (.ci/run installs
them); nothing is downloaded. Exits 0 when every step passes, 1 naming the step that failed.
"""
import json
import shutil
import sys
import tempfile
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

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


def shot(d, name):
    if SHOTS:
        d.save_screenshot(f"{SHOTS}/{name}.png")


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
    click(d, By.CSS_SELECTOR, "#application-form button[type=submit]")
    expect("申請を記録しました" in d.find_element(By.ID, "done").text, "application recorded")
    expect("card_renewing" in text(d), "the application is listed")
    shot(d, "member")
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
    # Reissue (lost card): recorded as an approved application, then issued again.
    d.get(f"{BASE}/members/131016/{CLERK_MEMBER}")
    d.find_element(By.XPATH, "//summary[contains(., '再交付')]").click()
    d.find_element(By.ID, "reissue_note").send_keys("紛失")
    click(d, By.CSS_SELECTOR, "#reissue-form button[type=submit]")
    click(d, By.ID, "confirm-issue")
    second = d.find_element(By.ID, "issued-number").text
    expect(second.isdigit() and second != first, "reissue gives a new number")
    d.get(f"{BASE}/members/131016/{CLERK_MEMBER}")
    expect("voided" in text(d), "the replaced certificate is voided")
    # A POST without the CSRF token is refused.
    post_form(d, f"/members/131016/{CLERK_MEMBER}/applications", {"kind": "card_lost", "received_on": "2026-11-01", "status": "pending"})
    expect("有効期限が切れています" in text(d), "POST without the CSRF token refused")
    # Logout ends the session: the pages ask for a login again.
    d.get(BASE + "/members")
    logout(d)
    d.get(BASE + "/members")
    expect("/login" in d.current_url, "after logout, pages redirect to the login")


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
    click(d, By.CSS_SELECTOR, "a[href='/runs/1']")
    expect("実行報告書" in text(d), "run report opens")
    shot(d, "report")
    click(d, By.CSS_SELECTOR, "a[href*='/runs/1/members?kind=outcome']")
    rows = d.find_elements(By.CSS_SELECTOR, "table.list a[href^='/members/']")
    expect(rows, "drill-down lists members")
    shot(d, "drill")
    navigating(d, rows[0].click)
    expect("判定の履歴と説明" in text(d), "member page from the drill-down")
    click(d, By.PARTIAL_LINK_TEXT, "なぜこの判定か")
    expect("判定の手順" in text(d), "explanation from the member page")
    # An auditor's POST to a counter action, with a valid token: refused, nothing changes.
    d.get(BASE + "/runs")
    token = d.find_element(By.CSS_SELECTOR, "form.logout input[name=csrf]").get_attribute("value")
    post_form(d, f"/members/131016/{CLERK_MEMBER}/issue", {"csrf": token})
    expect("権限がありません" in text(d), "auditor's POST to a counter action refused")
    d.get(BASE + "/audit?verify=1")
    expect("検証成功" in text(d), "audit log verified against the latest checkpoint")
    shot(d, "audit")
    # A NUL in an address: an error page in Japanese, nothing of the database's.
    d.get(BASE + "/members/131016/x%00y")
    expect(("入力できない文字" in text(d) or "見つかりません" in text(d))
           and not any(w in d.page_source for w in ["SQL", "PostgreSQL", "22021", "SELECT"]), "error page without internals")
    shot(d, "error")
    logout(d)


@step
def operator(d):
    login(d, "ops", P["ops"])
    expect("運用状況" in text(d), "operator lands on operations")
    shot(d, "operations")
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
    for s in steps:
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
