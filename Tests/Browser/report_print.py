#!/usr/bin/env python3
"""Issue 32's printed auditors' report: headless Chromium prints it to PDF as its print dialog does.

Started by Tests/KakuninWebTests/ReportPrintBrowserTests.swift, which provisions the database, a
run and `kakunin serve`, and passes one JSON argument: `base` (the console), `user` and
`password` (an auditor), `run`, `file` (the run's report.html) and `out` (a directory). Writes
`out/console.pdf` (the report as the console shows it to the auditor) and `out/file.pdf` (the run's
report.html opened from disk), each printed with the page's own @page size and margins and
without the browser's own header and footer (Chromium's "Print" with "Headers and footers" off),
so that whatever header the pages carry comes from the report's CSS. Exits 0, or 1 with the cause.
"""
import base64
import json
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

cfg = json.loads(sys.argv[1])
BASE = cfg["base"].rstrip("/")


def browser():
    opts = Options()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1100", "--lang=ja", f"--user-data-dir={tempfile.mkdtemp(prefix='kakunin-chrome-')}"]:
        opts.add_argument(a)
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


def print_pdf(d, path):
    """The page as Chromium prints it: the CSS page size, backgrounds, no browser header or footer."""
    pdf = d.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True,
                                                "displayHeaderFooter": False})
    with open(path, "wb") as f:
        f.write(base64.b64decode(pdf["data"]))


def login(d):
    d.get(BASE + "/login")
    d.find_element(By.ID, "username").send_keys(cfg["user"])
    d.find_element(By.ID, "password").send_keys(cfg["password"])
    old = d.find_element(By.TAG_NAME, "html").id
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(d, 10).until(lambda d: d.find_element(By.TAG_NAME, "html").id != old)


d = browser()
try:
    login(d)
    d.get(f"{BASE}/runs/{cfg['run']}")
    if "実行報告書" not in d.find_element(By.TAG_NAME, "body").text:
        print(f"FAIL the console did not show run {cfg['run']}'s report at {d.current_url}")
        sys.exit(1)
    print_pdf(d, cfg["out"] + "/console.pdf")
    d.get("file://" + cfg["file"])
    print_pdf(d, cfg["out"] + "/file.pdf")
    print("ok   printed")
finally:
    d.quit()
