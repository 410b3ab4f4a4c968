"""Count the code whose job is to define or convert parameter structs (issue 10's measure).

    python tools/struct_lines.py [REV ...]      # default: the working tree; REV: any git revision
    python tools/struct_lines.py -v [REV]       # also list every counted definition

Counted, as whole top-level definitions (decorators and docstrings included, blank lines not):

* the SDK's structs: all of client/structs.py (the descriptor, derive() and the C structs made
  with it), and in the other client/*.py modules every dataclass, every class with a
  ``to_proto`` method or used as a ``base=`` of derive(), and every statement that makes
  structs (calls ``derive(`` or ``make_dataclass(``) or patches their ``to_proto``;
* the kernels' parameter structs: classes in kernels/*.py named ``*Params``,
  ``*Parameters`` or ``*Fields``, plus those that mirror a wire message under another name
  (Activation, ArithmeticOperand, LSTMGateDescriptor, LSTMDataDescriptor);
* the wire -> kernel parameter decoders: the functions and tables of server/codec.py from its
  "layer parameters" section on, and the activation, pad and optional-descriptor readers above
  it (the rest above it, array and descriptor decoding, is the data path),
  and in server/kinds.py every statement that decodes a parameters message (calls
  ``decode_as(`` or is a ``*_params`` function) with the helpers only they use.

Target (issue 10): at most half of the issue's 590-line baseline, i.e. 295.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = re.compile(r"(Params|Parameters|Fields)$")
KERNEL_EXTRA = {"Activation", "ArithmeticOperand", "LSTMGateDescriptor", "LSTMDataDescriptor"}
KINDS_HELPERS = {"_padding_pairs", "_operand_descriptor"}
CODEC_ABOVE = {"activation", "pad4", "_INTEGER_SATURATIONS", "optional_descriptor"}   # parameter decoding too
CODEC_START = "# ---------------------------------------------------------------------------- layer parameters"


def _source(rev: str | None, path: str) -> str | None:
    if rev is None:
        file = ROOT / path
        return file.read_text() if file.exists() else None
    done = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def _files(rev: str | None, folder: str) -> list:
    if rev is None:
        return sorted(str(p.relative_to(ROOT)) for p in (ROOT / folder).glob("*.py"))
    done = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:{folder}"],
                          capture_output=True, text=True, check=True)
    return sorted(f"{folder}/{n}" for n in done.stdout.split() if n.endswith(".py"))


def _lines(text: str, node: ast.stmt) -> tuple:
    """(first line, last line, non-blank lines) of a top-level statement."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    last = node.end_lineno or node.lineno
    body = text.splitlines()[first - 1:last]
    return first, last, sum(1 for line in body if line.strip())


def _name(node: ast.AST) -> str:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
        return node.name
    if isinstance(node, ast.Assign):
        return ", ".join(ast.unparse(t) for t in node.targets)
    return ast.unparse(node).split("\n")[0][:60]


def _is_dataclass(node: ast.ClassDef) -> bool:
    return any("dataclass" in ast.unparse(d) for d in node.decorator_list)


def _client(path: str, text: str, tree: ast.Module) -> list:
    if path.endswith("/structs.py"):
        return list(tree.body)
    bases = set(re.findall(r"base=(\w+)", text)) | set(re.findall(r"bases=\((\w+),", text))
    chosen: list[ast.stmt] = []
    for node in tree.body:
        code = ast.get_source_segment(text, node) or ""
        if isinstance(node, ast.ClassDef):
            methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            if _is_dataclass(node) or "to_proto" in methods or node.name in bases:
                chosen.append(node)
        elif isinstance(node, (ast.Assign, ast.FunctionDef, ast.Expr)):
            if "derive(" in code or "make_dataclass(" in code or ".to_proto = " in code:
                chosen.append(node)
    return chosen


def _kernels(path: str, text: str, tree: ast.Module) -> list:
    return [n for n in tree.body if isinstance(n, ast.ClassDef)
            and (KERNEL_NAME.search(n.name) or n.name in KERNEL_EXTRA)]


def _codec(path: str, text: str, tree: ast.Module) -> list:
    start = next((k + 1 for k, line in enumerate(text.splitlines()) if line.startswith(CODEC_START)), None)
    if start is None:
        return []
    skip = {"strip_tensor_data"}         # FilterInfo's descriptor stripping, not a decoder
    return [n for n in tree.body if (n.lineno > start and not isinstance(n, (ast.Import, ast.ImportFrom))
                                     and _name(n) not in skip) or _name(n) in CODEC_ABOVE]


def _kinds(path: str, text: str, tree: ast.Module) -> list:
    chosen: list[ast.stmt] = []
    for node in tree.body:
        code = ast.get_source_segment(text, node) or ""
        name = _name(node)
        if isinstance(node, ast.FunctionDef) and (name.endswith("_params") or name in KINDS_HELPERS):
            chosen.append(node)
        elif isinstance(node, ast.Assign) and "decode_as(" in code:
            chosen.append(node)
    return chosen


def measure(rev: str | None) -> dict:
    """{group: [(path, first, last, lines, name), ...]} at ``rev`` (None: the working tree)."""
    plan = [("client", f, _client) for f in _files(rev, "client")]
    plan += [("kernels", f, _kernels) for f in _files(rev, "kernels")]
    plan += [("codec", "server/codec.py", _codec), ("codec", "server/kinds.py", _kinds)]
    out: dict = {"client": [], "kernels": [], "codec": []}
    for group, path, select in plan:
        text = _source(rev, path)
        if text is None:
            continue
        tree = ast.parse(text)
        for node in select(path, text, tree):
            first, last, count = _lines(text, node)
            out[group].append((path, first, last, count, _name(node)))
    return out


def main(argv: list) -> None:
    verbose = "-v" in argv
    revs = [a for a in argv if a != "-v"] or [None]
    for rev in revs:
        counted = measure(rev)
        totals = {g: sum(item[3] for item in items) for g, items in counted.items()}
        print(f"{rev or 'working tree'}: client {totals['client']} + kernels {totals['kernels']} + "
              f"codec {totals['codec']} = {sum(totals.values())} lines (target <= 295)")
        if verbose:
            for group, items in counted.items():
                for path, first, last, count, name in items:
                    print(f"  {group:8} {path}:{first}-{last}  {count:4}  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
