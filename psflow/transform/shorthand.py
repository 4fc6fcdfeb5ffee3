"""The `block "Name":` shorthand, expanded to `with block("Name"):` before parsing.

Works on tokens, so strings, comments and `block` used as an ordinary name are
never touched, and no line moves: every edit stays on the line it starts on.
"""

from __future__ import annotations

import io
import tokenize

from psflow.transform.locations import Shift

_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
_SKIPPED = {tokenize.NL, tokenize.COMMENT}
_STRING_STARTS = {tokenize.STRING} | (
    {tokenize.FSTRING_START} if hasattr(tokenize, "FSTRING_START") else set()
)
_OPEN, _CLOSE = "([{", ")]}"


def expand_shorthand(source: str) -> tuple[str, list[Shift]]:
    """Return `source` with every shorthand block header in plain Python, and the column shifts.

    Source that does not tokenize is returned unchanged: the parser then reports
    the syntax error at its true position.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source, []
    headers = list(_find_headers(tokens))
    if not headers:
        return source, []
    lines = source.splitlines(keepends=True)
    shifts = []
    # Edit from the end so earlier positions stay valid.
    for keyword, name_start, name_end in reversed(headers):
        (kline, kcol), (sline, scol), (eline, ecol) = keyword.start, name_start, name_end
        end_text = lines[eline - 1]
        lines[eline - 1] = end_text[:ecol] + ")" + end_text[ecol:]
        text = lines[kline - 1]
        between = text[keyword.end[1]:scol] if sline == kline else None
        if between is not None and between.strip() == "":
            lines[kline - 1] = text[:kcol] + "with block(" + text[scol:]
            old_bytes = len(text[:scol].encode())
            delta = len("with block(") - len(text[kcol:scol].encode())
            shifts.append(Shift(kline, old_bytes + delta, delta))
        else:  # name starts on a later line: only the keyword line changes
            lines[kline - 1] = text[:kcol] + "with block(" + text[keyword.end[1]:]
    return "".join(lines), shifts


def _find_headers(tokens: list[tokenize.TokenInfo]):
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


def _name_end(tokens: list[tokenize.TokenInfo], start: int) -> tuple[int, int] | None:
    """End position of the name expression: just before `:` or `as` at bracket depth 0."""
    depth = 0
    for index in range(start, len(tokens)):
        token = tokens[index]
        if token.type == tokenize.OP and token.string in _OPEN:
            depth += 1
        elif token.type == tokenize.OP and token.string in _CLOSE:
            depth -= 1
        elif depth == 0 and (
            (token.type == tokenize.OP and token.string == ":")
            or (token.type == tokenize.NAME and token.string == "as")
        ):
            return tokens[index - 1].end
        elif token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            return None
    return None
