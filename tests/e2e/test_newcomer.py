"""Small gaps a newcomer meets (issue 15, edge 8): the README's curl steps and Layout, the Docker
build context, and the example's progress bar in logs."""

from __future__ import annotations

import io
import pathlib
import re

from .test_training_example import load_example

ROOT = pathlib.Path(__file__).resolve().parents[2]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_on_a_terminal_only():
    progress = load_example().progress
    log = io.StringIO()
    progress(3, 10, "loss 1.0", stream=log)
    progress(10, 10, "loss 0.5", stream=log)
    assert log.getvalue() == ""
    terminal = _Terminal()
    progress(3, 10, "loss 1.0", stream=terminal)
    assert terminal.getvalue().startswith("\r  [#########") and "3/10 loss 1.0" in terminal.getvalue()


def test_readme_layout_names_every_benchmark_and_top_level_folder():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    benches = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"__init__", "common"}
    line = re.search(r"python -m bench\.([^\n]+)", layout)
    assert line is not None, "the layout has no `python -m bench.` line"
    listed = set(line.group(1).replace("bench.", "").split(" | "))
    assert benches == {b.strip() for b in listed}
    for folder in ("proto/", "kernels/", "server/", "client/", "tests/", "bench/", "examples/", "docs/", "docker/"):
        assert f"\n{folder}" in layout, folder


def test_readme_curl_steps_say_the_id_is_yours_to_substitute():
    readme = (ROOT / "README.md").read_text()
    curl = readme[readme.index("## REST with curl"):readme.index("Other languages")]
    assert "in place of `f-4c9a2a740acf2da5`" in curl


def test_dockerignore_keeps_local_state_out_and_what_the_image_copies_in():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "**/__pycache__"} <= ignored
    copied = {source for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY") for source in line.split()[1:-1]}
    assert copied and not copied & ignored, copied & ignored
