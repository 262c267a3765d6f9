"""Keep the Qt Linguist catalogues honest (used by the tests and by hand).

``extract`` finds every ``translate("Ctx", "text")``, ``tr("Ctx", "text")`` and
``translate_noop("Ctx", "text")`` with literal arguments in a package's sources;
``check`` says which of them a ``.ts`` lacks or leaves unfinished; ``compile`` runs
``pyside6-lrelease``. ``python -m ui_common.linguist update PKG`` adds missing strings
to the package's ``.ts`` files as unfinished, for a translator to fill in with Qt Linguist.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ui_common.errors import TranslationError
from ui_common.languages import Language

MARKERS = {"translate", "tr", "translate_noop", "QT_TRANSLATE_NOOP"}
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Entry:
    translation: str
    finished: bool


Key = tuple[str, str]


def extract(package_dir: Path) -> set[Key]:
    """(context, source) of every marked literal string under ``package_dir``."""
    found: set[Key] = set()
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            ctx, src = node.args[0], node.args[1]
            if (
                name in MARKERS
                and isinstance(ctx, ast.Constant)
                and isinstance(ctx.value, str)
                and isinstance(src, ast.Constant)
                and isinstance(src.value, str)
            ):
                found.add((ctx.value, src.value))
    return found


def read_ts(path: Path) -> dict[Key, Entry]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise TranslationError(f"cannot read {path}: {err}", file=str(path)) from err
    entries: dict[Key, Entry] = {}
    for context in root.iter("context"):
        name = context.findtext("name", default="")
        for message in context.iter("message"):
            source = message.findtext("source", default="")
            node = message.find("translation")
            text = "" if node is None or node.text is None else node.text
            kind = "" if node is None else node.get("type", "")
            entries[(name, source)] = Entry(
                text, bool(text) and kind not in ("unfinished", "obsolete", "vanished")
            )
    return entries


def write_ts(path: Path, language: Language, entries: dict[Key, Entry]) -> None:
    root = ET.Element("TS", version="2.1", language=str(language))
    for ctx in sorted({k[0] for k in entries}):
        context = ET.SubElement(root, "context")
        ET.SubElement(context, "name").text = ctx
        for (c, source), entry in sorted(entries.items()):
            if c != ctx:
                continue
            message = ET.SubElement(context, "message")
            ET.SubElement(message, "source").text = source
            node = ET.SubElement(message, "translation")
            node.text = entry.translation
            if not entry.finished:
                node.set("type", "unfinished")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n{body}\n', encoding="utf-8"
    )


def ts_path(package_dir: Path, language: Language) -> Path:
    return package_dir / "i18n" / f"{package_dir.name}_{language}.ts"


def problems(package_dir: Path) -> list[str]:
    """Every marked string without a finished translation, per language."""
    wanted = extract(package_dir)
    found: list[str] = []
    en_path = ts_path(package_dir, Language.EN)
    english = read_ts(en_path) if en_path.exists() else {}
    for lang in Language:
        path = ts_path(package_dir, lang)
        entries = read_ts(path) if path.exists() else {}
        for key in sorted(wanted):
            entry = entries.get(key)
            if entry is None or not entry.finished:
                found.append(f"{path.name}: {key[0]} / {key[1]!r} has no finished translation")
            elif _placeholders(entry.translation) != _placeholders(_reference(key, english)):
                found.append(
                    f"{path.name}: {key[1]!r} -> {entry.translation!r} changes placeholders"
                )
    return found


def _reference(key: Key, english: dict[Key, Entry]) -> str:
    """What a translation's placeholders must match: the source, or for a source that is a
    stable message key (``ccrn_not_found``, the kiosk's messages) its English text."""
    if _MESSAGE_KEY.match(key[1]) and key in english:
        return english[key].translation
    return key[1]


_MESSAGE_KEY = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


def _placeholders(text: str) -> set[str]:
    import string

    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def lrelease() -> str:
    exe = Path(sys.executable).parent / "pyside6-lrelease"
    if exe.exists():
        return str(exe)
    found = shutil.which("pyside6-lrelease")
    if found is None:
        raise TranslationError("pyside6-lrelease not found (it comes with PySide6)")
    return found


def compile_ts(ts: Path, qm: Path) -> None:
    result = subprocess.run(
        [lrelease(), "-silent", str(ts), "-qm", str(qm)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not qm.exists():
        raise TranslationError(f"lrelease failed on {ts}: {result.stderr.strip()}", file=str(ts))


def update(package_dir: Path) -> None:
    """Add missing strings (unfinished; English gets the source) and recompile."""
    wanted = extract(package_dir)
    for lang in Language:
        path = ts_path(package_dir, lang)
        path.parent.mkdir(exist_ok=True)
        entries = read_ts(path) if path.exists() else {}
        for key in wanted - entries.keys():
            entries[key] = Entry(key[1], True) if lang is Language.EN else Entry("", False)
        write_ts(path, lang, {k: v for k, v in entries.items() if k in wanted})
        compile_ts(path, path.with_suffix(".qm"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("update", "check", "compile"):
        print("usage: python -m ui_common.linguist update|check|compile PACKAGE", file=sys.stderr)  # noqa: T201
        return 2
    package_dir = ROOT / args[1]
    if args[0] == "update":
        update(package_dir)
    elif args[0] == "compile":
        for lang in Language:
            path = ts_path(package_dir, lang)
            compile_ts(path, path.with_suffix(".qm"))
    found = problems(package_dir)
    for line in found:
        print(line, file=sys.stderr)  # noqa: T201
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
