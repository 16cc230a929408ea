"""Reading YAML definition files with line numbers, so every error can say where it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.errors import StartupError

# libyaml's C loader when present: the same safe subset of YAML, several times faster.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PathKey = tuple[str | int, ...]


class DefinitionError(StartupError):
    """A definition file that cannot be used. ``str()`` gives "file, line N: sentence"."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        super().__init__(message)
        self.path = str(path)
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = f"{self.path}, line {self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class Document:
    """Parsed YAML plus the line where each mapping key or list item starts."""

    path: Path
    text: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, *where: str | int) -> int | None:
        """The line of the deepest known part of ``where`` (falls back to its parents)."""
        key: PathKey = tuple(where)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return 1

    def error(self, message: str, *where: str | int) -> DefinitionError:
        return DefinitionError(self.path, self.line_of(*where), message)


def _index_lines(node: yaml.Node, doc: Document, here: PathKey) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DefinitionError(
                    doc.path, line, f"the key '{key}' appears twice here (first on line {seen[key]})"
                )
            seen[key] = line
            doc.lines[(*here, key)] = line
            _index_lines(value_node, doc, (*here, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            doc.lines[(*here, index)] = item.start_mark.line + 1
            _index_lines(item, doc, (*here, index))


def load_document(path: Path, text: str | None = None) -> Document:
    """Safe-load one YAML file; YAML errors and duplicate keys become DefinitionErrors with a line."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DefinitionError(path, None, f"cannot be read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=SafeLoader)
        data = yaml.load(text, Loader=SafeLoader)  # noqa: S506 - SafeLoader (the C one where available)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError(path, mark.line + 1 if mark else None, f"is not valid YAML: {problem}") from None
    doc = Document(path=path, text=text, data=data)
    if node is not None:
        _index_lines(node, doc, ())
    if not isinstance(data, dict):
        raise DefinitionError(path, 1, "must be a YAML mapping (key: value lines) at the top level")
    return doc
