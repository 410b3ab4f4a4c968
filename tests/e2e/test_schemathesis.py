"""Schemathesis against a live server (issue 15, item 4): the REST door conforms to its own
OpenAPI document. Examples, fuzzing in both modes (schema-valid and schema-violating requests)
and stateful scenarios that follow the document's links (create a filter or a tensor, then use
and destroy it), with Schemathesis's conformance checks: no 5xx, documented status codes,
content types and headers, responses that validate against their schemas, and schema-violating
requests refused.

One check is left out on purpose: ``positive_data_acceptance`` (every schema-valid request is
accepted). A body can be schema-valid and still wrong for the handle it names (shapes that do not
match the filter, a handle that does not exist): those are 400/404 by design, which a schema
cannot express. The coverage phase (boundary values of every field, ~40,000 requests, 4 minutes
here) is left to a manual run: `schemathesis run <url>/openapi.json --phases coverage`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path




def test_schemathesis_conformance(server, tmp_path):
    executable = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        [executable, "run", f"{server.http_url}/openapi.json",
         "--phases", "examples,fuzzing,stateful", "--mode", "all", "--max-examples", "10",
         "--generation-deterministic", "--exclude-checks", "positive_data_acceptance",
         # Hypothesis's health checks judge the generator, not the API: CreateFilterRequest's schema
         # (every layer kind, fused members, descriptors) trips large_base_example, and a loaded
         # CI machine trips too_slow.
         "--suppress-health-check", "all",
         "--report", "junit", "--report-junit-path", str(report), "--no-color"],
        capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    # It really ran: every operation tested, and stateful scenarios over the creators' links.
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested and int(tested.group(1)) == int(selected.group(2)) > 30, output[-3000:]
    scenarios = re.search(r"Scenarios:\s+(\d+)", output)
    assert scenarios and int(scenarios.group(1)) > 0 and "API Links:" in output, output[-3000:]
    assert report.exists() and "<testcase" in report.read_text()
