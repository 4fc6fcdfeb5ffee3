"""Static checks of a script's blocks, run once when it is compiled (and by `psflow check`).

It finds every block (its name, line, what it binds and reads, a fingerprint of
its code) and reports what would go wrong at run time. The rules are simple on
purpose, and each is a static approximation:

* error — the same literal name twice on one path: two blocks with the same
  literal name in one function (or module, or class) body, unless they sit in
  different branches of one `if`/`elif`/`else`, one `match`, or in different
  `except` handlers (or a handler and the `else`) of one `try`. An early `return`
  is not followed: rename one of them.
* warning — a literal block name inside a `for`/`while` body (of the same function):
  the second pass reaches the same name again and fails.
* warning — a block changes in place (method call, item or attribute assignment) a
  name bound outside it to something that is obviously not a list, dict, set,
  bytearray or dataclass: a lambda, a generator expression, or a call whose last
  name part says it makes a handle (`open`, `connect`, `socket`, `cursor`, `Popen`,
  `urlopen`, `Session`, `Lock`, `Thread`, … see `_HANDLE_MAKERS`). psflow cannot save
  that change, so a replay does not redo it.
* warning — a value that differs on every attempt decides which blocks run: a name
  assigned outside blocks from `random.*`, `secrets.*`, `datetime.now()/utcnow()/
  today()`, `date.today()`, `time.time()/time_ns()`, `uuid.uuid1()/uuid4()` or
  `os.urandom()` (under any import form; and names computed from such names), used in
  the test of an `if`/`while` (outside blocks) that has a block below it (or calls a
  function of this script that has one), or in a block's name. Such a call directly
  in the test or name counts too.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from psflow.script import NAMES
from psflow.transform.analysis import analyse_body
from psflow.transform.diagnostics import Diagnostic
from psflow.transform.locations import split_lines
from psflow.transform.matchers import (
    bound_names,
    callee,
    dotted_name,
    is_block_call,
    is_constant_other_than_str,
    name_argument,
    str_value,
)
from psflow.transform.reads import reads
from psflow.transform.sites import BlockSite, fingerprint

# Calls whose result differs on every attempt (qualified names; a module prefix ends with ".").
_NONDETERMINISTIC = {
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
    "time.time", "time.time_ns", "uuid.uuid1", "uuid.uuid4", "os.urandom",
}
_NONDETERMINISTIC_MODULES = ("random.", "secrets.")
_REPEATABLE = {"random.Random", "random.seed", "random.getstate", "random.setstate", "random.SystemRandom"}

# Last part of the name of a call that obviously returns a handle psflow's codec cannot save.
_HANDLE_MAKERS = {
    "open", "connect", "create_connection", "socket", "socketpair", "cursor", "urlopen", "Popen",
    "TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "ZipFile", "TarFile",
    "Lock", "RLock", "Condition", "Semaphore", "Event", "Thread", "Session",
}

# Names a script run by psflow has without binding them.
_PROVIDED = set(dir(builtins)) | set(NAMES)


@dataclass(frozen=True)
class Findings:
    """What the checks found; positions are in the text they were given."""

    sites: list[BlockSite]
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    callables: list[str | None]


def check_module(wrapper, text: str, filename: str) -> Findings:
    """Run the checks over `wrapper` (a libcst MetadataWrapper of `text`)."""
    checker = ScriptChecker(filename, split_lines(text), wrapper.module)
    wrapper.visit(checker)
    warnings = sorted(checker.warnings, key=lambda d: (d.line, d.column))
    return Findings(checker.sites, checker.errors, warnings, checker.callables)


# ---- what the walk collects ----------------------------------------------------


@dataclass
class _Binding:
    value: cst.BaseExpression | None  # what was assigned; None for imports, parameters, defs
    kind: str  # "assign", "unpack", "aug", "with", "for" or "other"
    line: int
    blocks: tuple[int, ...]  # ids of the blocks open where the name is bound


@dataclass
class _Scope:
    kind: str  # "module", "function" or "class"
    parent: _Scope | None
    bindings: dict[str, list[_Binding]] = field(default_factory=dict)
    declared_global: set[str] = field(default_factory=set)
    loops: list[tuple[int, str | None]] = field(default_factory=list)  # (line, `for` target name)
    path: list[tuple[int, int]] = field(default_factory=list)  # (if/match/try id, branch) around here
    open_blocks: list[_Found] = field(default_factory=list)
    deciders: list[_Decider] = field(default_factory=list)  # if/while statements open here
    literal_sites: dict[str, list[_Found]] = field(default_factory=dict)
    has_blocks: bool = False


@dataclass
class _Found:
    """A block being checked."""

    node: cst.With
    scope: _Scope
    name_node: cst.BaseExpression
    literal: str | None
    text: str
    line: int
    column: int
    path: tuple[tuple[int, int], ...]
    mutates: list[str]
    site: BlockSite


@dataclass
class _Decider:
    """The test of an `if`/`while` outside blocks."""

    test: cst.BaseExpression
    scope: _Scope
    keyword: str
    line: int
    column: int
    has_block: bool = False
    calls: set[str] = field(default_factory=set)


class ScriptChecker(cst.CSTVisitor):
    """Collects block sites and diagnostics; the cross-checks run when the module is left."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, filename: str, lines: list[str], module: cst.Module) -> None:
        super().__init__()
        self.filename, self.lines, self.module = filename, lines, module
        self.sites: list[BlockSite] = []
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.callables: list[str | None] = []
        self._scope = _Scope("module", parent=None)
        self._scopes = [self._scope]
        self._found: list[_Found] = []
        self._deciders: list[_Decider] = []
        self._open_deciders: dict[int, _Decider] = {}
        self._branches: dict[int, tuple[int, int]] = {}  # handler/case id → (try/match id, branch)
        self._random_calls: dict[int, str] = {}  # call id → "random.choice()"
        self._handle_calls: dict[int, str] = {}  # call id → "open()"
        self._functions_with_blocks: set[str] = set()

    # ---- scopes -------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        for decorator in node.decorators:
            call = decorator.decorator
            if self._is_block_call(call):
                name = name_argument(call)  # type: ignore[arg-type]
                self.callables.append(str_value(name) if name is not None else None)
        self._bind(node.name.value, None, "other", node)
        self._push("function")
        params = node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            self._bind(param.name.value, None, "other", param)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                self._bind(star.name.value, None, "other", star)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        if self._scope.has_blocks:
            self._functions_with_blocks.add(original_node.name.value)
        self._pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._bind(node.name.value, None, "other", node)
        self._push("class")

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._pop()

    def _push(self, kind: str) -> None:
        self._scope = _Scope(kind, parent=self._scope)
        self._scopes.append(self._scope)

    def _pop(self) -> None:
        assert self._scope.parent is not None
        self._scope = self._scope.parent

    def visit_Global(self, node: cst.Global) -> None:
        self._scope.declared_global.update(item.name.value for item in node.names)

    # ---- loops and exclusive branches ------------------------------------------

    def visit_For_body(self, node: cst.For) -> None:
        target = node.target.value if isinstance(node.target, cst.Name) else None
        self._scope.loops.append((self._line(node), target))

    def visit_While_body(self, node: cst.While) -> None:
        self._scope.loops.append((self._line(node), None))

    def _leave_loop_body(self, node: cst.CSTNode) -> None:
        self._scope.loops.pop()

    leave_For_body = leave_While_body = _leave_loop_body

    def visit_If_body(self, node: cst.If) -> None:
        self._scope.path.append((id(node), 0))

    def visit_If_orelse(self, node: cst.If) -> None:
        self._scope.path.append((id(node), 1))

    def _leave_branch(self, node: cst.CSTNode) -> None:
        self._scope.path.pop()

    leave_If_body = leave_If_orelse = _leave_branch

    def visit_Try(self, node: cst.Try) -> None:
        for index, handler in enumerate(node.handlers):
            self._branches[id(handler)] = (id(node), index + 1)

    def visit_Try_orelse(self, node: cst.Try) -> None:
        self._scope.path.append((id(node), 0))  # runs only when no handler does

    leave_Try_orelse = _leave_branch

    def visit_Match(self, node: cst.Match) -> None:
        for index, case in enumerate(node.cases):
            self._branches[id(case)] = (id(node), index)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._bind(node.name.name.value, None, "other", node)
        self._enter_branch(node)

    def leave_ExceptHandler(self, original_node: cst.ExceptHandler) -> None:
        self._leave_branch_of(original_node)

    def visit_MatchCase(self, node: cst.MatchCase) -> None:
        self._enter_branch(node)

    def leave_MatchCase(self, original_node: cst.MatchCase) -> None:
        self._leave_branch_of(original_node)

    def _enter_branch(self, node: cst.CSTNode) -> None:
        if id(node) in self._branches:
            self._scope.path.append(self._branches[id(node)])

    def _leave_branch_of(self, node: cst.CSTNode) -> None:
        if id(node) in self._branches:
            self._scope.path.pop()

    # ---- if/while tests that may decide which blocks run ---------------------------

    def visit_If(self, node: cst.If) -> None:
        self._open_decider(node, node.test, "if")

    def visit_While(self, node: cst.While) -> None:
        self._open_decider(node, node.test, "while")

    def _open_decider(self, node: cst.CSTNode, test: cst.BaseExpression, keyword: str) -> None:
        if self._scope.open_blocks:
            return  # a replayed block skips it: its decisions are not made again
        position = self._position(test).start
        decider = _Decider(test, self._scope, keyword, position.line, position.column + 1)
        self._deciders.append(decider)
        self._open_deciders[id(node)] = decider
        self._scope.deciders.append(decider)

    def leave_If(self, original_node: cst.If) -> None:
        self._close_decider(original_node)

    def leave_While(self, original_node: cst.While) -> None:
        self._close_decider(original_node)

    def _close_decider(self, node: cst.CSTNode) -> None:
        if self._open_deciders.pop(id(node), None) is not None:
            self._scope.deciders.pop()

    def visit_Call(self, node: cst.Call) -> None:
        names = self._qualified_names(node.func)
        for name in sorted(names):
            if name in _NONDETERMINISTIC or (name.startswith(_NONDETERMINISTIC_MODULES) and name not in _REPEATABLE):
                self._random_calls[id(node)] = f"{name}()"
        short = callee(node.func)
        last = {name.rsplit(".", 1)[-1] for name in names} | ({short.rsplit(".", 1)[-1]} if short else set())
        if last & _HANDLE_MAKERS:
            shown = sorted(names)[0].removeprefix("builtins.") if names else short
            self._handle_calls[id(node)] = f"{shown}()"
        if short and not self._scope.open_blocks:
            for decider in self._scope.deciders:
                decider.calls.add(short.rsplit(".", 1)[-1])

    # ---- bindings -------------------------------------------------------------

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_target(target.target, node.value, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind_target(node.target, node.value, node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, node.value, "aug", node)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, node.value, node)

    def visit_For(self, node: cst.For) -> None:
        for name in bound_names(node.target):
            self._bind(name, node.iter, "for", node)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, node.item, node, kind="with")

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            bound = alias.asname.name if alias.asname is not None else alias.name
            while isinstance(bound, cst.Attribute):
                bound = bound.value
            for name in bound_names(bound):
                self._bind(name, None, "other", node)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        source = dotted_name(node.module) if node.module is not None else ""
        for alias in node.names:
            bound = alias.asname.name if alias.asname is not None else alias.name
            if source in ("psflow", "psflow.blocks") and alias.asname is None:
                continue  # psflow's own names, which a script has anyway
            for name in bound_names(bound):
                self._bind(name, None, "other", node)

    def _bind_target(
        self, target: cst.BaseExpression, value: cst.BaseExpression, node: cst.CSTNode, kind: str = "assign"
    ) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, value, kind, node)
        else:
            for name in bound_names(target):
                self._bind(name, value, "unpack", node)

    def _bind(self, name: str, value: cst.BaseExpression | None, kind: str, node: cst.CSTNode) -> None:
        scope = self._scope
        if name in scope.declared_global:
            scope = self._scopes[0]
        blocks = tuple(id(found) for found in self._scope.open_blocks)
        scope.bindings.setdefault(name, []).append(_Binding(value, kind, self._line(node), blocks))

    # ---- blocks ---------------------------------------------------------------

    def visit_With(self, node: cst.With) -> None:
        calls = [item.item for item in node.items if self._is_block_call(item.item)]
        if len(calls) != 1 or node.asynchronous is not None:
            return  # the rewriter reports these
        name_node = name_argument(calls[0])  # type: ignore[arg-type]
        if name_node is None or is_constant_other_than_str(name_node):
            return  # `block(3)`: the rewriter reports it
        scope = self._scope
        index = next(i for i, item in enumerate(node.items) if item.item is calls[0])
        nodes: list[cst.CSTNode] = [*node.items[index + 1:], node.body]
        effects = analyse_body(nodes)
        start = self._position(node)
        literal = str_value(name_node)
        text = " ".join(self.module.code_for_node(name_node).split())
        used = reads([name_node, *nodes])
        site = BlockSite(
            name=literal if literal is not None else text,
            dynamic=literal is None,
            line=start.start.line,
            binds=tuple(effects.binds),
            reads=tuple(used),
            fingerprint=fingerprint(self.lines, start.start.line, start.end.line),
            end_line=start.end.line,
        )
        name_start = self._position(name_node).start
        found = _Found(
            node, scope, name_node, literal, text, site.line, name_start.column + 1,
            tuple(scope.path), list(effects.mutates), site,
        )
        self._found.append(found)
        if literal is not None:
            self._check_literal(found, scope)
        scope.open_blocks.append(found)
        scope.has_blocks = True
        for decider in scope.deciders:
            decider.has_block = True

    def leave_With(self, original_node: cst.With) -> None:
        if self._scope.open_blocks and self._scope.open_blocks[-1].node is original_node:
            self._scope.open_blocks.pop()

    def _check_literal(self, found: _Found, scope: _Scope) -> None:
        name = found.literal
        assert name is not None
        earlier = scope.literal_sites.setdefault(name, [])
        other = next((first for first in earlier if not _exclusive(first.path, found.path)), None)
        earlier.append(found)
        if other is not None:
            self._report(
                self.errors, found.line, found.column,
                f"block name {name!r} is used twice on one path (first at line {other.line}): "
                "when both run in one attempt, the second fails",
                f"give each block its own name (e.g. {name + '-2'!r}), or put them in different branches "
                "of one if/else",
            )
        if scope.loops:
            loop_line, variable = scope.loops[-1]
            example = name.replace("{", "{{").replace("}", "}}") + "-{" + (variable or "i") + "}"
            self._report(
                self.warnings, found.line, found.column,
                f"block name {name!r} is the same on every pass of the loop at line {loop_line}: "
                "the second pass reaches it again and fails",
                f'give each pass its own name, e.g. block(f"{example}")',
            )

    # ---- after the walk: checks that need the whole script -------------------------

    def leave_Module(self, original_node: cst.Module) -> None:
        bound = set().union(*(scope.bindings for scope in self._scopes))
        ignored = _PROVIDED - bound
        self.sites = [
            _with_reads(found.site, [name for name in found.site.reads if name not in ignored])
            for found in self._found
        ]
        tainted = self._tainted()
        self._check_deciders(tainted)
        self._check_names(tainted)
        self._check_mutations()

    def _tainted(self) -> dict[tuple[int, str], str]:
        """(scope id, name) → where its attempt-dependent value comes from ("random.choice() at line 4"),
        for names bound outside blocks."""
        tainted: dict[tuple[int, str], str] = {}
        changed = True
        while changed:
            changed = False
            for scope in self._scopes:
                for name, bindings in scope.bindings.items():
                    if (id(scope), name) in tainted:
                        continue
                    for binding in bindings:
                        if binding.value is None or binding.blocks:
                            continue
                        found = self._source_of(binding.value, scope, tainted)
                        if found is not None:
                            via, source = found
                            tainted[(id(scope), name)] = source if via else f"{source} at line {binding.line}"
                            changed = True
                            break
        return tainted

    def _source_of(
        self, expression: cst.BaseExpression, scope: _Scope, tainted: dict[tuple[int, str], str]
    ) -> tuple[str | None, str] | None:
        """What makes `expression` differ per attempt: (None, "random.random()") for a call in it,
        (name, its source) for a name it reads that is tainted; None if nothing does."""
        for call in _calls(expression):
            if id(call) in self._random_calls:
                return None, self._random_calls[id(call)]
        for name in reads([expression]):
            owner = self._owner(scope, name)
            if owner is not None and (id(owner), name) in tainted:
                return name, tainted[(id(owner), name)]
        return None

    def _owner(self, scope: _Scope, name: str) -> _Scope | None:
        """The scope whose `name` a read in `scope` sees (Python's rules, without closures' subtleties)."""
        if name in scope.declared_global:
            return self._scopes[0]
        current: _Scope | None = scope
        while current is not None:
            if current.kind != "class" or current is scope:
                if name in current.bindings:
                    return current
            current = current.parent
        return None

    def _check_deciders(self, tainted: dict) -> None:
        for decider in self._deciders:
            if not (decider.has_block or decider.calls & self._functions_with_blocks):
                continue
            found = self._source_of(decider.test, decider.scope, tainted)
            if found is None:
                continue
            self._report(
                self.warnings, decider.line, decider.column,
                f"this {decider.keyword} test uses {_describe(found)}, which differs on every attempt, "
                "and decides which blocks run: a resumed job may take another path",
                "compute the value inside a block, so it is saved and the same on every attempt",
            )

    def _check_names(self, tainted: dict) -> None:
        for found in self._found:
            if found.literal is not None:
                continue
            source = self._source_of(found.name_node, found.scope, tainted)
            if source is None:
                continue
            self._report(
                self.warnings, found.line, found.column,
                f"block name {found.text} uses {_describe(source)}, which differs on every attempt: "
                "a resumed job will not find the block it completed, and runs it again",
                "compute the value inside a block (or from the job's arguments), so it is the same on every attempt",
            )

    def _check_mutations(self) -> None:
        reported: set[tuple[int, str]] = set()
        for found in self._found:
            for name in found.mutates:
                owner = self._owner(found.scope, name)
                if owner is None or (id(owner), name) in reported:
                    continue
                outside = [b for b in owner.bindings[name] if id(found) not in b.blocks]
                what = next(
                    ((description, b.line) for b in outside if (description := self._unsaveable(b)) is not None),
                    None,
                )
                if what is None:
                    continue
                reported.add((id(owner), name))
                self._report(
                    self.warnings, found.line, found.column,
                    f"block {found.site.label()} changes `{name}` in place, but `{name}` ({what[0]} at line "
                    f"{what[1]}) is not a list, dict, set, bytearray or dataclass: psflow cannot save the change, "
                    f"and a replay leaves `{name}` as it was before the block",
                    "if code after the block needs that change, make it outside the block "
                    "(a mere side effect, like a write, needs nothing)",
                )

    def _unsaveable(self, binding: _Binding) -> str | None:
        value = binding.value
        if binding.kind not in ("assign", "with") or value is None:
            return None
        if isinstance(value, cst.Lambda):
            return "a lambda"
        if isinstance(value, cst.GeneratorExp):
            return "a generator"
        if isinstance(value, cst.Call) and id(value) in self._handle_calls:
            return self._handle_calls[id(value)]
        return None

    # ---- helpers ----------------------------------------------------------------

    def _is_block_call(self, node: cst.BaseExpression) -> bool:
        """As BlockRewriter recognises a block."""
        return is_block_call(node, self._qualified_names)

    def _qualified_names(self, node: cst.CSTNode) -> set[str]:
        return {name.name for name in self.get_metadata(QualifiedNameProvider, node, set())}

    def _position(self, node: cst.CSTNode):
        return self.get_metadata(PositionProvider, node)

    def _line(self, node: cst.CSTNode) -> int:
        return self._position(node).start.line

    def _report(self, into: list[Diagnostic], line: int, column: int, message: str, fix: str) -> None:
        severity = "error" if into is self.errors else "warning"
        into.append(Diagnostic(severity, self.filename, line, column, message, fix=fix))


def _exclusive(first: tuple[tuple[int, int], ...], second: tuple[tuple[int, int], ...]) -> bool:
    """Can at most one of two places run? Yes if they are in different branches of one if/match/try."""
    for (node, branch), (other_node, other_branch) in zip(first, second):
        if node != other_node:
            return False
        if branch != other_branch:
            return True
    return False


def _describe(found: tuple[str | None, str]) -> str:
    """"random.random()", or "`pick` (from random.choice() at line 4)"."""
    via, source = found
    return source if via is None else f"`{via}` (from {source})"


def _with_reads(site: BlockSite, names: list[str]) -> BlockSite:
    from dataclasses import replace

    return replace(site, reads=tuple(names))


def _calls(expression: cst.CSTNode) -> list[cst.Call]:
    collector = _CallCollector()
    expression.visit(collector)
    return collector.calls


class _CallCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False  # not called here
