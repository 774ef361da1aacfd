"""Read YAML the way Spread's Go decoder does, keeping lines for error messages.

Scalars stay raw text (`yes`, `1.10`, `0755` are strings where Spread reads
strings); typed fields are converted here with Spread's rules, and every error
names the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import yaml

from pytest_spread.errors import ProjectError
from pytest_spread.project import gocompat
from pytest_spread.project.model import (
    EMPTY_ENV,
    ENV_KEY_RE,
    Environment,
    ProjectWarning,
    Scripts,
    Skip,
    Timeouts,
)

try:
    _Loader: type = yaml.CBaseLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.BaseLoader

Node = yaml.Node
T = TypeVar("T")

_SCRIPT_KEYS = ("prepare", "restore", "debug")
_EACH_KEYS = ("prepare-each", "restore-each", "debug-each")
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_KIND = {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list", yaml.ScalarNode: "a scalar"}


def parse_file(path: Path) -> Node | None:
    """The composed YAML document of `path`, or None for an empty document."""
    try:
        with open(path, "rb") as stream:
            return yaml.compose(stream, Loader=_Loader)
    except OSError as exc:
        raise ProjectError(f"cannot read file: {exc.strerror or exc}", file=path) from exc
    except yaml.MarkedYAMLError as exc:
        line, problem = _describe_yaml_error(path, exc)
        raise ProjectError(f"invalid YAML: {problem}", file=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise ProjectError(f"invalid YAML: {exc}", file=path) from exc


def _describe_yaml_error(path: Path, exc: yaml.MarkedYAMLError) -> tuple[int, str]:
    """(line, problem) of a YAML error, pointing inside the file and naming tabs."""
    problem = exc.problem or exc.context or "invalid YAML"
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return 0, problem
    lines = path.read_text(errors="replace").splitlines()
    if mark.line >= len(lines) and exc.context_mark is not None:
        # At the end of the stream: the unfinished construct started at the context mark.
        return exc.context_mark.line + 1, f"{problem} {exc.context}"
    text = lines[mark.line] if mark.line < len(lines) else ""
    if "cannot start any token" in problem and text[mark.column : mark.column + 1] == "\t":
        problem = "found a tab character that violates indentation"
    return mark.line + 1, problem


def is_null(node: Node | None) -> bool:
    """True for an absent value, `key:`, `~` or `null` (plain, not quoted)."""
    return node is None or (
        isinstance(node, yaml.ScalarNode) and not node.style and node.value in _NULLS
    )


def line_of(node: Node) -> int:
    """The 1-based line where `node` starts."""
    return int(node.start_mark.line) + 1


class Fields:
    """The keys of one YAML mapping, read with Spread's typing rules.

    `where` is the field path of the mapping itself (`backends.lxd`); errors
    name `where.key`. Keys read through this object count as known: the rest
    are reported by `unknown_keys()`.
    """

    def __init__(self, node: Node | None, file: Path, where: str = "") -> None:
        self.file = file
        self.where = where
        self.node = node
        self.line = line_of(node) if node is not None else 1
        self._items: dict[str, tuple[Node, Node]] = {}
        self._read: set[str] = set()
        if is_null(node):
            return
        if not isinstance(node, yaml.MappingNode):
            raise self.error(f"expected a mapping, got {_describe(node)}", node=node)
        for key_node, value_node in mapping_pairs(node, file, where):
            self._items[key_node.value] = (key_node, value_node)

    # -- errors -------------------------------------------------------------

    def path(self, key: str) -> str:
        """The field path of `key` in this mapping."""
        return f"{self.where}.{key}" if self.where else key

    def error(
        self, message: str, *, key: str = "", node: Node | None = None, line: int = 0
    ) -> ProjectError:
        """A ProjectError located at `line`, else `node`, else this mapping, naming `key`."""
        if not line:
            if node is not None:
                line = line_of(node)
            else:
                line = self.key_line(key) if key in self._items else self.line
        field = self.path(key) if key else self.where
        return ProjectError(message, file=self.file, line=line, field=field)

    # -- access -------------------------------------------------------------

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def keys(self) -> list[str]:
        return list(self._items)

    def raw(self, key: str) -> Node | None:
        """The value node of `key` (None when absent); marks the key as known."""
        self._read.add(key)
        pair = self._items.get(key)
        return pair[1] if pair is not None else None

    def item_line(self, key: str, index: int) -> int:
        """The line of item `index` of the list under `key` (the key's line otherwise)."""
        node = self.raw(key)
        if isinstance(node, yaml.SequenceNode) and index < len(node.value):
            return line_of(node.value[index])
        return self.key_line(key)

    def key_line(self, key: str) -> int:
        pair = self._items.get(key)
        return line_of(pair[0]) if pair is not None else self.line

    def unknown_keys(self) -> list[tuple[str, int]]:
        """(key, line) of every key that no reader asked for."""
        return [(k, line_of(kn)) for k, (kn, _) in self._items.items() if k not in self._read]

    # -- typed readers -------------------------------------------------------

    def string(self, key: str) -> str:
        """A string field: the scalar's raw text, "" when absent or null."""
        node = self.raw(key)
        if is_null(node):
            return ""
        assert node is not None
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(f"expected a string, got {_describe(node)}", key=key, node=node)
        return str(node.value)

    def _plain(self, key: str, convert: Callable[[str], T], default: T, what: str) -> T:
        """A plain (unquoted) scalar converted by `convert`, as Go decodes bools and ints."""
        node = self.raw(key)
        if is_null(node):
            return default
        assert node is not None
        if isinstance(node, yaml.ScalarNode) and not node.style:
            try:
                return convert(str(node.value))
            except ValueError:
                pass
        raise self.error(f"expected {what}, got {_describe(node)}", key=key, node=node)

    def _parsed(self, key: str, parse: Callable[[str], int]) -> int:
        """A string field parsed by `parse`, whose ValueError text is Spread's message."""
        text = self.string(key)
        if not text:
            return 0
        try:
            return parse(text)
        except ValueError as exc:
            raise self.error(str(exc), key=key, node=self.raw(key)) from exc

    def boolean(self, key: str) -> bool:
        return self._plain(key, gocompat.parse_yaml_bool, False, "a boolean (true or false)")

    def integer(self, key: str) -> int | None:
        """An integer field; None when absent or null (Spread's OptionalInt)."""
        return self._plain(key, gocompat.parse_go_int, None, "an integer")

    def timeout(self, key: str) -> int:
        """A Go duration in nanoseconds (0 when absent)."""
        return self._parsed(key, gocompat.parse_timeout)

    def size(self, key: str) -> int:
        """A size such as `512M` in bytes (0 when absent, -1 for preserve-size)."""
        return self._parsed(key, gocompat.parse_size)

    def string_list(self, key: str) -> tuple[str, ...]:
        """A list of strings; absent or null is empty."""
        node = self.raw(key)
        if is_null(node):
            return ()
        assert node is not None
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(f"expected a list, got {_describe(node)}", key=key, node=node)
        values = []
        for index, item in enumerate(node.value):
            if is_null(item):
                values.append("")
            elif isinstance(item, yaml.ScalarNode):
                values.append(str(item.value))
            else:
                raise self.error(
                    f"expected a string, got {_describe(item)}", key=f"{key}[{index}]", node=item
                )
        return tuple(values)

    def fields(self, key: str) -> Fields:
        """A nested mapping (empty when absent or null), located at its key's line."""
        nested = Fields(self.raw(key), self.file, self.path(key))
        nested.line = self.key_line(key)
        return nested

    def sequence(self, key: str) -> list[Node]:
        """The items of a list field (empty when absent or null)."""
        node = self.raw(key)
        if is_null(node):
            return []
        assert node is not None
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(f"expected a list, got {_describe(node)}", key=key, node=node)
        return list(node.value)


def mapping_pairs(node: Node, file: Path, where: str) -> Iterator[tuple[Node, Node]]:
    """(key, value) nodes of a mapping, with `<<` merges applied and duplicates refused."""
    seen: dict[str, Node] = {}
    merged: list[tuple[Node, Node]] = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ProjectError(
                f"expected a string key, got {_describe(key_node)}",
                file=file,
                line=line_of(key_node),
                field=where,
            )
        if key_node.value == "<<" and not key_node.style:
            merged.extend(_merge_sources(value_node, file, where))
            continue
        key = str(key_node.value)
        if key in seen:
            field = f"{where}.{key}" if where else key
            raise ProjectError(
                f"{key!s} defined twice (first at line {line_of(seen[key])})",
                file=file,
                line=line_of(key_node),
                field=field,
            )
        seen[key] = key_node
        yield key_node, value_node
    for key_node, value_node in merged:
        if key_node.value not in seen:
            seen[key_node.value] = key_node
            yield key_node, value_node


def _merge_sources(node: Node, file: Path, where: str) -> list[tuple[Node, Node]]:
    sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
    pairs: list[tuple[Node, Node]] = []
    for source in sources:
        if not isinstance(source, yaml.MappingNode):
            raise ProjectError(
                "<< merge needs a mapping or a list of mappings",
                file=file,
                line=line_of(source),
                field=where,
            )
        pairs.extend(mapping_pairs(source, file, where))
    return pairs


def _describe(node: Node | None) -> str:
    if isinstance(node, yaml.ScalarNode):
        return gocompat.go_quote(str(node.value))
    return _KIND.get(type(node), "something else")


def read_environment(fields: Fields, context: str) -> Environment:
    """The `environment` mapping of `fields`, validated as Spread does.

    `context` names the level in messages (`project`, `backend "lxd"`,
    `lxd:ubuntu-16.04`, `suite tests/`, `tests/main`).
    """
    node = fields.raw("environment")
    if is_null(node):
        return EMPTY_ENV
    assert node is not None
    if not isinstance(node, yaml.MappingNode):
        raise fields.error(
            f"expected a mapping, got {_describe(node)}", key="environment", node=node
        )
    keys: list[str] = []
    values: list[str] = []
    lines: list[int] = []
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
        where = f"environment.{key}" if key else "environment"
        if not ENV_KEY_RE.match(key):
            raise fields.error(
                f"invalid {context} environment: invalid variable name: {gocompat.go_quote(key)}",
                key=where,
                node=key_node,
            )
        if key in keys:
            raise fields.error(
                f"invalid {context} environment: variable "
                f"{gocompat.go_quote(key)} defined multiple times",
                key=where,
                node=key_node,
            )
        if is_null(value_node):
            value = ""
        elif isinstance(value_node, yaml.ScalarNode):
            value = str(value_node.value)
        else:
            raise fields.error(
                f"expected a string, got {_describe(value_node)}", key=where, node=value_node
            )
        keys.append(key)
        values.append(value)
        lines.append(line_of(key_node))
    return Environment(
        tuple(keys), tuple(values), tuple(lines), fields.file, fields.path("environment")
    )


def read_scripts(fields: Fields, *, each: bool) -> Scripts:
    """The trimmed prepare/restore/debug scripts, with the `*-each` ones when `each`."""
    plain = [fields.string(key).strip() for key in _SCRIPT_KEYS]
    if not each:
        return Scripts(*plain)
    return Scripts(*plain, *(fields.string(key).strip() for key in _EACH_KEYS))


def read_timeouts(fields: Fields) -> Timeouts:
    return Timeouts(warn=fields.timeout("warn-timeout"), kill=fields.timeout("kill-timeout"))


def unknown_warnings(fields: Fields, level: str, kind: str) -> list[ProjectWarning]:
    """Warnings for the keys of `fields` that no reader asked for."""
    return [
        ProjectWarning(
            f"unknown {level} field {gocompat.go_quote(key)} (Spread ignores it)",
            fields.file,
            line,
            fields.path(key),
            kind=f"unknown {kind} field {gocompat.go_quote(key)}",
        )
        for key, line in fields.unknown_keys()
    ]


def read_cascade_list(fields: Fields, key: str, context: str) -> tuple[str, ...]:
    """A `systems`/`backends`/`variants` list, checked as Spread's cascade checks it.

    A list is all plain names or all `+`/`-` deltas; globs must be valid.
    """
    entries = fields.string_list(key)
    kinds = {entry[:1] in ("+", "-") for entry in entries}
    if len(kinds) > 1:
        raise fields.error(
            f"{context} specifies {key} both in delta and plain format",
            key=key,
            node=fields.raw(key),
        )
    for index, entry in enumerate(entries):
        pattern = entry[1:] if entry[:1] in ("+", "-") else entry
        try:
            gocompat.compile_glob(pattern)
        except gocompat.GlobSyntaxError as exc:
            raise fields.error(
                f"{context} has invalid {key} pattern {gocompat.go_quote(pattern)}: {exc}",
                key=f"{key}[{index}]",
                line=fields.item_line(key, index),
            ) from exc
    return entries


def read_artifacts(fields: Fields, message: str) -> tuple[str, ...]:
    """The `artifacts` list: clean relative paths inside the directory, as Spread checks them.

    `message` is Spread's sentence for a bad path, with `{path}` in it.
    """
    artifacts = fields.string_list("artifacts")
    for index, artifact in enumerate(artifacts):
        if artifact.startswith(("/", "../")) or gocompat.clean_path(artifact) != artifact:
            raise fields.error(
                message.format(path=artifact),
                key=f"artifacts[{index}]",
                line=fields.item_line("artifacts", index),
            )
    return artifacts


def read_skips(fields: Fields, context: str, warnings: list[ProjectWarning]) -> tuple[Skip, ...]:
    """spread-plus' `skip:` list of `{reason, if}` entries, both required and trimmed."""
    skips: list[Skip] = []
    for index, item in enumerate(fields.sequence("skip")):
        entry = Fields(item, fields.file, fields.path(f"skip[{index}]"))
        reason, condition = entry.string("reason").strip(), entry.string("if").strip()
        if not reason or not condition:
            raise entry.error(f"{context} is missing either the if or reason for the skip")
        skips.append(Skip(reason, condition, entry.line))
        warnings.extend(unknown_warnings(entry, f"{context} skip", "skip"))
    return tuple(skips)
