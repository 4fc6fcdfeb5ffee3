"""The `block "Name":` shorthand, expanded to `with block("Name"):` before parsing.

Works on tokens, so strings, comments and `block` used as an ordinary name are
never touched, and no line moves: every edit stays on the line it starts on.
"""

from __future__ import annotations

import contextlib
import io
import tokenize
from collections.abc import Iterator

from psflow.transform.locations import Insertion, Layer

_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
_SKIPPED = {tokenize.NL, tokenize.COMMENT}
_STRING_STARTS = {tokenize.STRING} | ({tokenize.FSTRING_START} if hasattr(tokenize, "FSTRING_START") else set())
_OPEN, _CLOSE = "([{", ")]}"

Position = tuple[int, int]  # (line, column), as tokenize gives them


def expand_shorthand(source: str) -> tuple[str, Layer]:
    """Return `source` with every shorthand block header in plain Python, and what was inserted where.

    Where the source stops tokenizing, expansion stops too: headers before that
    point are expanded, so the parser reports the syntax error at its true place.
    """
    # Lines exactly as tokenize reads them (str.splitlines would also split at \f, \x1c, \u2028, ...).
    lines = io.StringIO(source).readlines()
    tokens: list[tokenize.TokenInfo] = []
    with contextlib.suppress(tokenize.TokenError, SyntaxError):
        tokens.extend(tokenize.generate_tokens(iter(lines).__next__))
    headers = list(_find_headers(tokens))
    if not headers:
        return source, Layer()
    insertions: list[Insertion] = []
    # Edit from the end so earlier positions stay valid.
    for keyword, name_start, name_end in reversed(headers):
        (kline, kcol), (sline, scol), (eline, ecol) = keyword.start, name_start, name_end
        lines[eline - 1] = lines[eline - 1][:ecol] + ")" + lines[eline - 1][ecol:]
        insertions.append(Insertion(eline, ecol, 1))
        text, after = lines[kline - 1], keyword.end[1]
        # `block "N"` → `with block("N")`: the first blank after `block` becomes the `(`.
        if sline == kline and text[after:scol]:
            lines[kline - 1] = text[:kcol] + "with block(" + text[after + 1 :]
        else:  # no blank (`block"N"`), or the name starts on a later line
            lines[kline - 1] = text[:kcol] + "with block(" + text[after:]
            insertions.append(Insertion(kline, after, 1))
        insertions.append(Insertion(kline, kcol, len("with ")))
    return "".join(lines), Layer(insertions)


def _find_headers(tokens: list[tokenize.TokenInfo]) -> Iterator[tuple[tokenize.TokenInfo, Position, Position]]:
    """Yield (block token, name start, name end) for each shorthand header."""
    previous = tokenize.ENCODING
    for index, token in enumerate(tokens):
        if token.type in _SKIPPED:
            continue
        if (
            previous in _STATEMENT_START
            and token.type == tokenize.NAME
            and token.string == "block"
            and index + 1 < len(tokens)
            and tokens[index + 1].type in _STRING_STARTS
        ):
            end = _name_end(tokens, index + 1)
            if end is not None:
                yield token, tokens[index + 1].start, end
        previous = token.type


def _name_end(tokens: list[tokenize.TokenInfo], start: int) -> Position | None:
    """End position of the name expression: just before `:`, `as` or `,` at bracket depth 0.

    A comma ends it too: `block "A", open(f) as fh:` is `with block("A"), open(f) as fh:`.
    """
    depth = 0
    for index in range(start, len(tokens)):
        token = tokens[index]
        if token.type == tokenize.OP and token.string in _OPEN:
            depth += 1
        elif token.type == tokenize.OP and token.string in _CLOSE:
            depth -= 1
        elif depth == 0 and (
            (token.type == tokenize.OP and token.string in (":", ","))
            or (token.type == tokenize.NAME and token.string == "as")
        ):
            return tokens[index - 1].end
        elif token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            return None
    return None
