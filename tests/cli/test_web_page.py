"""The web page at / in a real headless Chromium (Debian's package, driven by Playwright's client;
no browser download): fill the housing form, press the button, read what pipeline.predict says."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from modelserver import make_bundle, serve_folder

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()),
                shutil.which("chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]


@pytest.fixture
def browser():
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test extra: "
                                   "pip install -e '.[test]'")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def test_fill_the_housing_form_and_estimate(browser, housing, tmp_path):
    folder = make_bundle(housing.path, tmp_path / "bundle", "housing", "v1")
    server, url = serve_folder(folder, tmp_path / "server.log", "--workers", "1")
    row = housing.test.iloc[3]
    with server:
        page = browser.new_page()
        outside = []
        page.on("request", lambda r: None if r.url.startswith(url) else outside.append(r.url))
        page.goto(f"{url}/")
        assert page.title() == "housing v1"
        for column, value in row.items():
            field = page.locator(f'[name="{column}"]')
            if column == "ocean_proximity":
                field.select_option(label=str(value))
            else:
                field.fill("" if isinstance(value, float) and math.isnan(value) else repr(float(value)))
        page.get_by_role("button", name="Estimate").click()
        output = page.locator("#prediction")
        page.wait_for_function("document.getElementById('prediction').dataset.value !== ''")
        shown = float(output.get_attribute("data-value"))
        assert shown == housing.pipeline.predict(housing.test.iloc[[3]])[0]  # exactly
        assert output.inner_text().replace(",", "") == f"{shown:.2f}".rstrip("0").rstrip(".")
        page.screenshot(path=str(tmp_path / "estimate.png"), full_page=True)

        # a bad number is refused beside its field, no request is made
        page.locator('[name="median_income"]').fill("")
        page.locator('[name="median_income"]').press_sequentially("--")
        page.get_by_role("button", name="Estimate").click()
        page.wait_for_selector('[name="median_income"][aria-invalid="true"]')
        assert "enter a number" in page.locator("#error-f7").inner_text()
        assert page.locator("#result").is_hidden()
        page.screenshot(path=str(tmp_path / "bad-input.png"), full_page=True)
        assert outside == []  # no external assets
    assert (tmp_path / "estimate.png").stat().st_size > 0
