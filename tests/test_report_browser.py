"""The report in a real browser (headless Chromium): every image loads, no two text boxes
overlap, and the page logs no console error.

Needs a Chromium binary (Debian/Ubuntu: ``apt-get install chromium``); skipped when none is
installed. Set ``SSLAB_REPORT_SCREENSHOT=path.png`` to keep a screenshot of the checked page.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sslab.report import build_report
from test_report import make_runs

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER = os.environ.get("SSLAB_CHROMIUM") or next((b for b in BROWSERS if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no headless Chromium installed (apt-get install chromium, or set SSLAB_CHROMIUM)"
)

# Runs first in <head>: records errors from everything after it, then checks the page on load
# and writes a JSON verdict into <pre id="sslab-check"> for --dump-dom to return.
PROBE = r"""
<script>
(function () {
  var errors = [];
  var origError = console.error;
  console.error = function () { errors.push(Array.from(arguments).join(' ')); origError.apply(console, arguments); };
  window.addEventListener('error', function (e) {
    var what = e.target && (e.target.currentSrc || e.target.src || e.target.tagName);
    errors.push(e.message || ('failed to load ' + what));
  }, true);
  function textBoxes() {
    var boxes = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (var node = walker.nextNode(), i = 0; node; node = walker.nextNode(), i++) {
      var parent = node.parentElement;
      if (!node.textContent.trim() || parent.closest('#sslab-check')) continue;
      if (parent.checkVisibility && !parent.checkVisibility({contentVisibilityAuto: true})) continue;
      var range = document.createRange(); range.selectNodeContents(node);
      Array.from(range.getClientRects()).forEach(function (r) {
        if (r.width > 0 && r.height > 0) boxes.push({node: i, text: node.textContent.trim().slice(0, 40),
          x0: r.left, y0: r.top, x1: r.right, y1: r.bottom});
      });
    }
    return boxes;
  }
  function overlaps(boxes) {
    var found = [];
    boxes.sort(function (a, b) { return a.y0 - b.y0; });
    for (var i = 0; i < boxes.length; i++) {
      for (var j = i + 1; j < boxes.length && boxes[j].y0 < boxes[i].y1; j++) {
        var a = boxes[i], b = boxes[j];
        if (a.node === b.node) continue;
        var w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0), h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
        if (w > 1 && h > 1) found.push([a.text, b.text]);
      }
    }
    return found;
  }
  window.addEventListener('load', function () {
    var images = Array.from(document.images);
    var bad = images.filter(function (im) { return !(im.complete && im.naturalWidth > 0); })
                    .map(function (im) { return im.alt; });
    var boxes = textBoxes();
    var out = document.createElement('pre'); out.id = 'sslab-check'; out.style.display = 'none';
    out.textContent = JSON.stringify({images: images.length, broken: bad, boxes: boxes.length,
                                      overlaps: overlaps(boxes).slice(0, 20), errors: errors});
    document.body.appendChild(out);
  });
})();
</script>
"""


def chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--no-first-run", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"]
    return subprocess.run([BROWSER, *flags, *args], capture_output=True, text=True, timeout=timeout, check=False)


def check_page(page: Path, width: int = 1280) -> dict:
    """Load ``page`` (with the probe injected) and return the probe's findings."""
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    res = chromium(f"--window-size={width},1000", "--dump-dom", probed.as_uri())
    match = re.search(r'<pre id="sslab-check"[^>]*>(.*?)</pre>', res.stdout, re.S)
    assert match, f"the probe did not run (exit {res.returncode}): {res.stderr[-2000:]}"
    import html

    found = json.loads(html.unescape(match.group(1)))
    found["console"] = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln and "ERROR" in ln.upper()]
    return found


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    return build_report(make_runs(tmp_path_factory.mktemp("browser")))


@pytest.mark.parametrize("width", [1280, 800, 420])
def test_report_renders_cleanly_in_chromium(report_page, width):
    found = check_page(report_page, width)
    assert found["images"] == 3 and found["broken"] == []
    assert found["boxes"] > 50, "the probe saw too little text to be meaningful"
    assert found["overlaps"] == [], found["overlaps"]
    assert found["errors"] == [] and found["console"] == [], (found["errors"], found["console"])


def test_the_probe_detects_broken_images_overlaps_and_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'></head><body>"
        "<p>some text that is long enough</p>"
        "<p style='position:absolute;top:8px;left:8px'>overlapping text right on top</p>"
        "<img alt='broken' src='data:image/png;base64,AAAA'>"
        "<script>console.error('boom from the page')</script></body></html>"
    )
    found = check_page(page)
    assert found["broken"] == ["broken"]
    assert found["overlaps"], "two paragraphs drawn at the same place must be reported"
    assert any("boom from the page" in e for e in found["errors"])


def test_screenshot(report_page, tmp_path):
    target = Path(os.environ.get("SSLAB_REPORT_SCREENSHOT") or tmp_path / "report.png")
    res = chromium("--window-size=1280,1800", f"--screenshot={target}", report_page.as_uri())
    assert target.exists() and target.stat().st_size > 10_000, res.stderr[-2000:]
