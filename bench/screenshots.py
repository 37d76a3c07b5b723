"""The README's pictures, taken from the real running demo in headless Chromium (`make screenshots`).

Starts `kefu demo` on free ports with a fresh data directory, then:
- the widget on the demo shop page after an answer with its sources (docs/images/widget.png);
- a short animated walkthrough: a customer asks, the answer arrives with sources, the customer asks
  for a person and is handed off (docs/images/walkthrough.gif, assembled from Chromium frames with Pillow);
- the admin app's overview (with the first-run checklist) in English and Chinese, and the
  conversations page (docs/images/admin-*.png).
Images are reduced to a 256-colour palette so the set stays a few hundred KB. Stops the demo it
started (and only it) at the end. Needs Chromium (`KEFU_CHROMIUM` or `chromium` on PATH).

    python bench/screenshots.py [--out docs/images] [--keep-data]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("KEFU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WAIT = 60_000
# The bottom-right corner of a 1100×760 page, where the widget opens.
WIDGET_AREA = {"x": 650, "y": 40, "width": 450, "height": 720}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_demo(data_dir: Path, api_port: int, dash_port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KEFU_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    for name in ("KEFU_DATABASE_URL", "KEFU_REDIS_URL"):
        env.pop(name, None)  # the demo's own embedded servers, never a developer's database
    log = (data_dir / "demo.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "demo", "--api-port", str(api_port), "--dash-port", str(dash_port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(process: subprocess.Popen[bytes], data_dir: Path, timeout: float = 600) -> dict[str, str]:
    """The demo's keys once its banner is printed (the FAQ is uploaded and the history seeded by then)."""
    deadline = time.monotonic() + timeout
    log = data_dir / "demo.log"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"kefu demo exited:\n{log.read_text(errors='replace')[-3000:]}")
        if "Kefu demo is running" in log.read_text(errors="replace"):
            return dict(json.loads((data_dir / "demo.json").read_text()))
        time.sleep(1)
    raise SystemExit("kefu demo did not start in time")


def wait_indexed(api: str, key: str) -> None:
    """Until the demo FAQ answers (the worker indexes it after the banner on a cold machine)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"{api}/api/v1/chat",
            method="POST",
            headers={"X-Widget-Key": key, "Content-Type": "application/json"},
            data=json.dumps({"message": "退货政策是什么？", "visitor_id": "screenshot-probe"}).encode(),
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                if json.loads(response.read()).get("citations"):
                    return
        except OSError:
            pass
        time.sleep(2)


def small_png(image: Image.Image, path: Path, width: int) -> int:
    """Save scaled to `width` with a 256-colour palette; returns the file size."""
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path.stat().st_size


def save_animation(images: list[Image.Image], durations: list[int], path: Path, width: int) -> None:
    """An animated GIF: frames scaled to `width`, one 64-colour palette shared by all (no dithering, so
    unchanged pixels stay identical between frames and the file stays small)."""
    scaled = [image.resize((width, image.height * width // image.width), Image.Resampling.LANCZOS) for image in images]
    mosaic = Image.new("RGB", (width, scaled[0].height * len(scaled)))
    for index, image in enumerate(scaled):
        mosaic.paste(image, (0, scaled[0].height * index))
    palette = mosaic.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    frames = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in scaled]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=True)


def shot(page: Page, **options: object) -> Image.Image:
    return Image.open(io.BytesIO(page.screenshot(**options))).convert("RGB")  # type: ignore[arg-type]


def widget_pictures(browser, api: str, key: str, out: Path) -> list[Path]:
    context = browser.new_context(viewport={"width": 1100, "height": 760}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{api}/demo/shop?key={key}")
    frames: list[tuple[Image.Image, int]] = []

    def frame(ms: int) -> None:
        frames.append((shot(page, clip=WIDGET_AREA), ms))  # the widget's corner of the page

    page.wait_for_load_state("networkidle")
    frame(900)
    page.locator("kefu-chat .launcher").click()
    page.locator("kefu-chat textarea").wait_for(timeout=WAIT)
    frame(700)
    question = "退货政策是什么？"
    box = page.locator("kefu-chat textarea")
    for end in range(2, len(question) + 1, 3):
        box.fill(question[:end])
        frame(180)
    box.press("Enter")
    answers = page.locator("kefu-chat .msg.bot[data-message-id]")
    answers.first.locator(".sources").wait_for(timeout=WAIT)
    page.wait_for_timeout(400)
    frame(2200)
    widget_png = out / "widget.png"
    shot(page, clip=WIDGET_AREA).save(widget_png)
    page.locator("kefu-chat .tool.human").click()  # 转人工客服: the customer asks for a person
    page.locator("kefu-chat .note").wait_for(timeout=WAIT)
    page.wait_for_timeout(400)
    frame(2600)
    context.close()

    walkthrough = out / "walkthrough.gif"
    save_animation([image for image, _ in frames], [ms for _, ms in frames], walkthrough, width=360)
    small_png(Image.open(widget_png), widget_png, 420)
    return [widget_png, walkthrough]


def admin_pictures(browser, admin: str, email: str, password: str, out: Path) -> list[Path]:
    made = []
    for lang, locale in (("en", "en-US"), ("zh", "zh-CN")):
        context = browser.new_context(
            viewport={"width": 1440, "height": 930}, locale=locale, timezone_id="Asia/Shanghai"
        )
        page = context.new_page()
        page.goto(f"{admin}/login")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("#sign-in")
        page.locator("#ov-kpis .kpi").first.wait_for(timeout=WAIT)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(800)
        path = out / f"admin-overview-{lang}.png"
        small_png(shot(page), path, 1000)
        made.append(path)
        if lang == "en":
            page.click("#nav-conversations")
            page.locator("#cv-table .ag-row").first.wait_for(timeout=WAIT)
            page.locator("#cv-table .ag-row .ag-selection-checkbox input").first.check()
            page.locator("#cv-transcript-messages").wait_for(timeout=WAIT)
            page.wait_for_timeout(500)
            path = out / "admin-conversations-en.png"
            small_png(shot(page, full_page=True), path, 1000)
            made.append(path)
        context.close()
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"), help="where the pictures go")
    parser.add_argument("--keep-data", action="store_true", help="keep the demo's data directory")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="kefu-screenshots-"))
    api_port, dash_port = free_port(), free_port()
    demo = start_demo(data_dir, api_port, dash_port)
    try:
        state = wait_ready(demo, data_dir)
        api, admin = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dash_port}"
        wait_indexed(api, state["widget_key"])
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            made = widget_pictures(browser, api, state["widget_key"], out)
            made += admin_pictures(browser, admin, state["admin_email"], state["admin_password"], out)
            browser.close()
        total = 0
        for path in made:
            size = path.stat().st_size
            total += size
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {size / 1024:,.0f} KB")
        print(f"total {total / 1024:,.0f} KB")
    finally:
        demo.send_signal(signal.SIGTERM)  # the demo stops its services and embedded servers itself
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
