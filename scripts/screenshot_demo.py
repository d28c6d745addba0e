"""Screenshot the Gradio demo in headless Chromium (Debian: ``apt-get install -y chromium``).

    python scripts/screenshot_demo.py --model_name_or_path outputs/news --output_file docs/demo.png

starts the app of ``scripts/demo.py`` on localhost, lets Chromium load the page (it opens with the
first example classified), writes the PNG and stops the app. ``take_screenshot`` is also used by
``tests/hub/test_demo.py``.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling.cli import exit_on_error  # noqa: E402
from modeling.utils import atomic_path  # noqa: E402

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def find_chromium():
    """The Chromium executable on PATH; ``FileNotFoundError`` saying how to install it when there is none."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise FileNotFoundError("no chromium found (Debian: apt-get install -y chromium)")
    return chromium


def take_screenshot(url, output_file, chromium=None, width=1280, height=1600, wait_ms=15_000):
    """Write a PNG of ``url`` as headless Chromium renders it (``wait_ms`` of virtual time); return its path."""
    chromium = chromium or find_chromium()
    output_file = Path(output_file)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, atomic_path(output_file) as tmp:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                   f"--virtual-time-budget={wait_ms}", f"--screenshot={tmp}", url]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not tmp.is_file():
            raise RuntimeError(f"chromium could not screenshot {url}: {proc.stderr.strip()[-300:]}")
    return output_file


@exit_on_error
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_name_or_path", required=True, help="A train.py output folder or a Hub repo id.")
    parser.add_argument("--output_file", default="demo.png", help="PNG to write (default: %(default)s).")
    parser.add_argument("--width", type=int, default=1280, help="Window width in pixels (default: %(default)s).")
    parser.add_argument("--height", type=int, default=1100, help="Window height in pixels (default: %(default)s).")
    args = parser.parse_args(argv)
    chromium = find_chromium()  # before the model is loaded and a server started for nothing
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from demo import build, parse_args as demo_args

    app = build(demo_args(["--model_name_or_path", args.model_name_or_path]))
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        print(take_screenshot(app.local_url, args.output_file, chromium, width=args.width, height=args.height))
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
