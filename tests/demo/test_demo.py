"""`python -m bot demo`: its command line, and a transcript that shows what the bot did."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

from bot.demo.progress import ProgressLine
from bot.demo.script import BLOCKED_WORD, STEPS
from imagine_standins.kie import read_stamp
from tests.demo.conftest import DemoRun

_DATA_URI = re.compile(r'src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)"')


def _pictures(html: str) -> list[tuple[str, bytes]]:
    return [(kind, base64.b64decode(data)) for kind, data in _DATA_URI.findall(html)]


def _results(html: str) -> list[tuple[bytes, Image.Image]]:
    """Return every JPEG in the page (the results; avatars are PNG), opened and decoded."""
    found = []
    for kind, data in _pictures(html):
        if kind == "image/jpeg":
            image = Image.open(io.BytesIO(data))
            image.load()  # decodes every pixel: a truncated file fails here
            found.append((data, image))
    return found


def test_the_demo_exits_0_and_prints_the_transcript_path(demo_run: DemoRun) -> None:
    """Exit code 0, the absolute path on stdout, the file in --out."""
    assert demo_run.returncode == 0, demo_run.stderr
    assert demo_run.stdout.strip() == str(demo_run.transcript.resolve())
    assert demo_run.transcript.is_file()


def test_progress_is_one_plain_line_per_step_off_a_terminal(demo_run: DemoRun) -> None:
    """Off a TTY the progress line is plain lines, one per step, numbered, and nothing else."""
    lines = demo_run.stderr.splitlines()
    assert "\r" not in demo_run.stderr and "\x1b" not in demo_run.stderr
    total = len(STEPS) + 2
    assert all(re.fullmatch(rf"\[\d+/{total}\] .+ \(\d+ s\)", line) for line in lines), lines
    for label, _ in STEPS:
        assert any(label in line for line in lines), label


def test_the_transcript_fetches_nothing(demo_run: DemoRun) -> None:
    """One file: every picture inline, CSS inline, no script, no external resource."""
    html = demo_run.html
    assert "<script" not in html
    assert "<link" not in html
    assert "url(" not in html
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/") for s in sources)


def test_every_scripted_step_is_in_the_transcript(demo_run: DemoRun) -> None:
    """Commands with who ran them, the answers, the refusals' words and /quota's figures."""
    html = demo_run.html
    used = Counter(re.findall(r'used <span class="command">/([^<]+)</span>', html))
    # A private reply and a public result for each of the 4 delivered /imagine (the fifth
    # result is the Reroll's), and one private reply each for the cancelled, blocklisted,
    # over-quota and still generating ones.
    assert used == {
        "imagine": 4 * 2 + 4,
        "quota": 1,
        "imagine-admin blocklist add": 1,
        "imagine-admin quota default": 1,
        "imagine-admin quota member": 1,
    }
    for prompt in (
        "a lighthouse on a cliff at dusk, waves below",
        "a red fox in fresh snow, portrait",
        "a bowl of ramen, studio light",
        "a paper boat on a puddle",
    ):
        assert f'<div class="embed-description">{prompt}</div>' in html, prompt
    assert 'pressed <span class="command">Reroll</span>' in html
    assert "Cancelled" in html and "Nothing was charged to your quota." in html
    assert f"a battlefield full of {BLOCKED_WORD}" in html
    assert "Your prompt contains a blocked word or phrase." in html
    assert "You asked for 2 images, but your limit of 2 per day has only 1 left" in html
    assert "Imagining…" in html and "Accepted by kie.ai, waiting to start" in html
    assert "<strong>18 of 20</strong> left per day" in html
    assert "In progress (1 of at most 2 at a time)" in html


def test_buttons_and_private_replies_are_drawn(demo_run: DemoRun) -> None:
    """Each result has Reroll, Remix, Edit and Delete; live progress a red Cancel."""
    html = demo_run.html
    button = r'<span class="button ([a-z]+)">(?:<span class="emoji">[^<]*</span>)?([^<]+)</span>'
    results = 5  # Alice's, Bob's four, Carol's, Bob's reroll of Alice's, Dave's
    assert Counter(re.findall(button, html)) == {
        ("primary", "Reroll"): results,
        ("secondary", "Remix"): results,
        ("secondary", "Edit"): results,
        ("secondary", "Delete"): results,
        ("danger", "Cancel"): 1,
    }
    # Every private reply says so: 8 to /imagine, 1 to the Reroll, 1 to /quota, 3 to the admin.
    assert html.count('<article class="message ephemeral"') == 13
    assert html.count("Only you can see this") == 13


def test_results_are_kies_images_at_kies_sizes(demo_run: DemoRun) -> None:
    """Every result decodes, carries its kie task's stamp, and has the size asked for."""
    results = _results(demo_run.html)
    sizes = Counter(image.size for _, image in results)
    # 16:9 at 1K twice (Alice, Bob's reroll of it), four 3:4, one 2K square, one 4:3.
    assert sizes == {(1024, 576): 2, (768, 1024): 4, (2048, 2048): 1, (1024, 768): 1}
    stamps = [read_stamp(data) for data, _ in results]
    assert None not in stamps
    tasks = Counter(task for task, _ in stamps)  # type: ignore[misc]
    assert sorted(tasks.values()) == [1, 1, 1, 1, 4]
    four_up = next(task for task, n in tasks.items() if n == 4)
    assert sorted(i for t, i in stamps if t == four_up) == [0, 1, 2, 3]  # type: ignore[misc]


def test_members_have_drawn_avatars(demo_run: DemoRun) -> None:
    """Avatars are PNGs drawn locally, one per person shown."""
    avatars = {data for kind, data in _pictures(demo_run.html) if kind == "image/png"}
    # The bot, Ada Admin, Alice, Bob, Carol and Dave.
    assert len(avatars) == 6
    for data in avatars:
        assert Image.open(io.BytesIO(data)).size == (80, 80)


def test_an_unusable_out_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """--out naming a file fails at once: exit 1, one line saying why, nothing else."""
    taken = tmp_path / "a-file"
    taken.write_text("not a directory")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--out", str(taken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("demo: failed: ") and str(taken) in line


def test_on_a_terminal_the_progress_line_is_rewritten_in_place() -> None:
    """A TTY sees each step replace the last (carriage return, erase line), then a newline."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = ProgressLine(total=3, stream=screen)
    progress.step(1, "starting")
    progress.step(2, "working")
    progress.end()
    written = screen.getvalue()
    assert re.fullmatch(
        r"\r\x1b\[K\[1/3\] starting \(0 s\)\r\x1b\[K\[2/3\] working \(0 s\)\n", written
    )
