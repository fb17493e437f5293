#!/usr/bin/env python3
"""Issue 33: the member letters render without tofu.

For each letters_<language>.html given: (1) every character of the letters is covered by the
font families the page names for its language (charsets of the installed fonts, from fc-query);
(2) headless Chromium draws every distinct character differently from a character no font has
(the .notdef box, "tofu") in the element's own font stack; (3) a screenshot of the first letter.
Prints "ok   <file>" per file, "FAIL ..." and exits 1 otherwise.
Argument: JSON {"files": [...], "shots": dir or null}.
"""
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.print_page_options import PrintOptions

cfg = json.loads(sys.argv[1])
failed = False


def fail(what):
    global failed
    failed = True
    print("FAIL " + what)


_charsets = {}


def charset(family):
    """Code points of the installed fonts of one family (every face), from fc-query."""
    if family in _charsets:
        return _charsets[family]
    files = subprocess.run(["fc-list", "--format", "%{file}\n", ":family=" + family],
                           capture_output=True, text=True).stdout.split()
    points = set()
    for f in sorted(set(files)):
        out = subprocess.run(["fc-query", "--format", "%{charset}\n", f], capture_output=True, text=True).stdout
        for part in out.split():
            lo, _, hi = part.partition("-")
            points.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    _charsets[family] = points
    return points


# Per element of the page: its font stack (computed) and its text.
COLLECT = """
const out = [];
for (const el of document.querySelectorAll('.letter *')) {
  let own = '';
  for (const n of el.childNodes) if (n.nodeType === 3) own += n.textContent;
  if (own.trim()) out.push([getComputedStyle(el).fontFamily, own]);
}
return out;
"""

# Characters drawn like a character no font has (U+E000 private use, and U+10FFFD): tofu.
TOFU = """
const [family, chars] = arguments;
const c = document.createElement('canvas'); c.width = 48; c.height = 48;
const g = c.getContext('2d', {willReadFrequently: true});
function img(ch) {
  g.clearRect(0, 0, 48, 48); g.font = '28px ' + family; g.fillStyle = '#000'; g.fillText(ch, 6, 36);
  return g.getImageData(0, 0, 48, 48).data.join(',');
}
const notdef = new Set([img('\\ue000'), img('\\u{10fffd}')]);
return chars.filter(ch => notdef.has(img(ch)));
"""


def browser():
    opts = Options()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
              "--window-size=900,1250", f"--user-data-dir={tempfile.mkdtemp(prefix='kakunin-chrome-')}"]:
        opts.add_argument(a)
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


def families(stack):
    return [f.strip().strip('"').strip("'") for f in stack.split(",") if f.strip() not in ("sans-serif", "serif")]


def check(d, path):
    d.get("file://" + path)
    elements = d.execute_script(COLLECT)
    if not elements:
        fail(f"{path}: no letter text")
        return
    by_stack = {}
    for stack, text in elements:
        by_stack.setdefault(stack, set()).update(ch for ch in text if not ch.isspace())
    for stack, chars in by_stack.items():
        named = set().union(*(charset(f) for f in families(stack)))
        missing = sorted(ch for ch in chars if ord(ch) not in named)
        if missing:
            fail(f"{path}: not in the named fonts {stack}: " + " ".join(f"{ch} U+{ord(ch):04X}" for ch in missing[:20]))
        tofu = d.execute_script(TOFU, stack, sorted(chars))
        if tofu:
            fail(f"{path}: drawn as tofu in {stack}: " + " ".join(f"{ch} U+{ord(ch):04X}" for ch in tofu[:20]))
    # The check can fail: a character no font has is reported.
    if not d.execute_script(TOFU, next(iter(by_stack)), ["\ue001"]):
        fail(f"{path}: the tofu check does not see a missing glyph")
    # A4, one page per letter: Chromium's own print (the vendor's path) counts the pages.
    opts = PrintOptions()
    opts.page_width, opts.page_height = 21.0, 29.7
    opts.margin_top = opts.margin_bottom = 1.4
    opts.margin_left = opts.margin_right = 1.6
    opts.background = True
    pdf = base64.b64decode(d.print_page(opts))
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    letters = d.execute_script("return document.querySelectorAll('.letter').length")
    if pages != letters:
        fail(f"{path}: {letters} letters printed on {pages} A4 pages")
    if cfg.get("shots"):
        name = path.rsplit("/", 1)[-1].replace(".html", ".png")
        d.save_screenshot(f"{cfg['shots']}/{name}")
    if not failed:
        print(f"ok   {path} ({len(elements)} text elements, {sum(len(c) for c in by_stack.values())} distinct characters)")


d = browser()
try:
    for f in cfg["files"]:
        check(d, f)
finally:
    d.quit()
sys.exit(1 if failed else 0)
